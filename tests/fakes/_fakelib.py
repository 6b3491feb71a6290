"""Shared engine of the fake `amp`, `claude` and `codex` executables (see README.md here).

Each fake parses its real CLI's flags, makes real file edits in its cwd, keeps thread state outside
the worktree's tracked files, and prints the same stream-JSON line shapes as the real agent. Modes
(env FAKE_AGENT_MODE, or `[fake:MODE]` in the prompt) make it misbehave on purpose.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

MODES = ("normal", "hang", "crash", "garbage", "fail", "fail-once", "secret", "fix-on-second-turn")
FAKE_SECRET = "sk-ant-FAKEKEY0123456789abcdef"
BUGGY_CALC = "def add(a, b):\n    return a - b\n"
FIXED_CALC = "def add(a, b):\n    return a + b\n"

_MARK = re.compile(r"\[fake:([a-z-]+)(?:=([^\]]*))?\]")


class Usage(Exception):
    """A flag error: printed to stderr with exit status 2, like the real CLIs."""


# --- state -------------------------------------------------------------------------------------------


def state_dir() -> Path:
    """$FAKE_AGENT_STATE, else the cwd's git dir (never a tracked file), else a temp dir."""
    env = os.environ.get("FAKE_AGENT_STATE")
    if env:
        path = Path(env)
    else:
        try:
            out = subprocess.run(
                ["git", "rev-parse", "--absolute-git-dir"], capture_output=True, text=True, timeout=10, check=True
            )
            path = Path(out.stdout.strip()) / "fake-agent-state"
        except (OSError, subprocess.SubprocessError):
            path = Path(tempfile.gettempdir()) / "fake-agent-state"
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_thread(tid: str) -> dict[str, Any] | None:
    path = state_dir() / f"thread-{tid}.json"
    return json.loads(path.read_text()) if path.exists() else None


def save_thread(tid: str, data: dict[str, Any]) -> None:
    (state_dir() / f"thread-{tid}.json").write_text(json.dumps(data))


# --- the turn ---------------------------------------------------------------------------------------------


class Turn:
    """What this invocation does, independent of the output format."""

    def __init__(self, agent: str, prompt: str, thread_id: str | None, new_thread_prefix: str) -> None:
        self.agent = agent
        self.prompt = prompt
        self.marks = {m.group(1): (m.group(2) or "") for m in _MARK.finditer(prompt)}
        self.delay = float(os.environ.get("FAKE_AGENT_DELAY") or 0)
        self.created = False
        self.continued = thread_id is not None
        if thread_id is not None:
            state = load_thread(thread_id)
            if state is None:
                raise LookupError(f"thread {thread_id} not found")
            self.thread_id = thread_id
            self.state = state
        else:
            self.thread_id = new_thread_prefix + str(uuid.uuid4())
            self.state = {"agent": agent, "turns": 0, "prompts": []}
        self.number = int(self.state["turns"]) + 1
        # env, else a prompt marker, else the mode this thread was started in (fix-on-second-turn
        # is sticky: the follow-up prompt is the failing test log, which carries no marker)
        marked = next((m for m in self.marks if m in MODES), None)
        self.mode = os.environ.get("FAKE_AGENT_MODE") or marked or self.state.get("sticky_mode") or "normal"
        if self.mode not in MODES:
            raise Usage(f"unknown FAKE_AGENT_MODE {self.mode!r}")
        if self.mode == "fix-on-second-turn":
            self.state["sticky_mode"] = self.mode
        self.error_kind = os.environ.get("FAKE_AGENT_ERROR") or self.marks.get("fail") or ""
        if self.mode == "fail-once":
            counter = state_dir() / "fail-once-count"
            seen = int(counter.read_text()) if counter.exists() else 0
            counter.write_text(str(seen + 1))
            self.mode = "fail" if seen == 0 else "normal"
            self.error_kind = self.error_kind or "500"

    # side effects ----------------------------------------------------------------------------------------
    def log_argv(self, argv: list[str]) -> None:
        target = os.environ.get("FAKE_AGENT_LOG") or self.marks.get("log")
        if target:
            with open(target, "a", encoding="utf-8") as fh:
                record = {"agent": self.agent, "argv": argv, "cwd": os.getcwd(), "thread_id": self.thread_id}
                record.update({"turn": self.number, "continued": self.continued})
                fh.write(json.dumps(record) + "\n")

    def save(self) -> None:
        self.state["turns"] = self.number
        self.state["prompts"].append(self.prompt)
        save_thread(self.thread_id, self.state)

    def edit(self) -> tuple[str, str]:
        """Make this turn's real file edit; returns (the shell command it stands for, its output)."""
        if self.mode == "fix-on-second-turn":
            content = BUGGY_CALC if self.number == 1 else FIXED_CALC
            Path("calc.py").write_text(content)
            return ("cat > calc.py <<EOF (buggy add)" if self.number == 1 else "cat > calc.py <<EOF (fix add)"), ""
        name = os.environ.get("FAKE_AGENT_FILE") or "hello.txt"
        path = Path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        if self.number == 1 and not path.exists():
            path.write_text("hi\n")
            self.created = True
            return f"echo hi > {name} && cat {name}", "hi"
        with path.open("a") as fh:
            fh.write(f"turn {self.number}\n")
        return f'echo "turn {self.number}" >> {name}', ""

    def final_text(self) -> str:
        if self.mode == "fix-on-second-turn":
            return "Wrote calc.py with add()." if self.number == 1 else "Fixed add() in calc.py."
        if self.mode == "secret":
            return f"Done. The key is {os.environ.get('AMP_API_KEY', '')} and also {FAKE_SECRET}."
        name = os.environ.get("FAKE_AGENT_FILE") or "hello.txt"
        return f"Created {name} containing hi." if self.created else f"Appended turn {self.number} to {name}."

    def error_message(self) -> tuple[int | None, str]:
        if self.error_kind == "401":
            return 401, "Failed to authenticate. API Error: 401 fake authentication_error"
        if self.error_kind == "429":
            return 429, "API Error: Request rejected (429) · fake rate_limit_error"
        if self.error_kind == "500":
            return 500, "API Error: 500 fake api_error. This is a server-side issue, usually temporary."
        return None, "fake failure: the agent gave up on this task"


# --- output -------------------------------------------------------------------------------------------------


class Out:
    def __init__(self, turn: Turn) -> None:
        self.turn = turn

    def line(self, obj: dict[str, Any] | str | bytes) -> None:
        if isinstance(obj, dict):
            data = (json.dumps(obj, ensure_ascii=False) + "\n").encode()
        elif isinstance(obj, str):
            data = (obj + "\n").encode()
        else:
            data = obj
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        if self.turn.delay:
            time.sleep(self.turn.delay)

    def garbage(self, stage: int) -> None:
        """Non-JSON, split, non-UTF-8 and unknown-type lines, one kind per stage."""
        if self.turn.mode != "garbage":
            return
        if stage == 0:
            self.line("this is not json {")
            self.line(b"\xff\xfe\xfa not utf-8 \xc3\x28 bytes\n")
        elif stage == 1:
            half = json.dumps({"type": "mystery_event", "payload": "split across two writes"})
            sys.stdout.buffer.write(half[:17].encode())
            sys.stdout.buffer.flush()
            time.sleep(0.05)
            self.line(half[17:])
            self.line("[1, 2, 3]")
        else:
            self.line("")
            self.line("trailing noise without a newline at first")


def hang(out: Out) -> None:
    """Sleep forever, with a child that sleeps too (the group kill must end both)."""
    marker = os.environ.get("FAKE_AGENT_MARKER") or "fake-agent-hang"
    subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(1)", "fake-agent-child", marker])
    if os.environ.get("FAKE_AGENT_IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(1)


def crash() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def secret_to_stderr(turn: Turn) -> None:
    if turn.mode == "secret":
        sys.stderr.write(f"debug: using key {os.environ.get('AMP_API_KEY', '')} ({FAKE_SECRET})\n")
        sys.stderr.flush()


def version(name: str) -> None:
    print(f"0.0.1-fake ({name} fake for ampsm tests)")
    sys.exit(0)


def main_guard(fn: Any) -> None:
    try:
        sys.exit(fn(sys.argv[1:]))
    except Usage as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
    except LookupError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        sys.exit(1)
