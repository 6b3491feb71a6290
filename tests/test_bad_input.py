"""Hostile and broken input through the real CLI: one clear line, the right code, a non-zero exit,
never a traceback — and nothing half-done left behind (no DB row, no dirty main, no orphan worktree)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import git, run_cli

CMD = ("--agent", "command", "--agent-cmd", "true")


@dataclass
class World:
    repo: Path
    cfg: Path
    tmp: Path
    session: str  # a healthy session on `repo`

    @property
    def db(self) -> Path:
        return self.cfg / "sessions.db"


@pytest.fixture
def world(repo: Path, isolated_env: Path, tmp_path: Path) -> World:
    out = run_cli("new", "--repo", str(repo), "--name", "healthy", *CMD, "--json")
    assert out.returncode == 0, out.stderr
    return World(repo, isolated_env, tmp_path, json.loads(out.stdout)["id"])


def _rows(db: Path, table: str) -> int:
    if not db.is_file():
        return 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _snapshot(w: World) -> dict[str, object]:
    return {
        "sessions": _rows(w.db, "sessions"),
        "iterations": _rows(w.db, "iterations"),
        "batches": _rows(w.db, "batch_runs"),
        "worktrees": git(w.repo, "worktree", "list", "--porcelain"),
        "branches": git(w.repo, "branch", "--list"),
        "head": git(w.repo, "rev-parse", "HEAD"),
        "status": git(w.repo, "status", "--porcelain"),
    }


# -- the cases: each builds its command (and env) in a prepared world ---------------------------


def _non_repo(w: World) -> list[str]:
    (w.tmp / "plain").mkdir()
    return ["new", "--repo", str(w.tmp / "plain"), "--name", "x", *CMD]


def _missing_dir(w: World) -> list[str]:
    return ["new", "--repo", str(w.tmp / "nowhere"), "--name", "x", *CMD]


def _missing_base(w: World) -> list[str]:
    return ["new", "--repo", str(w.repo), "--name", "x", "--base", "no-such-branch", *CMD]


def _mid_merge(w: World) -> list[str]:
    (w.repo / "f.txt").write_text("base\n")
    git(w.repo, "add", "f.txt")
    git(w.repo, "commit", "-q", "-m", "f")
    git(w.repo, "checkout", "-q", "-b", "other")
    (w.repo / "f.txt").write_text("other\n")
    git(w.repo, "commit", "-q", "-am", "other")
    git(w.repo, "checkout", "-q", "main")
    (w.repo / "f.txt").write_text("main\n")
    git(w.repo, "commit", "-q", "-am", "main")
    subprocess.run(["git", "merge", "other"], cwd=w.repo, capture_output=True)  # conflicts: stays mid-merge
    return ["new", "--repo", str(w.repo), "--name", "x", *CMD]


def _deleted_worktree(sub: str) -> Callable[[World], list[str]]:
    def build(w: World) -> list[str]:
        wt = Path(json.loads(run_cli("status", w.session, "--json").stdout)["session"]["worktree_path"])
        subprocess.run(["rm", "-rf", str(wt)], check=True)
        return [sub, w.session]

    return build


def _db_is_directory(w: World) -> list[str]:
    (w.tmp / "db-dir").mkdir()
    return ["list", "--db", str(w.tmp / "db-dir")]


def _db_corrupt(w: World) -> list[str]:
    (w.tmp / "corrupt.db").write_bytes(b"this is not a database at all" * 200)
    return ["list", "--db", str(w.tmp / "corrupt.db")]


def _db_unreachable(w: World) -> list[str]:
    (w.tmp / "a-file").write_text("x")
    return ["list", "--db", str(w.tmp / "a-file" / "sessions.db")]


def _config(text: bytes) -> Callable[[World], list[str]]:
    def build(w: World) -> list[str]:
        (w.cfg / "config.yaml").write_bytes(text)
        return ["list"]

    return build


def _config_dir_is_file(w: World) -> list[str]:
    (w.tmp / "cfg-file").write_text("x")
    return ["list", "--config-dir", str(w.tmp / "cfg-file")]


def _empty_batch(w: World) -> list[str]:
    (w.tmp / "empty.yaml").write_text("")
    return ["batch", "start", "--file", str(w.tmp / "empty.yaml")]


def _binary_batch(w: World) -> list[str]:
    (w.tmp / "bin.yaml").write_bytes(b"\xff\xfe\x00name: x\n")
    return ["batch", "start", "--file", str(w.tmp / "bin.yaml")]


def _ambiguous(w: World) -> list[str]:
    assert run_cli("new", "--repo", str(w.repo), "--name", "second", *CMD).returncode == 0
    return ["iterate", "sess-"]


def _merge_dirty_main(w: World) -> list[str]:
    (w.repo / "README.md").write_text("edited by the user, not committed\n")
    return ["merge", w.session]


def _archived(w: World) -> list[str]:
    assert run_cli("archive", w.session, "--yes").returncode == 0
    return ["iterate", w.session]


def _export_unwritable(w: World) -> list[str]:
    (w.tmp / "a-file").write_text("x")
    return ["export", "--format", "csv", "--out", str(w.tmp / "a-file" / "out")]


def _static(*argv: str) -> Callable[[World], list[str]]:
    return lambda w: list(argv)


# (case id, builder, expected first token of the message, expected exit status)
CASES: list[tuple[str, Callable[[World], list[str]], str, int]] = [
    ("new-non-repo", _non_repo, "E001:", 11),
    ("new-missing-dir", _missing_dir, "E001:", 11),
    ("new-missing-base", _missing_base, "E001:", 11),
    ("new-repo-mid-merge", _mid_merge, "E001:", 11),
    ("new-name-newline", lambda w: ["new", "--repo", str(w.repo), "--name", "a\nb", *CMD], "error:", 2),
    ("new-name-blank", lambda w: ["new", "--repo", str(w.repo), "--name", "  ", *CMD], "error:", 2),
    ("new-name-dash", lambda w: ["new", "--repo", str(w.repo), "--name", "-d", *CMD], "usage:", 2),
    (
        "new-command-without-cmd",
        lambda w: ["new", "--repo", str(w.repo), "--name", "x", "--agent", "command"],
        "error:",
        2,
    ),
    ("iterate-unknown-id", _static("iterate", "sess-doesnotexist"), "error:", 2),
    ("iterate-ambiguous-prefix", _ambiguous, "error:", 2),
    ("iterate-archived", _archived, "error:", 2),
    ("status-unknown-id", _static("status", "nope"), "error:", 2),
    ("merge-unknown-id", _static("merge", "../../etc"), "error:", 2),
    ("merge-dirty-main", _merge_dirty_main, "E001:", 11),
    ("iterate-deleted-worktree", _deleted_worktree("iterate"), "E004:", 14),
    ("diff-deleted-worktree", _deleted_worktree("diff"), "E004:", 14),
    ("squash-deleted-worktree", _deleted_worktree("squash"), "E004:", 14),
    ("rebase-deleted-worktree", _deleted_worktree("rebase"), "E004:", 14),
    ("db-is-directory", _db_is_directory, "E003:", 13),
    ("db-corrupt", _db_corrupt, "E003:", 13),
    ("db-unreachable", _db_unreachable, "E003:", 13),
    ("config-wrong-key", _config(b"git:\n  defualt_base_branch: main\n"), "error: config:", 2),
    ("config-bad-yaml", _config(b"git: [\n"), "error: config:", 2),
    ("config-not-utf8", _config(b"\xff\xfe git: x\n"), "error: config:", 2),
    ("config-dir-is-file", _config_dir_is_file, "error: config:", 2),
    ("batch-empty-file", _empty_batch, "error:", 2),
    ("batch-not-utf8", _binary_batch, "error:", 2),
    ("batch-status-unknown", _static("batch", "status", "nope"), "error:", 2),
    ("metrics-unknown", _static("metrics", "nope"), "error:", 2),
    ("export-unwritable", _export_unwritable, "error:", 1),
]


@pytest.mark.parametrize(("case", "build", "prefix", "status"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_line(
    world: World, case: str, build: Callable[[World], list[str]], prefix: str, status: int
) -> None:
    argv = build(world)
    env: dict[str, str] = {}
    if "--db" in argv:  # DB and config-dir cases go through the environment, like a user's shell
        i = argv.index("--db")
        env["AMPSM_DB_PATH"] = argv[i + 1]
        del argv[i : i + 2]
    if "--config-dir" in argv:
        i = argv.index("--config-dir")
        env["AMPSM_CONFIG_DIR"] = argv[i + 1]
        del argv[i : i + 2]
    before = _snapshot(world)
    out = run_cli(*argv, env=env, cwd=world.tmp)
    assert out.returncode == status, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    if prefix == "usage:":  # argparse: the usage, then one `ampsm ...: error:` line
        assert lines[0].startswith("usage:") and ": error:" in lines[-1]
    else:  # one error line (details such as the dirty paths may follow it, never another error)
        assert lines[0].startswith(prefix), out.stderr
        assert sum(1 for line in lines if line.startswith(("E00", "error"))) == 1, out.stderr
    after = _snapshot(world)
    if case in ("new-repo-mid-merge", "merge-dirty-main"):
        # the user's own state is theirs to finish: ampsm added nothing and removed nothing
        for key in ("sessions", "iterations", "worktrees", "branches", "head"):
            assert after[key] == before[key], key
    else:
        for key in ("sessions", "iterations", "batches", "branches", "head", "status"):
            assert after[key] == before[key], key
        if "deleted-worktree" not in case:  # (git still lists the one deleted by hand until a prune)
            assert after["worktrees"] == before["worktrees"]


# -- hostile input that is accepted must be made safe -------------------------------------------


def test_path_like_name_stays_inside_the_worktrees_dir(world: World) -> None:
    out = run_cli("new", "--repo", str(world.repo), "--name", "../../etc", *CMD, "--json")
    assert out.returncode == 0, out.stderr
    s = json.loads(out.stdout)
    wt = Path(s["worktree_path"]).resolve()
    assert wt.parent == (world.repo / ".worktrees").resolve()
    assert ".." not in s["branch"] and s["branch"].startswith("amp/")
    subprocess.run(["git", "check-ref-format", f"refs/heads/{s['branch']}"], check=True)
    assert git(world.repo, "status", "--porcelain") == ""


def test_ten_kilobyte_prompt_is_stored_whole(world: World) -> None:
    prompt = "refactor " + "x" * 10_000
    out = run_cli("new", "--repo", str(world.repo), "--name", "big", "--prompt", prompt, *CMD, "--run", "--json")
    assert out.returncode == 0, out.stderr
    sid = json.JSONDecoder().raw_decode(out.stdout)[0]["id"]
    with sqlite3.connect(world.db) as conn:
        stored = conn.execute("SELECT prompt FROM sessions WHERE id = ?", (sid,)).fetchone()[0]
        it_prompt = conn.execute("SELECT prompt FROM iterations WHERE session_id = ?", (sid,)).fetchone()[0]
    assert stored == prompt and it_prompt == prompt


def test_non_utf8_bytes_in_argv_are_replaced_not_a_crash(world: World) -> None:
    import os

    out = subprocess.run(
        [
            sys.executable.encode(),
            b"-m",
            b"ampsm_tui",
            b"new",
            b"--repo",
            os.fsencode(world.repo),
            b"--name",
            b"caf\xe9",
            b"--prompt",
            b"fix \xff\xfe this",
            *(a.encode() for a in CMD),
            b"--run",
            b"--json",
        ],
        capture_output=True,
        env=dict(os.environ),
    )
    assert out.returncode == 0, out.stderr
    assert b"Traceback" not in out.stderr
    with sqlite3.connect(world.db) as conn:
        name, prompt = conn.execute("SELECT name, prompt FROM sessions WHERE name LIKE 'caf%'").fetchone()
        (it_prompt,) = conn.execute("SELECT prompt FROM iterations ORDER BY id DESC LIMIT 1").fetchone()
    assert name == "caf\ufffd" and prompt == "fix \ufffd\ufffd this" and it_prompt == prompt
