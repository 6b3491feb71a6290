"""Redaction of an agent's stream at full speed: one scan per chunk must miss nothing.

The stream is checked a chunk (a few hundred lines) at a time with one multi-literal scan, and only
the lines the scan points at are redacted. These tests hold that shortcut to the full pattern: on
every secret shape, anywhere in a chunk, split across the pipe's reads, and in Unicode spellings
that `str.lower()` does not fold.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

from ampsm_tui.engine.agents.process import run_agent
from ampsm_tui.engine.agents.registry import get_adapter
from ampsm_tui.engine.models import IterationStatus
from ampsm_tui.engine.secrets import REDACTED, WHITESPACE, Redactor

KNOWN = ["s3cr3t-value-123", "another-known-secret", "ΚΛΕΙΔΙΣ-final-sigma-ΑΣ"]
SECRETS = [
    "sk-ant-" + "a1B2" * 6,
    "amp_" + "x9" * 10,
    "sgamp_" + "Q7" * 10,
    "ghp_" + "A1b2" * 6,
    "gho_" + "A1b2" * 6,
    "github_pat_" + "A1b2_" * 5,
    "AKIA" + "ABCDEFGHIJKLMNOP",
    "AIza" + "b" * 35,
    "xoxb-" + "1234567890abc",
    "Bearer " + "t0k3n" * 5,
    "api_key=" + "v" * 12,
    "TOKEN : 'abcdefghijkl'",
    "password=hunter2hunter2",
    "paſsword=hunter2hunter2",  # (?i) lets `s` match the long s; str.lower() keeps it
    "Secret\u3000: abcdefghijkl",  # an ideographic space is `\s` too
    "https://user:pw@example.com/hooks/" + "AbC1" * 7 + "?token=" + "q" * 12 + "&page=2",
    *KNOWN,
    "ΚΛΕΙΔΙΣ-final-sigma-ΑΣx",  # the value's final sigma is not final in the text
]
PLAIN = [
    json.dumps({"type": "assistant", "message": {"usage": {"input_tokens": 12, "output_tokens": 4}}}),
    'the key: is fine but "tokens": 12 and secret sauce',
    "a task-fix-the-login-page branch amp/x/20250101",
    "İstanbul, straße, ﬁle: lower() changes the length of some of these",
    "",
]


def full(red: Redactor, line: str) -> str:
    return red.pattern.sub(red._replace, line)


def test_whitespace_is_what_backslash_s_matches() -> None:
    assert "".join(chr(i) for i in range(sys.maxunicode + 1) if re.match(r"\s", chr(i))) == WHITESPACE


def test_every_secret_is_found_wherever_it_is_in_a_chunk() -> None:
    red = Redactor(KNOWN)
    rng = random.Random(17)
    for _ in range(300):
        lines = [rng.choice(PLAIN) for _ in range(rng.randint(1, 12))]
        for _ in range(rng.randint(0, 3)):
            i = rng.randrange(len(lines))
            secret = rng.choice(SECRETS)
            at = rng.randint(0, len(lines[i]))
            lines[i] = lines[i][:at] + " " + secret + " " + lines[i][at:]
        block = "\n".join(lines)
        out = list(lines)
        for i in red.lines_needing(block):
            out[i] = red(out[i])
        assert out == [full(red, line) for line in lines], block
    for secret in SECRETS:
        assert red(f"x {secret} y") != f"x {secret} y", secret
        assert red(f"x {secret} y") == full(red, f"x {secret} y"), secret
    # an agent's usual line is no candidate at all: the chunk goes out untouched
    assert red.lines_needing("\n".join([PLAIN[0], PLAIN[3]] * 50)) == []
    assert red.lines_needing("\n".join([PLAIN[0]] * 9 + [PLAIN[1]])) == [9]


async def test_secrets_split_across_reads_never_reach_the_raw_log_or_events(tmp_path: Path) -> None:
    """Every secret shape printed by a real process, read 5 bytes at a time: each one straddles
    reads, and none reaches the raw stream file or an event."""
    lines = [f"line {i}: {s} and more" for i, s in enumerate(SECRETS)] + PLAIN[:4]
    script = tmp_path / "agent.py"
    script.write_text(f"import sys\nsys.stdout.write({json.dumps(chr(10).join(lines) + chr(10))})\n")
    events: list[str] = []

    async def collect(event: object) -> None:
        events.append(getattr(event, "text", ""))

    raw = tmp_path / "raw.jsonl"
    result = await run_agent(
        get_adapter("command", f"{sys.executable} {script}"),
        "go",
        cwd=tmp_path,
        raw_log_path=raw,
        buffer_size=5,
        on_event=collect,
        env={"AMP_API_KEY": KNOWN[0], "GITHUB_TOKEN": KNOWN[1], "HF_TOKEN": KNOWN[2]},
    )
    assert result.status == IterationStatus.COMPLETED
    stored = raw.read_text().splitlines()
    red = Redactor(KNOWN)
    assert stored == [full(red, line) for line in lines if line.strip()]
    assert events == stored
    assert all(REDACTED in line for line in stored[: len(SECRETS)])
    assert not any(value in "\n".join(stored) for value in KNOWN)


def test_text_that_is_not_utf8_is_scanned_too() -> None:
    """A lone surrogate (bytes of a non-UTF-8 file name) neither breaks the scan nor hides a key."""
    value = "k3y-\udcff-value-0123"
    red = Redactor([value])
    assert red(f"path \udcfe/{value} end") == f"path \udcfe/{REDACTED} end"
    assert red.lines_needing(f"plain \udcfe\nkey: {value}") == [1]
