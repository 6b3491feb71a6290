from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ampsm_tui.engine.logs import setup_logging
from ampsm_tui.engine.secrets import REDACTED, redact


def test_log_line_with_amp_api_key_is_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "amp-secret-value-9f8e7d6c5b4a"
    monkeypatch.setenv("AMP_API_KEY", secret)
    log_path = tmp_path / "logs" / "ampsm.log"
    setup_logging(log_path, "debug")
    log = logging.getLogger("ampsm_tui.test")
    log.info("agent said %s and key=%s", "hello", secret)
    try:
        raise RuntimeError(f"boom {secret}")
    except RuntimeError:
        log.exception("failed")
    for handler in logging.getLogger("ampsm_tui").handlers:
        handler.flush()
    text = log_path.read_text()
    assert "agent said hello" in text
    assert secret not in text
    assert REDACTED in text


def test_known_token_shapes_are_redacted() -> None:
    for token in (
        "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345",
        "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    ):
        out = redact(f"token here: {token} end")
        assert token not in out and REDACTED in out
    assert redact("Authorization: Bearer abcdefghijklmnopqrstuvwxyz") == f"Authorization: Bearer {REDACTED}"
    assert redact("plain text stays") == "plain text stays"


def test_family_prefilter_redacts_exactly_what_the_full_pattern_does() -> None:
    """The per-line shortcut (only the secret families whose literal hints occur are scanned) must
    give the same text as one pass of the full pattern, on stream lines and on every secret shape."""
    import itertools
    import json

    from ampsm_tui.engine.secrets import Redactor

    red = Redactor(["s3cr3t-value-123", "another-known-secret"])
    secrets = [
        "sk-ant-" + "a1B2" * 6,
        "amp_" + "x9" * 10,
        "ghp_" + "A1b2" * 6,
        "AKIA" + "ABCDEFGHIJKLMNOP",
        "Bearer " + "t0k3n" * 5,
        "api_key=" + "v" * 12,
        "TOKEN : 'abcdefghijkl'",
        "password=hunter2hunter2",
        "https://user:pw@example.com/hooks/" + "AbC1" * 7 + "?token=" + "q" * 12 + "&page=2",
        "s3cr3t-value-123",
        "xoxb-" + "1234567890abc",
    ]
    plain = [
        json.dumps({"type": "assistant", "message": {"usage": {"input_tokens": 12, "output_tokens": 4}}}),
        'the key: is fine but "tokens": 12 and secret sauce',
        "a task-fix-the-login-page branch amp/x/20250101",
        "",
    ]
    for a, b in itertools.product(secrets + plain, plain + secrets):
        text = f"{a} {b}"
        assert red(text) == red.pattern.sub(red._replace, text), text
    assert red(plain[0]) == plain[0]
    assert "[REDACTED]" in red("x api_key   \t= abcdefghijk")


def test_short_texts_are_checked_without_the_automaton_with_the_same_answer() -> None:
    """Until some long text needs the automaton, short ones are checked with substring tests (`new`
    redacts a name and a prompt): the same families, the same redaction, and nothing built."""
    import itertools

    from ampsm_tui.engine.secrets import _SHORT, Redactor

    values = ["s3cr3t-value-123", "ſtraße-Σecret-ς"]  # long s and final sigma fold (see _FOLD)
    parts = ["", "plain", "https://x.io/a", "BEARER abcdefghijklmnopqrstu", "Api_Key\u2003= abcdefghij", "TOKEN:",
             "sk-ant-" + "a1B2" * 6, "S3CR3T-VALUE-123", "STRASSE-σecret-σ", "ſtraße-Σecret-ς", "key\tvalue", "ключ"]  # fmt: skip
    lazy, built = Redactor(values), Redactor(values)
    assert built._scan is not None
    for a, b in itertools.product(parts, parts):
        text = f"{a} {b}"
        assert len(text) <= _SHORT
        assert lazy._found(text) == built._found(text), text
        assert lazy(text) == built(text) and lazy.needed(text) == built.needed(text), text
    assert "_scan" not in lazy.__dict__
