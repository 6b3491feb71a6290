"""Notifications against real local servers: an HTTP receiver and a minimal SMTP server."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ampsm_tui.engine.config import load_config
from ampsm_tui.engine.events import BatchFinished, MetricsEventBus, SessionStatusChanged
from ampsm_tui.engine.models import Session
from ampsm_tui.engine.notify import EmailTarget, Notifier, WebhookTarget
from ampsm_tui.engine.store import Store


class Receiver:
    """Collects JSON POSTs. `fail_first` answers 500 that many times; `gate` holds every request."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.hits = 0
        self.fail_first = fail_first
        self.gate = threading.Event()
        self.gate.set()
        self.got = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.hits += 1
                receiver.gate.wait(30)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                if receiver.hits <= receiver.fail_first:
                    self.send_response(500)
                    self.end_headers()
                    return
                receiver.bodies.append(body)
                receiver.got.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/nobody-listens"


FINISHED = BatchFinished(batch_id="batch-1", status="done", total=3, succeeded=2, failed=1)


async def test_batch_finished_reaches_the_receiver_without_blocking_the_publisher() -> None:
    with Receiver() as rx:
        rx.gate.clear()  # the receiver holds the request until we let it go
        notifier = Notifier(webhooks=[WebhookTarget(rx.url, timeout=10, retries=0)])
        bus = MetricsEventBus()
        notifier.attach(bus)
        await asyncio.wait_for(bus.publish(FINISHED), 20)  # returns while the POST is still held
        assert not rx.bodies and len(notifier._tasks) == 1
        await asyncio.to_thread(lambda: _wait_until(lambda: rx.hits == 1))
        rx.gate.set()
        await notifier.drain()
        assert len(rx.bodies) == 1
    body = rx.bodies[0]
    assert body["event"] == "batch.finished" and body["batch_id"] == "batch-1"
    assert body["succeeded"] == 2 and body["failed"] == 1 and body["status"] == "done"
    assert "2/3 succeeded" in body["text"]
    assert notifier.deliveries[0].ok


def _wait_until(cond: Any) -> None:
    import time

    for _ in range(2000):
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError("condition never became true")


async def test_retries_then_success_and_dead_url_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with Receiver(fail_first=2) as rx:
        dead = dead_url()
        notifier = Notifier(
            webhooks=[WebhookTarget(rx.url, retries=3, backoff=0.01), WebhookTarget(dead, retries=1, backoff=0.01)]
        )
        caplog.set_level("WARNING", logger="ampsm_tui.engine.notify")
        # setup_logging() (run by other tests in this process) stops ampsm_tui records at the
        # package logger, so hand caplog's handler to the logger itself.
        logger = logging.getLogger("ampsm_tui.engine.notify")
        logger.addHandler(caplog.handler)
        try:
            results = await notifier.send(FINISHED)
        finally:
            logger.removeHandler(caplog.handler)
    ok, failed = results
    assert ok.ok and ok.attempts == 3 and len(rx.bodies) == 1
    assert not failed.ok and failed.attempts == 2 and failed.error
    assert any("failed after 2 attempt" in r.getMessage() for r in caplog.records)


async def test_session_status_alerts_only_for_input_or_error_and_use_the_session_webhook(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    await store.open()
    try:
        with Receiver() as global_rx, Receiver() as own_rx:
            s = Session(name="s", repo_path="/r", base_branch="main", notify_webhook=own_rx.url)
            await store.create_session(s)
            notifier = Notifier(webhooks=[WebhookTarget(global_rx.url, retries=0)], store=store)
            bus = MetricsEventBus()
            notifier.attach(bus)
            await bus.publish(SessionStatusChanged(session_id=s.id, status="running", previous="idle"))
            await bus.publish(
                SessionStatusChanged(
                    session_id=s.id, status="awaiting-input", previous="running", reason="tests failed"
                )
            )
            await notifier.drain()
        assert [b["status"] for b in global_rx.bodies] == ["awaiting-input"]
        assert [b["session_id"] for b in own_rx.bodies] == [s.id]
        assert "tests failed" in own_rx.bodies[0]["text"]
    finally:
        await store.close()


def test_from_config_merges_config_and_batch_targets(isolated_env: Path) -> None:
    (isolated_env / "config.yaml").write_text(
        "notifications:\n  webhook:\n    enabled: true\n    url: http://a/x\n    retries: 5\n    timeout: 2s\n"
        "  email:\n    enabled: false\n    smtp_host: mail.local\n    smtp_port: 2525\n    from: me@x\n"
    )
    n = Notifier.from_config(load_config(), extra_webhooks=["http://b/y", "http://a/x"], extra_emails=["ops@x"])
    assert [(w.url, w.retries, w.timeout) for w in n.webhooks] == [("http://a/x", 5, 2.0), ("http://b/y", 5, 2.0)]
    assert n.email is not None and n.email.to == ["ops@x"] and n.email.port == 2525 and n.email.sender == "me@x"


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: EHLO, MAIL, RCPT, DATA, QUIT."""

    def handle(self) -> None:
        server: Any = self.server
        self.wfile.write(b"220 test ESMTP\r\n")
        rcpts: list[str] = []
        while True:
            line = self.rfile.readline().decode().strip()
            if not line:
                return
            verb = line.split()[0].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250 test\r\n")
            elif verb == "MAIL":
                self.wfile.write(b"250 ok\r\n")
            elif verb == "RCPT":
                rcpts.append(line.split(":", 1)[1].strip("<> "))
                self.wfile.write(b"250 ok\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 go\r\n")
                data = []
                while (row := self.rfile.readline().decode()) not in (".\r\n", ""):
                    data.append(row)
                server.messages.append((rcpts, "".join(data)))
                self.wfile.write(b"250 queued\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp_server() -> Iterator[Any]:
    server: Any = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SMTPHandler)
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


async def test_email_over_smtp(smtp_server: Any) -> None:
    port = smtp_server.server_address[1]
    notifier = Notifier(email=EmailTarget("127.0.0.1", port, "ampsm@x", ["ops@x", "lead@x"], use_tls=False))
    (result,) = await notifier.send(FINISHED)
    assert result.ok, result.error
    ((rcpts, data),) = smtp_server.messages
    assert rcpts == ["ops@x", "lead@x"]
    assert "Subject: ampsm batch batch-1 done: 2/3 succeeded" in data
    assert '"batch_id": "batch-1"' in data


async def test_email_to_a_closed_port_fails_quietly() -> None:
    port = int(dead_url().rsplit(":", 1)[1].split("/")[0])
    notifier = Notifier(email=EmailTarget("127.0.0.1", port, "a@x", ["b@x"], use_tls=False, timeout=2))
    (result,) = await notifier.send(FINISHED)
    assert not result.ok and result.channel == "email"
