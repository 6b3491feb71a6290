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
