"""Orphan detection and clean-environment, engine and CLI, on real repositories and a real Store."""

from __future__ import annotations

import json
from pathlib import Path

from ampsm_tui.engine.config import load_config
from ampsm_tui.engine.git import create_worktree
from ampsm_tui.engine.git.cleanup import clean, find_orphans
from ampsm_tui.engine.git.commits import commit_iteration
from ampsm_tui.engine.models import Session, SessionStatus
from ampsm_tui.engine.store import Store
from tests.conftest import run_cli
from tests.git_helpers import git, state, write


async def _scene(repo: Path) -> dict[str, Path | str]:
    """Live, done, archived and row-less sessions, a loose directory and two bare amp/ branches."""
    live = await create_worktree(repo, "sess-live", "live", "main")
    write(Path(live.path) / "wip.txt", "live work\n")
    done = await create_worktree(repo, "sess-done", "done", "main")
    archived = await create_worktree(repo, "sess-arch", "archived", "main")
    write(Path(archived.path) / "unmerged.txt", "keep me\n")
    await commit_iteration(Path(archived.path), "unmerged work", session_id="sess-arch", iteration=1)
    norow = await create_worktree(repo, "sess-norow", "no row", "main")
    write(Path(norow.path) / "big.bin", "x" * 50_000)
    loose = repo / ".worktrees" / "leftover"
    write(loose / "notes.txt", "left by a crash\n")
    kept_branch = await create_worktree(repo, "sess-idle", "idle no worktree", "main")
    git(repo, "worktree", "remove", "--force", str(Path(kept_branch.path)))  # row is alive: its branch stays
    stale = await create_worktree(repo, "sess-gone", "gone", "main")
    write(Path(stale.path) / "s.txt", "stale but unmerged\n")
    await commit_iteration(Path(stale.path), "stale", session_id="sess-gone", iteration=1)
    git(repo, "worktree", "remove", "--force", str(Path(stale.path)))
    git(repo, "branch", "feature")  # the user's own: never touched
    store = Store.from_config(load_config())
    await store.open()
    try:
        for sid, status in (
            ("sess-live", SessionStatus.IDLE),
            ("sess-done", SessionStatus.DONE),
            ("sess-arch", SessionStatus.ARCHIVED),
            ("sess-idle", SessionStatus.AWAITING_INPUT),
        ):
            await store.create_session(
                Session(id=sid, name=sid, repo_path=str(repo), base_branch="main", status=status)
            )
    finally:
        await store.close()
    return {
        "live": Path(live.path),
        "done": Path(done.path),
        "arch": Path(archived.path),
        "norow": Path(norow.path),
        "loose": loose,
        "idle_branch": kept_branch.branch,
        "stale_branch": stale.branch,
    }


async def test_find_orphans_reports_kind_reason_and_size(repo: Path) -> None:
    scene = await _scene(repo)
    known = {"sess-live": "idle", "sess-done": "done", "sess-arch": "archived", "sess-idle": "awaiting-input"}
    orphans = await find_orphans(repo, known)
    by_key = {str(o.path or o.branch): o for o in orphans}
    assert set(by_key) == {
        str(scene["done"]),
        str(scene["arch"]),
        str(scene["norow"]),
        str(scene["loose"]),
        str(scene["stale_branch"]),
    }
    assert by_key[str(scene["done"])].reason == "session is done" and not by_key[str(scene["done"])].unmerged
    assert by_key[str(scene["arch"])].unmerged
    assert by_key[str(scene["norow"])].reason == "no session row"
    assert by_key[str(scene["norow"])].size_bytes >= 50_000
    assert by_key[str(scene["loose"])].kind == "directory"
    assert by_key[str(scene["stale_branch"])].kind == "branch" and by_key[str(scene["stale_branch"])].unmerged
    safe = await clean(repo, orphans, dry_run=False)  # by default only what is provably merged or empty
    assert not safe.errors and [o.path for o in safe.removed] == [scene["done"]]
    assert {str(o.path or o.branch) for o in safe.skipped} == set(by_key) - {str(scene["done"])}
    assert safe.reclaimed_bytes > 0 and not safe.archived
    orphans = await find_orphans(repo, known)
    report = await clean(repo, orphans, dry_run=False, include_unmerged=True)
    assert not report.errors and len(report.removed) == 4
    assert {ref.rsplit("/", 1)[0] for ref in report.archived.values()} == {
        "refs/ampsm/archive/sess-arch",
        "refs/ampsm/archive/sess-norow",
        "refs/ampsm/archive/leftover",
        "refs/ampsm/archive/sess-gone",
    }
    leftover = next(r for r in report.archived.values() if "/leftover/" in r)
    assert git(repo, "show", f"{leftover}:notes.txt") == "left by a crash"
    assert await find_orphans(repo, known) == []


async def test_clean_environment_cli(repo: Path) -> None:
    scene = await _scene(repo)
    before = state(repo)
    dirs_before = sorted(p.name for p in (repo / ".worktrees").iterdir())
    dry = run_cli("clean-environment", "--repo", str(repo), "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    data = json.loads(dry.stdout)
    listed = {o["path"] or o["branch"] for o in data["orphans"]}
    assert listed == {
        str(scene["done"]),
        str(scene["arch"]),
        str(scene["norow"]),
        str(scene["loose"]),
        str(scene["stale_branch"]),
    }
    assert state(repo) == before  # dry run: nothing changed
    assert sorted(p.name for p in (repo / ".worktrees").iterdir()) == dirs_before
    text = run_cli("clean-environment", "--repo", str(repo), "--dry-run")
    assert text.returncode == 0 and "would remove 1 of 5" in text.stdout and "would reclaim" in text.stdout
    refused = run_cli("clean-environment", "--repo", str(repo))  # ui.confirm_destructive, no terminal
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert sorted(p.name for p in (repo / ".worktrees").iterdir()) == dirs_before
    safe = run_cli("clean-environment", "--repo", str(repo), "--yes")  # only what is provably merged or empty
    assert safe.returncode == 0, safe.stderr
    assert "removed 1 of 5; reclaimed" in safe.stdout and "--include-unmerged" in safe.stdout
    assert not Path(scene["done"]).exists() and Path(scene["arch"]).exists() and Path(scene["loose"]).exists()
    assert git(repo, "for-each-ref", "refs/ampsm/") == ""
    real = run_cli("clean-environment", "--repo", str(repo), "--yes", "--include-unmerged")
    assert real.returncode == 0, real.stderr
    assert "sess-arch" in real.stdout and "refs/ampsm/archive/sess-arch/" in real.stdout
    assert sorted(p.name for p in (repo / ".worktrees").iterdir()) == ["sess-live"]
    assert (Path(scene["live"]) / "wip.txt").read_text() == "live work\n"
    branches = git(repo, "branch", "--format=%(refname:short)").splitlines()
    assert str(scene["idle_branch"]) in branches and "feature" in branches and "main" in branches
    assert str(scene["stale_branch"]) not in branches
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 2
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "fsck", "--no-dangling") == ""
    again = json.loads(run_cli("clean-environment", "--repo", str(repo), "--json").stdout)
    assert again["orphans"] == []


def test_test_git_leaves_repo_untouched(repo: Path, tmp_path: Path) -> None:
    write(repo / "README.md", "dirty on purpose\n")
    (tmp_path / "tmp").mkdir()
    before = state(repo)
    out = run_cli("test-git", "--repo", str(repo), "--json", env={"TMPDIR": str(tmp_path / "tmp")})
    assert out.returncode == 0, out.stdout + out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] is True
    assert [s["name"] for s in data["steps"]] == [
        "clone",
        "create worktree",
        "commit iterations",
        "diff",
        "squash",
        "rebase",
        "merge",
        "clean up",
    ]
    assert all(s["ok"] for s in data["steps"])
    assert state(repo) == before
    assert list((tmp_path / "tmp").iterdir()) == []  # the clone is gone


def test_test_git_refuses_a_non_repository(tmp_path: Path) -> None:
    out = run_cli("test-git", "--repo", str(tmp_path))
    assert out.returncode != 0 and "E001" in out.stderr
