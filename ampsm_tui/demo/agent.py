"""The demo's scripted agent: a stand-in for `amp` that needs no network and no login.

It accepts Amp's command lines (`[threads continue TID] --execute [PROMPT] --stream-json
[--stream-json-thinking] [--dangerously-allow-all] [-m MODE]`, `--version`) and prints the same
stream-JSON line shapes as Amp (and as `tests/fakes/amp`): `system/init` with a `T-...` thread id,
`assistant` messages (thinking, text, tool_use, usage, no message id), `user` tool results and a
`result` line without usage. Its turns are recorded-style scripts picked by words of the prompt; each
tool call makes the real edit in the working directory, so the engine commits real work and the test
script really passes or fails. Thinking blocks are always printed (the demo shows them off).

Pace: human speed scaled by `AMPSM_DEMO_SPEED` (2 = twice as fast; 0 = no pauses at all).
Thread state lives in the worktree's git dir, never in tracked files.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERSION = "0.1.0 (ampsm demo agent; scripted, offline)"
AMP_MODES = ("low", "medium", "high", "ultra")

#: Seconds a human-paced agent takes before each kind of line (at speed 1).
PAUSES = {"thinking": 1.4, "text": 0.7, "tool_use": 0.9, "tool_result": 0.6, "result": 0.3}


class UsageError(Exception):
    """A flag error: exit status 2, like the real CLI."""


def pause_for(kind: str, speed: float) -> float:
    """How long to wait before a line of `kind` at `speed` (0 means never wait)."""
    if speed <= 0:
        return 0.0
    return PAUSES.get(kind, 0.5) / speed


def demo_speed() -> float:
    raw = os.environ.get("AMPSM_DEMO_SPEED", "1")
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"AMPSM_DEMO_SPEED must be a number, not {raw!r}") from None
    if value < 0:
        raise UsageError("AMPSM_DEMO_SPEED cannot be negative")
    return value


# --- the scripts ------------------------------------------------------------------------------------


@dataclass
class Msg:
    """One assistant message: optional thinking and text, optionally one tool call with its effect."""

    text: str = ""
    thinking: str = ""
    tool: str | None = None
    tool_input: dict[str, Any] | None = None
    action: Callable[[], tuple[str, bool]] | None = None  # -> (tool output, is_error)


def _read(path: str) -> Callable[[], tuple[str, bool]]:
    def run() -> tuple[str, bool]:
        p = Path(path)
        return (p.read_text(encoding="utf-8"), False) if p.exists() else (f"{path}: no such file", True)

    return run


def _write(path: str, content: str) -> Callable[[], tuple[str, bool]]:
    def run() -> tuple[str, bool]:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content, encoding="utf-8")
        return f"Created {path} ({len(content.splitlines())} lines)", False

    return run


def _append(path: str, content: str) -> Callable[[], tuple[str, bool]]:
    def run() -> tuple[str, bool]:
        p = Path(path)
        old = p.read_text(encoding="utf-8") if p.exists() else ""
        sep = "" if not old or old.endswith("\n") else "\n"
        p.write_text(old + sep + content, encoding="utf-8")
        return f"Applied 1 edit to {path}", False

    return run


def _replace(path: str, old: str, new: str) -> Callable[[], tuple[str, bool]]:
    def run() -> tuple[str, bool]:
        p = Path(path)
        text = p.read_text(encoding="utf-8") if p.exists() else ""
        if old not in text:
            return f"{path}: the text to replace was not found", True
        p.write_text(text.replace(old, new, 1), encoding="utf-8")
        return f"Applied 1 edit to {path}", False

    return run


def _run_tests() -> tuple[str, bool]:
    proc = subprocess.run(
        [sys.executable, "-m", "unittest", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    out = (proc.stdout + proc.stderr).strip().splitlines()
    return "\n".join(out[-12:]), proc.returncode != 0


def _tests() -> Msg:
    return Msg(
        "Running the test suite.", tool="Bash", tool_input={"command": "python -m unittest -q"}, action=_run_tests
    )


SLUGIFY = '''

def slugify(text: str) -> str:
    """Lower-case words joined by dashes, for URLs and file names."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)
'''

SLUGIFY_TEST = """import unittest

from textkit import slugify


class SlugifyTest(unittest.TestCase):
    def test_words_and_punctuation(self) -> None:
        self.assertEqual(slugify("Hello, World!"), "hello-world")

    def test_empty(self) -> None:
        self.assertEqual(slugify("  "), "")


if __name__ == "__main__":
    unittest.main()
"""

TITLE_BUGGY = '''

def title_case(text: str) -> str:
    """Every word capitalised."""
    return text.capitalize()
'''

TITLE_FIXED = '''

def title_case(text: str) -> str:
    """Every word capitalised (other letters kept as they are)."""
    return " ".join(word[:1].upper() + word[1:] for word in text.split(" "))
'''

TITLE_TEST = """import unittest

from textkit import title_case


class TitleCaseTest(unittest.TestCase):
    def test_every_word(self) -> None:
        self.assertEqual(title_case("hello big world"), "Hello Big World")


if __name__ == "__main__":
    unittest.main()
"""

COUNT_OLD = "    return len(text.split())\n"
COUNT_NEW = '    return len(re.findall(r"[\\w\']+", text))\n'

COUNT_TEST = """import unittest

from textkit import word_count


class WordCountTest(unittest.TestCase):
    def test_punctuation_is_not_a_word(self) -> None:
        self.assertEqual(word_count("Hello , world !"), 2)


if __name__ == "__main__":
    unittest.main()
"""

USAGE_DOC = [
    "# Using textkit\n\n`textkit` is a handful of small text helpers.\n",
    '\n## word_count\n\n```python\n>>> word_count("a b  c")\n3\n```\n',
    "\n## shout\n\n```python\n>>> shout(\"hi\")\n'HI!'\n```\n",
    "\n## Running the tests\n\n```sh\npython -m unittest -q\n```\n",
]


def script_for(prompt: str, turn: int, scenario: str) -> list[Msg]:
    """The messages of one turn of `scenario` (chosen on the thread's first turn)."""
    if scenario == "slugify":
        return [
            Msg("Let me look at the module first.", "The user wants a slugify helper. Check textkit.py's style.",
                "Read", {"path": "textkit.py"}, _read("textkit.py")),
            Msg("I'll add `slugify` next to the other helpers.", tool="edit_file",
                tool_input={"path": "textkit.py", "append": "def slugify(...)"}, action=_append("textkit.py", SLUGIFY)),
            Msg("And a test for it.", tool="create_file", tool_input={"path": "test_slugify.py"},
                action=_write("test_slugify.py", SLUGIFY_TEST)),
            _tests(),
            Msg("Added `slugify()` to textkit.py with tests in test_slugify.py; the suite passes."),
        ]  # fmt: skip
    if scenario == "title":
        if turn == 1:
            return [
                Msg("I'll add `title_case` to textkit.py.", "str.capitalize looks like the right tool here.",
                    "edit_file", {"path": "textkit.py", "append": "def title_case(...)"},
                    _append("textkit.py", TITLE_BUGGY)),
                Msg("With a test.", tool="create_file", tool_input={"path": "test_title.py"},
                    action=_write("test_title.py", TITLE_TEST)),
                Msg("Added `title_case()` to textkit.py and a test in test_title.py."),
            ]  # fmt: skip
        return [
            Msg("The test shows the bug: `str.capitalize` only touches the first word.",
                "capitalize() lower-cases the rest and only upper-cases the first letter of the string. "
                "Capitalise each word instead.",
                "edit_file", {"path": "textkit.py", "replace": "title_case body"},
                _replace("textkit.py", TITLE_BUGGY, TITLE_FIXED)),
            _tests(),
            Msg("Fixed `title_case()`: every word is capitalised now and the test passes."),
        ]  # fmt: skip
    if scenario == "count":
        return [
            Msg("Looking at word_count.", "Punctuation separated by spaces counts as words today.", "Read",
                {"path": "textkit.py"}, _read("textkit.py")),
            Msg("I'll count runs of word characters instead of whitespace-separated chunks.", tool="edit_file",
                tool_input={"path": "textkit.py", "replace": "word_count body"},
                action=_replace("textkit.py", COUNT_OLD, COUNT_NEW)),
            Msg("Adding a test.", tool="create_file", tool_input={"path": "test_count.py"},
                action=_write("test_count.py", COUNT_TEST)),
            _tests(),
            Msg("word_count() now ignores punctuation; test_count.py covers it."),
        ]  # fmt: skip
    if scenario == "docs":
        msgs = [
            Msg("I'll start by reading the project.", "A usage guide needs every public function. "
                "Read the README and the module.", "Read", {"path": "README.md"}, _read("README.md")),
            Msg("", "", "Read", {"path": "textkit.py"}, _read("textkit.py")),
            Msg("Writing docs/usage.md, one section per helper.",
                "Start with an overview, then word_count and shout, then how to run the tests.", "create_file",
                {"path": "docs/usage.md"}, _write("docs/usage.md", USAGE_DOC[0])),
        ]  # fmt: skip
        for section in USAGE_DOC[1:]:
            title = section.strip().splitlines()[0].lstrip("# ")
            msgs.append(Msg(f"Section: {title}.", tool="edit_file", tool_input={"path": "docs/usage.md"},
                            action=_append("docs/usage.md", section)))  # fmt: skip
        msgs += [
            Msg("Linking the guide from the README.", tool="edit_file", tool_input={"path": "README.md"},
                action=_append("README.md", "\nSee [docs/usage.md](docs/usage.md) for examples.\n")),
            _tests(),
            Msg("Wrote docs/usage.md (overview, word_count, shout, tests) and linked it from the README."),
        ]  # fmt: skip
        return msgs
    if scenario == "changelog":
        return [
            Msg("Creating CHANGELOG.md.", tool="create_file", tool_input={"path": "CHANGELOG.md"},
                action=_write("CHANGELOG.md", "# Changelog\n\n## 0.1.0\n\n- word_count, shout\n")),
            Msg("Added CHANGELOG.md with the first release."),
        ]  # fmt: skip
    if scenario == "examples":
        return [
            Msg("Adding a runnable example.", tool="create_file", tool_input={"path": "examples.py"},
                action=_write("examples.py", 'from textkit import shout, word_count\n\n'
                              'print(word_count("three small words"))\nprint(shout("hello"))\n')),
            Msg("Added examples.py."),
        ]  # fmt: skip
    first = (prompt.strip().splitlines() or ["(no prompt)"])[0][:120]
    return [
        Msg("Noting the request.", tool="edit_file", tool_input={"path": "NOTES.md"},
            action=_append("NOTES.md", f"- turn {turn}: {first}\n")),
        Msg(f"Recorded the request in NOTES.md (turn {turn})."),
    ]  # fmt: skip


SCENARIOS = {
    "slugify": ("slugify",),
    "title": ("title case", "title_case", "title-case"),
    "count": ("word count", "word_count", "punctuation"),
    "docs": ("usage guide", "documentation", "docs"),
    "changelog": ("changelog",),
    "examples": ("example",),
}


def pick_scenario(prompt: str) -> str:
    low = prompt.lower()
    for name, words in SCENARIOS.items():
        if any(w in low for w in words):
            return name
    return "notes"


# --- thread state -------------------------------------------------------------------------------------


def _state_dir() -> Path:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--absolute-git-dir"], capture_output=True, text=True, timeout=10, check=True
        )
        path = Path(out.stdout.strip()) / "ampsm-demo-agent"
    except (OSError, subprocess.SubprocessError):
        path = Path.cwd() / ".ampsm-demo-agent"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _thread_file(tid: str) -> Path:
    if not re.fullmatch(r"T-[0-9a-f-]{8,64}", tid):
        raise LookupError(f"thread {tid} not found")
    return _state_dir() / f"{tid}.json"


# --- output ---------------------------------------------------------------------------------------------


class Printer:
    def __init__(self, tid: str, speed: float) -> None:
        self.tid = tid
        self.speed = speed
        self.n = 0

    def line(self, kind: str, obj: dict[str, Any]) -> None:
        delay = pause_for(kind, self.speed)
        if delay:
            time.sleep(delay)
        sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def usage(self, msg: Msg, turn: int) -> dict[str, Any]:
        self.n += 1
        return {
            "input_tokens": 700 + 180 * self.n + 40 * turn,
            "cache_creation_input_tokens": 350 if self.n == 1 else 60,
            "cache_read_input_tokens": 3800 + 1400 * self.n,
            "output_tokens": 18 + (len(msg.text) + len(msg.thinking)) // 4 + (30 if msg.tool else 0),
            "service_tier": "standard",
        }

    def assistant(self, msg: Msg, turn: int) -> str | None:
        content: list[dict[str, Any]] = []
        kind = "text"
        if msg.thinking:
            content.append({"type": "thinking", "thinking": msg.thinking})
            kind = "thinking"
        if msg.text:
            content.append({"type": "text", "text": msg.text})
        tool_id = None
        if msg.tool:
            tool_id = "toolu_" + uuid.uuid4().hex[:24]
            content.append({"type": "tool_use", "id": tool_id, "name": msg.tool, "input": msg.tool_input or {}})
            kind = "tool_use" if not msg.thinking else kind
        message = {
            "type": "message",
            "role": "assistant",
            "content": content,
            "stop_reason": "tool_use" if msg.tool else "end_turn",
            "usage": self.usage(msg, turn),
        }
        self.line(kind, {"type": "assistant", "message": message, "parent_tool_use_id": None, "session_id": self.tid})
        return tool_id

    def tool_result(self, tool_id: str, output: str, is_error: bool) -> None:
        block = {"type": "tool_result", "tool_use_id": tool_id, "content": output, "is_error": is_error}
        self.line(
            "tool_result",
            {
                "type": "user",
                "message": {"role": "user", "content": [block]},
                "parent_tool_use_id": None,
                "session_id": self.tid,
            },
        )


# --- command line ---------------------------------------------------------------------------------------


def parse(argv: list[str]) -> dict[str, Any]:
    opts: dict[str, Any] = {"thread": None, "prompt": None, "stream": False, "mode": None, "execute": False}
    args = list(argv)
    if args[:2] == ["threads", "continue"]:
        if len(args) < 3:
            raise UsageError("threads continue needs a thread id")
        opts["thread"] = args[2]
        args = args[3:]
    flags = {"--stream-json", "--stream-json-thinking", "--dangerously-allow-all"}
    valued = {"-m", "--mode", "--title", "-l", "--label"}
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-x", "--execute"):
            opts["execute"] = True
            if i + 1 < len(args) and args[i + 1] not in flags | valued:
                opts["prompt"] = args[i + 1]
                i += 1
        elif a == "--stream-json":
            opts["stream"] = True
        elif a in flags:
            pass
        elif a in valued:
            if i + 1 >= len(args):
                raise UsageError(f"option {a} needs a value")
            if a in ("-m", "--mode") and args[i + 1] not in AMP_MODES:
                raise UsageError(f"invalid mode {args[i + 1]!r}: choose from {', '.join(AMP_MODES)}")
            if a in ("-m", "--mode"):
                opts["mode"] = args[i + 1]
            i += 1
        else:
            raise UsageError(f"unknown option {a!r}")
        i += 1
    if not opts["execute"]:
        raise UsageError("the demo agent only supports --execute mode")
    if opts["prompt"] is None:
        opts["prompt"] = sys.stdin.read()
    return opts


def run_turn(opts: dict[str, Any], speed: float) -> int:
    prompt = str(opts["prompt"])
    if opts["thread"]:
        path = _thread_file(opts["thread"])
        if not path.exists():
            raise LookupError(f"thread {opts['thread']} not found")
        state = json.loads(path.read_text())
        tid = str(opts["thread"])
    else:
        tid = "T-" + str(uuid.uuid4())
        state = {"turns": 0, "scenario": pick_scenario(prompt)}
        path = _thread_file(tid)
    turn = int(state["turns"]) + 1
    msgs = script_for(prompt, turn, str(state["scenario"]))
    if not opts["stream"]:
        for msg in msgs:
            if msg.action:
                msg.action()
        print(msgs[-1].text)
        state["turns"] = turn
        path.write_text(json.dumps(state))
        return 0
    # The thread exists from its first line on (as Amp's do): a turn stopped midway leaves a thread the
    # next turn continues, instead of "thread not found".
    state["turns"] = turn
    path.write_text(json.dumps(state))
    out = Printer(tid, speed)
    t0 = time.monotonic()
    tools = ["Bash", "Read", "create_file", "edit_file"]
    out.line("init", {"type": "system", "subtype": "init", "cwd": os.getcwd(), "session_id": tid, "tools": tools,
                      "mcp_servers": [], "agent_mode": opts["mode"] or "smart"})  # fmt: skip
    for msg in msgs:
        tool_id = out.assistant(msg, turn)
        if tool_id is not None and msg.action is not None:
            output, is_error = msg.action()
            out.tool_result(tool_id, output, is_error)
    state["turns"] = turn
    path.write_text(json.dumps(state))
    final = msgs[-1].text
    out.line("result", {"type": "result", "subtype": "success", "duration_ms": int((time.monotonic() - t0) * 1000),
                        "is_error": False, "num_turns": len(msgs), "result": final, "session_id": tid})  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] in (["--version"], ["-V"]):
            print(VERSION)
            return 0
        return run_turn(parse(argv), demo_speed())
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except LookupError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
