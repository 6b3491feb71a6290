"""Issue 17's figures in one run: ampsm beside the floor of the same work, medians, ratios.

    .venv/bin/python bench/speed.py [--runs 10] [--lines 1000000] [--skip-batch] [--only git|list|...]
    .venv/bin/python bench/speed.py --only git --ampsm /work/main/.venv/bin/ampsm --ampsm .venv/bin/ampsm


Every figure is a ratio against a floor measured in the same run on the same machine (these
machines are noisy): `ampsm new` (no agent) vs a shell's `git worktree add`; `list --json` with
1,000 sessions vs a Python process that opens the DB and runs the same SELECT; `squash` and
`merge` vs the same git commands run by a shell; bash completion of a session id; stream-json
lines per second through `ampsm iterate` vs a plain Python reader of the same lines, and the
peak RSS; a batch of 200 items x 1 s at concurrency 8 vs the ideal. Bytecode is on
(PYTHONPYCACHEPREFIX to a temp dir, warmed once), as users run it; the machine's load is printed.
Under each wall-time ratio, the same medians in CPU time (user + system of the processes run),
which the machine's load moves much less.
`--ampsm` (repeatable) measures other installs in the same run: a before/after side by side.
Everything happens in a throw-away folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
AMPSM = str(Path(sys.executable).with_name("ampsm"))
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def sh(cmd: str, cwd: Path, env: dict[str, str]) -> None:
    proc = subprocess.run(["/bin/sh", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{cmd} in {cwd} failed: {proc.stdout[-300:]} {proc.stderr[-300:]}")


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return proc


class Timing(float):
    """Wall seconds, with the CPU seconds (user + system) of the children it waited for: on a
    machine shared by several engineers the wall time swings with the load, the CPU time much less."""

    cpu: float


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(fn: Callable[[], object]) -> Timing:
    c0 = _children_cpu()
    t0 = time.perf_counter()
    fn()
    t = Timing(time.perf_counter() - t0)
    t.cpu = _children_cpu() - c0
    return t


def make_repo(path: Path, env: dict[str, str], files: int = 20) -> None:
    path.mkdir(parents=True)
    sh("git init -q -b main", path, env)
    for i in range(files):
        (path / f"f{i}.py").write_text(f"x = {i}\n")
    sh("git add -A && git commit -q -m init", path, env)


def line(label: str, ours: list[Timing], floor: list[Timing], limit: float) -> str:
    m, f = statistics.median(ours), statistics.median(floor)
    ratio = m / f if f else float("inf")
    verdict = "ok" if ratio <= limit else "OVER"
    mc, fc = statistics.median(t.cpu for t in ours), statistics.median(t.cpu for t in floor)
    return (
        f"{label:<34} ampsm {m * 1000:8.1f} ms   floor {f * 1000:7.1f} ms   "
        f"ratio {ratio:5.2f}x  (goal <= {limit:g}x: {verdict})\n"
        f"{'':<34}   cpu {mc * 1000:8.1f} ms     cpu {fc * 1000:7.1f} ms   "
        f"ratio {mc / fc if fc else float('inf'):5.2f}x"
    )


# ---------------------------------------------------------------- new, squash, merge


def bench_git_commands(work: Path, env: dict[str, str], runs: int) -> list[str]:
    repo = work / "repo-git"
    make_repo(repo, env)
    frepo = work / "repo-floor"  # the shell's twin, so that both merges are fast-forwards
    make_repo(frepo, env)
    new_t: list[Timing] = []
    new_floor: list[Timing] = []
    squash_t: list[Timing] = []
    squash_floor: list[Timing] = []
    merge_t: list[Timing] = []
    merge_floor: list[Timing] = []
    for i in range(runs):
        # new: ampsm vs `git worktree add -b`
        out: dict[str, str] = {}

        def new_session(i: int = i, out: dict[str, str] = out) -> None:
            proc = run(
                [
                    AMPSM,
                    "new",
                    "--repo",
                    str(repo),
                    "--name",
                    f"s{i}",
                    "--agent",
                    "command",
                    "--agent-cmd",
                    "true",
                    "--json",
                ],
                env,
            )
            out.update(json.loads(proc.stdout))

        new_t.append(timed(new_session))
        new_floor.append(
            timed(lambda i=i: sh(f"git worktree add -q -b floor/{i} ../wt-floor-{i} main", frepo, env))  # type: ignore[misc]
        )
        sid, wt = out["id"], Path(out["worktree_path"])
        # three iteration-like commits on each, then squash: ampsm vs reset --soft merge-base + commit
        for n in range(3):
            (wt / f"new{i}_{n}.py").write_text(f"y = {n}\n")
            sh(f"git add -A && git commit -q -m 'amp: step {n}'", wt, env)
            (repo.parent / f"wt-floor-{i}" / f"new{i}_{n}.py").write_text(f"y = {n}\n")
            sh(f"git add -A && git commit -q -m 'amp: step {n}'", repo.parent / f"wt-floor-{i}", env)
        squash_t.append(timed(lambda sid=sid: run([AMPSM, "squash", sid, "--message", "feat: squashed"], env)))  # type: ignore[misc]
        floor_wt = repo.parent / f"wt-floor-{i}"
        squash_floor.append(
            timed(
                lambda floor_wt=floor_wt: sh(  # type: ignore[misc]
                    "git reset -q --soft $(git merge-base HEAD main) && git commit -q -m 'feat: squashed'",
                    floor_wt,
                    env,
                )
            )
        )
        # merge: ampsm (fast-forward into main, worktree removed) vs the shell doing the same
        merge_t.append(timed(lambda sid=sid: run([AMPSM, "merge", sid], env)))  # type: ignore[misc]
        merge_floor.append(
            timed(
                lambda i=i: sh(  # type: ignore[misc]
                    f"git merge -q --ff-only floor/{i}"
                    f" && git worktree remove --force ../wt-floor-{i} && git branch -q -D floor/{i}",
                    frepo,
                    env,
                )
            )
        )
    return [
        line("new (no agent)", new_t, new_floor, 5),
        line("squash (3 commits)", squash_t, squash_floor, 4),
        line("merge (ff, worktree removed)", merge_t, merge_floor, 4),
    ]


# ---------------------------------------------------------------- list --json, completion


async def _seed_sessions(n: int, repo: Path) -> None:
    from ampsm_tui.engine.engine import Engine
    from ampsm_tui.engine.models import Session

    async with await Engine.open() as engine:
        for i in range(n):
            await engine.store.create_session(
                Session(name=f"session {i}", repo_path=str(repo), base_branch="main", branch=f"amp/s{i}/x")
            )


FLOOR_LIST = r"""
import json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.row_factory = sqlite3.Row
rows = conn.execute("SELECT * FROM sessions ORDER BY created_at DESC, rowid DESC").fetchall()
print(json.dumps([dict(r) for r in rows]))
"""


def bench_list(work: Path, env: dict[str, str], runs: int) -> list[str]:
    home = work / "home-list"
    lenv = {**env, "AMPSM_CONFIG_DIR": str(home)}
    repo = work / "repo-list"
    make_repo(repo, lenv, files=1)
    os.environ["AMPSM_CONFIG_DIR"] = str(home)
    asyncio.run(_seed_sessions(1000, repo))
    db = home / "sessions.db"
    run([AMPSM, "list", "--json"], lenv)  # warm
    ours = [timed(lambda: run([AMPSM, "list", "--json"], lenv)) for _ in range(runs)]
    floor = [timed(lambda: run([sys.executable, "-c", FLOOR_LIST, str(db)], lenv)) for _ in range(runs)]
    # bash completion of a session id: `ampsm status sess-<TAB>`
    # the completion script is sourced once (as from ~/.bashrc); what is timed is one <TAB>
    comp_file = work / "ampsm.bash"
    comp_file.write_text(run([AMPSM, "completion", "bash"], lenv).stdout)
    script = (
        f"source {comp_file}; PATH={Path(AMPSM).parent}:$PATH; "
        'COMP_WORDS=(ampsm status sess-); COMP_CWORD=2; _ampsm; echo "${#COMPREPLY[@]}"'
    )
    comp = [timed(lambda: run(["bash", "-c", script], lenv)) for _ in range(runs)]
    got = run(["bash", "-c", script], lenv).stdout.strip()
    return [
        line("list --json (1,000 sessions)", ours, floor, 3),
        f"{'bash completion of a session id':<34} median {statistics.median(comp) * 1000:8.1f} ms"
        f"   ({got} candidates; goal <= 100 ms: {'ok' if statistics.median(comp) <= 0.1 else 'OVER'})",
    ]


# ---------------------------------------------------------------- streaming


def _stream_lines(n: int, path: Path) -> None:
    """Amp stream-json: mostly assistant text with usage, a tool call and its result every 20 lines."""
    sid = "T-bench"
    with path.open("w") as fh:
        fh.write(json.dumps({"type": "system", "subtype": "init", "cwd": "/", "session_id": sid, "tools": []}) + "\n")
        usage = {
            "input_tokens": 12,
            "cache_creation_input_tokens": 3,
            "cache_read_input_tokens": 50,
            "output_tokens": 4,
        }
        for i in range(n - 2):
            if i % 20 == 18:
                content = [{"type": "tool_use", "id": f"toolu_{i}", "name": "Bash", "input": {"command": f"echo {i}"}}]
                msg = {"type": "assistant", "message": {"role": "assistant", "content": content, "usage": usage}}
            elif i % 20 == 19:
                content = [
                    {"type": "tool_result", "tool_use_id": f"toolu_{i - 1}", "content": str(i), "is_error": False}
                ]
                msg = {"type": "user", "message": {"role": "user", "content": content}}
            else:
                text = f"line {i}: the agent explains what it is doing in a sentence of ordinary length."
                msg = {
                    "type": "assistant",
                    "message": {"role": "assistant", "content": [{"type": "text", "text": text}], "usage": usage},
                }
            msg["session_id"] = sid
            fh.write(json.dumps(msg) + "\n")
        fh.write(json.dumps({"type": "result", "subtype": "success", "is_error": False, "result": "done"}) + "\n")


READER = r"""
import json, sys
n = 0
with open(sys.argv[1], "rb") as fh:
    for raw in fh:
        json.loads(raw)
        n += 1
print(n)
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_stream(work: Path, env: dict[str, str], lines: int) -> list[str]:
    data = work / "stream.jsonl"
    _stream_lines(lines, data)
    agent = work / "amp-cat"
    agent.write_text(f'#!/bin/sh\nif [ "$1" = "--version" ]; then echo "0.0.0"; exit 0; fi\ncat {data}\n')
    agent.chmod(0o755)
    home = work / "home-stream"
    senv = {**env, "AMPSM_CONFIG_DIR": str(home), "AMPSM_AMP_BIN": str(agent)}
    repo = work / "repo-stream"
    make_repo(repo, senv, files=1)
    out = run([AMPSM, "new", "--repo", str(repo), "--name", "stream", "--prompt", "go", "--json"], senv)
    sid = json.loads(out.stdout)["id"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run([AMPSM, "iterate", sid, "--prompt", "go"], env=senv, capture_output=True, text=True)
    ours = time.perf_counter() - t0
    ours_cpu = _children_cpu() - cpu0
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode not in (0, 16):
        raise SystemExit(f"iterate failed: {proc.stderr[-400:]}")
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    run([sys.executable, "-c", READER, str(data)], senv)
    plain = time.perf_counter() - t0
    plain_cpu = _children_cpu() - cpu0
    rss_note = "" if rss_mb > before / 1024 else " (peak of an earlier child; lower bound)"
    ours_rate, plain_rate = lines / ours, lines / plain
    return [
        f"{'stream-json through iterate':<34} {ours_rate:10,.0f} lines/s ({lines:,} lines in {ours:.1f} s; "
        f"goal >= 50,000: {'ok' if ours_rate >= 50_000 else 'UNDER'})",
        f"{'plain Python reader (json.loads)':<34} {plain_rate:10,.0f} lines/s   ratio {ours_rate / plain_rate:4.2f} "
        f"(goal >= 0.33: {'ok' if ours_rate / plain_rate >= 1 / 3 else 'UNDER'})",
        f"{'peak RSS of iterate':<34} {rss_mb:10.1f} MB{rss_note} (goal <= 150 MB: {'ok' if rss_mb <= 150 else 'OVER'})",
        # CPU seconds (user + sys, the agent's `cat` included) move far less with the load than wall time
        f"{'CPU seconds, iterate vs reader':<34} {ours_cpu:10.1f} s vs {plain_cpu:.1f} s   ratio {plain_cpu / ours_cpu:4.2f}",
    ]


# ---------------------------------------------------------------- batch


def bench_batch() -> list[str]:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "batch_throughput.py")], capture_output=True, text=True, check=False
    )
    return ["batch 200 x 1 s at concurrency 8 (bench/batch_throughput.py):"] + [
        "    " + ln for ln in proc.stdout.strip().splitlines()[-4:]
    ]


def main() -> None:
    global AMPSM
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument(
        "--only", choices=("git", "list", "stream", "batch"), action="append", help="a group of figures (repeatable)"
    )
    ap.add_argument(
        "--ampsm",
        metavar="PATH",
        action="append",
        help="an ampsm to measure (default: this venv's); repeat it for a before/after in one run, e.g. main's first",
    )
    args = ap.parse_args()
    pyc = Path(tempfile.mkdtemp(prefix="ampsm-pyc-"))
    os.environ.update({"PYTHONPYCACHEPREFIX": str(pyc)})
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    want = lambda name: not args.only or name in args.only  # noqa: E731
    try:
        for binary in args.ampsm or [AMPSM]:
            AMPSM = str(Path(binary).absolute())
            work = Path(tempfile.mkdtemp(prefix="ampsm-speed-"))
            env = {**os.environ, **GIT_ENV, "AMPSM_CONFIG_DIR": str(work / "home"), "PYTHONPYCACHEPREFIX": str(pyc)}
            try:
                for warm in (["list"], ["status"]):  # compile bytecode once (the engine too)
                    subprocess.run([AMPSM, *warm], env=env, capture_output=True)
                load = os.getloadavg()
                print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
                print(f"{AMPSM}: medians of {args.runs}; bytecode on ({pyc})")
                if want("git"):
                    for text in bench_git_commands(work, env, args.runs):
                        print(text)
                if want("list"):
                    for text in bench_list(work, env, args.runs):
                        print(text)
                if want("stream"):
                    for text in bench_stream(work, env, args.lines):
                        print(text)
                if want("batch") and not args.skip_batch:
                    for text in bench_batch():
                        print(text)
                load = os.getloadavg()
                print(f"load average after:  {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
            finally:
                shutil.rmtree(work, ignore_errors=True)
    finally:
        shutil.rmtree(pyc, ignore_errors=True)


if __name__ == "__main__":
    main()
