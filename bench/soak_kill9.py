"""kill -9 soak: random kill points over iterate, squash, rebase, merge and batch, then the documented
recovery, then the figures that must all be 0.

    .venv/bin/python bench/soak_kill9.py [--trials 120] [--seed 14] [--group] [--keep]

Each trial starts one real `ampsm` command on a throw-away repo (the agent is `--agent command`, a
shell script that appends a unique line to its session's own file and records the line in a ledger
outside the repo), waits a random 0.05-4 s and sends SIGKILL to the ampsm process (with `--group`,
to its whole process group: the git it is running dies too). The next command is the next trial.

Then the recovery the README documents ("After a crash"): any command reconciles (sessions left
`running` become `interrupted`, orphaned agents are stopped); `ampsm abort ID` for a rebase or merge
left in progress; `ampsm batch resume ID` for unfinished batches; `ampsm iterate ID` commits whatever
an agent left in a worktree. Then it counts:

- lost agent edits: ledger lines found nowhere (no commit on any ref, incl. refs/ampsm/archive/, no
  worktree file);
- sessions stuck running (in the DB after a fresh open);
- orphaned agents (processes of the soak's agent still alive, zombies excepted);
- dirty user checkouts (the main checkout with changes, a merge/rebase in progress or an index.lock).

Not a test: it takes minutes and its figures go in the notes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

OPS = ("iterate", "iterate", "squash", "rebase", "merge", "batch")


def sh(*args: str, cwd: Path, check: bool = True) -> str:
    res = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise RuntimeError(f"{args}: {res.stderr}")
    return res.stdout.strip()


class Soak:
    def __init__(self, root: Path, seed: int, group: bool) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.group = group
        self.repo = root / "repo"
        self.ledger = root / "ledger.txt"
        self.tag = f"SOAKAGENT{os.getpid()}"
        self.env = dict(os.environ)
        self.env.update(
            AMPSM_CONFIG_DIR=str(root / "home"),
            GIT_AUTHOR_NAME="soak",
            GIT_AUTHOR_EMAIL="soak@example.com",
            GIT_COMMITTER_NAME="soak",
            GIT_COMMITTER_EMAIL="soak@example.com",
        )
        self.env.pop("AMPSM_DB_PATH", None)
        # edit first, ledger second: a kill between them loses nothing the ledger knows of
        self.agent = (
            f'sh -c \'tag={self.tag}; f=work-$(basename "$PWD").txt; n=$(date +%s%N)-$$;'
            f' echo "edit $n" >> "$f"; echo "$n" >> {self.ledger};'
            " sleep 0.$(( $(date +%N) % 9 + 1 ))'"
        )
        self.outcomes: Counter[str] = Counter()

    def ampsm(self, *args: str, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ampsm_tui", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.root,
            timeout=timeout,
            input=input,
        )

    def setup(self) -> None:
        self.repo.mkdir(parents=True)
        sh("git", "init", "-q", "-b", "main", cwd=self.repo)
        (self.repo / "README.md").write_text("# soak\n")
        sh("git", "add", "-A", cwd=self.repo)
        sh("git", "-c", "commit.gpgsign=false", "commit", "-qm", "initial", cwd=self.repo)
        self.ledger.touch()
        (self.root / "batch.yaml").write_text(
            f"name: soak\nrepos:\n  - path: {self.repo}\nitems:\n"
            + "".join(
                f"  - name: item {i}\n    prompt: edit {i}\n    agent: command\n    agentCmd: {json.dumps(self.agent)}\n"
                for i in range(2)
            )
            + "concurrency: 2\n"
        )

    def sessions(self) -> list[dict[str, str]]:
        res = self.ampsm("list", "--json")
        if res.returncode != 0:
            return []
        return [s for s in json.loads(res.stdout) if s["status"] not in ("done", "archived")]

    def new_session(self) -> str | None:
        name = f"s{self.rng.randrange(10**6)}"
        res = self.ampsm(
            "new", "--repo", str(self.repo), "--name", name, "--prompt", "edit", "--agent", "command",
            "--agent-cmd", self.agent, "--json",
        )  # fmt: skip
        return json.loads(res.stdout)["id"] if res.returncode == 0 else None

    def trial(self, n: int) -> None:
        op = self.rng.choice(OPS)
        live = self.sessions()
        if op != "batch" and (len(live) < 3 or not live):
            sid = self.new_session()
            if sid is None:
                self.outcomes["new failed"] += 1
                return
        else:
            sid = self.rng.choice(live)["id"] if live else None
        if op == "iterate":
            args = ["iterate", sid or ""]
        elif op == "squash":
            args = ["squash", sid or "", "-m", f"soak squash {n}"]
        elif op == "rebase":
            args = ["rebase", sid or ""]
        elif op == "merge":
            args = ["merge", sid or ""]
        else:
            args = ["batch", "start", "--file", str(self.root / "batch.yaml")]
        proc = subprocess.Popen(
            [sys.executable, "-m", "ampsm_tui", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.env,
            cwd=self.root,
            start_new_session=self.group,
        )
        delay = self.rng.uniform(0.05, 4.0)
        try:
            proc.wait(delay)
            self.outcomes[f"{op}: finished before the kill"] += 1
        except subprocess.TimeoutExpired:
            if self.group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
            self.outcomes[f"{op}: killed"] += 1

    # -- the documented recovery ------------------------------------------------------------------

    def recover(self) -> None:
        time.sleep(1.0)  # let orphaned agents of the last trial finish their edit
        res = self.ampsm("list", "--json")  # any command reconciles
        assert res.returncode == 0, res.stderr
        for s in json.loads(res.stdout):
            if s["status"] in ("done", "archived"):
                continue
            wt = Path(s["worktree_path"])
            if wt.is_dir() and _in_operation(wt):
                out = self.ampsm("abort", s["id"])
                self.outcomes[f"recovery abort exit {out.returncode}"] += 1
        batches = self.ampsm("batch", "list", "--json")
        if batches.returncode == 0:
            for b in json.loads(batches.stdout):
                if b.get("status") not in ("completed", "succeeded", "failed", "aborted", "done"):
                    out = self.ampsm("batch", "resume", b["id"], timeout=600)
                    self.outcomes[f"recovery batch resume exit {out.returncode}"] += 1
        for s in self.sessions():  # commit whatever an agent left behind
            wt = Path(s["worktree_path"])
            if wt.is_dir() and sh("git", "status", "--porcelain", cwd=wt, check=False):
                out = self.ampsm("iterate", s["id"], "--prompt", "recovery")
                self.outcomes[f"recovery iterate exit {out.returncode}"] += 1

    # -- the figures ----------------------------------------------------------------------------------

    def figures(self) -> dict[str, int]:
        time.sleep(0.5)
        history = sh("git", "log", "--all", "-p", "--format=%H", cwd=self.repo)
        stash = sh("git", "stash", "list", "-p", cwd=self.repo, check=False)
        files = ""
        for wt in (self.repo / ".worktrees").glob("*") if (self.repo / ".worktrees").exists() else []:
            for f in wt.glob("work-*.txt"):
                files += f.read_text(errors="replace")
        found = history + stash + files
        ledger = [line for line in self.ledger.read_text().splitlines() if line.strip()]
        lost = [m for m in ledger if f"edit {m}" not in found]
        res = self.ampsm("list", "--status", "running", "--json")
        running = len(json.loads(res.stdout)) if res.returncode == 0 else -1
        orphans = _live_processes(self.tag)
        dirty = 0
        if sh("git", "status", "--porcelain", "--untracked-files=no", cwd=self.repo):
            dirty += 1
        if _in_operation(self.repo) or (self.repo / ".git" / "index.lock").exists():
            dirty += 1
        return {
            "agent edits (ledger)": len(ledger),
            "lost agent edits": len(lost),
            "sessions stuck running": running,
            "orphaned agents": len(orphans),
            "dirty user checkouts": dirty,
        }


def _in_operation(path: Path) -> bool:
    res = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--git-path", "MERGE_HEAD", "--git-path", "rebase-merge",
         "--git-path", "rebase-apply"],
        cwd=path, capture_output=True, text=True,
    )  # fmt: skip
    return res.returncode == 0 and any(Path(p).exists() for p in res.stdout.split())


def _live_processes(tag: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if tag in cmd and stat[stat.rfind(")") + 2] not in "ZX":
            pids.append(int(entry.name))
    return pids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=120)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--group", action="store_true", help="kill ampsm's whole process group (its git too)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ampsm-soak-"))
    soak = Soak(root, args.seed, args.group)
    t0 = time.monotonic()
    try:
        soak.setup()
        for n in range(args.trials):
            soak.trial(n)
            if (n + 1) % 20 == 0:
                print(f"  {n + 1}/{args.trials} trials, {time.monotonic() - t0:.0f} s", flush=True)
        soak.recover()
        figures = soak.figures()
    finally:
        for pid in _live_processes(soak.tag):  # never leave the machine with our agents on it
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(
        f"{args.trials} trials in {time.monotonic() - t0:.0f} s (seed {args.seed}, kill {'group' if args.group else 'pid'})"
    )
    for key, count in sorted(soak.outcomes.items()):
        print(f"  {key}: {count}")
    for key, value in figures.items():
        print(f"{key}: {value}")
    if args.keep:
        print(f"kept: {root}")
    bad = sum(v for k, v in figures.items() if k != "agent edits (ledger)")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
