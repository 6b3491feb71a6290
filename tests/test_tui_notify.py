"""Notifications beyond the terminal while the TUI drives sessions: the app attaches the engine's
Notifier, so an iteration started with `i` whose test fails reaches the session's own webhook
(`new --notify-webhook`), the config's webhook and the config's email; quitting delivers a
message still in flight instead of dropping it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from ampsm_tui.app import AmpsmApp, create_app
from ampsm_tui.engine.models import SessionStatus

from .test_notify_webhook import Receiver, smtp_server  # noqa: F401 (fixture)
from .tui_support import make_test_config, settle, wait_for

pytestmark = pytest.mark.tui

WRITE_FILE = "sh -c 'echo hi > hello.txt'"


async def iterate_with_keys(app: AmpsmApp, pilot: Any, session_id: str) -> None:
    app.screen.select_session(session_id)  # type: ignore[attr-defined]
    await settle(pilot)
    await pilot.press("i")
    await settle(pilot, rounds=1)
    await pilot.press("ctrl+s")

    async def awaiting() -> bool:
        row = await app.store.get_session(session_id)
        return row is not None and row.status is SessionStatus.AWAITING_INPUT

    assert await wait_for(pilot, awaiting, tries=300)


async def test_failing_iteration_from_the_tui_notifies_session_and_config_webhooks_and_email(
    repo: Path,
    smtp_server: Any,  # noqa: F811
) -> None:
    with Receiver() as own, Receiver() as configured:
        config = make_test_config()
        config.notifications.webhook.enabled = True
        config.notifications.webhook.url = configured.url
        config.notifications.email.enabled = True
        config.notifications.email.smtp_host = "127.0.0.1"
        config.notifications.email.smtp_port = smtp_server.server_address[1]
        config.notifications.email.use_tls = False
        config.notifications.email.to = ["ops@example.com"]
        app = create_app(config, cursor_blink=False)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            session = await app.engine.sessions.create(
                repo=repo,
                name="red",
                prompt="break it",
                agent="command",
                agent_cmd=WRITE_FILE,
                script="false",
                notify_webhook=own.url,
            )
            await iterate_with_keys(app, pilot, session.id)
            assert await wait_for(pilot, lambda: own.got.is_set() and configured.got.is_set(), tries=300)
            assert await wait_for(pilot, lambda: bool(smtp_server.messages), tries=300)
        for rx in (own, configured):
            (body,) = [b for b in rx.bodies if b.get("status") == "awaiting-input"]
            assert body["session_id"] == session.id
            assert f"ampsm session {session.id} is awaiting-input" in body["text"]
        ((rcpts, data),) = smtp_server.messages
        assert rcpts == ["ops@example.com"] and "awaiting-input" in data


async def test_quitting_delivers_a_notification_still_in_flight(repo: Path) -> None:
    with Receiver() as rx:
        rx.gate.clear()  # the receiver holds the request until we let it go
        app = create_app(make_test_config(), cursor_blink=False)
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            session = await app.engine.sessions.create(
                repo=repo, name="red", agent="command", agent_cmd=WRITE_FILE, script="false", notify_webhook=rx.url
            )
            await iterate_with_keys(app, pilot, session.id)
            assert await wait_for(pilot, lambda: rx.hits >= 1, tries=300)
            notifier = app.notifier
            assert notifier is not None and notifier.deliveries == []
            # released only once the app is shutting down: the drain on exit must wait for it
            threading.Timer(0.3, rx.gate.set).start()
            await pilot.press("q")
        assert [d.ok for d in notifier.deliveries] == [True]
        assert [b["status"] for b in rx.bodies] == ["awaiting-input"]


async def test_without_notification_config_nothing_is_sent_and_nothing_breaks(repo: Path) -> None:
    app = create_app(make_test_config(), cursor_blink=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        session = await app.engine.sessions.create(
            repo=repo, name="red", agent="command", agent_cmd=WRITE_FILE, script="false"
        )
        await iterate_with_keys(app, pilot, session.id)
        notifier = app.notifier
        assert notifier is not None and notifier.webhooks == [] and notifier.email is None
    assert notifier.deliveries == []
