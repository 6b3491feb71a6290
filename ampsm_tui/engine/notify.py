"""Notifications: webhook (JSON POST) and email (SMTP) when a batch ends or a session needs input.

Sending never blocks the engine: a bus handler only schedules a background task, the blocking I/O
(urllib, smtplib) runs in a thread, and a failure is logged, never raised. Headless commands call
`drain()` before exiting so a batch-finished message is delivered (lesson 1: nothing outlives the
command, but nothing is dropped either).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .events import BatchFinished, Event, MetricsEventBus, SessionStatusChanged
from .secrets import get_api_key, redact, secrets_dir, usable_url

if TYPE_CHECKING:
    from .config import Config
    from .store import Store

log = logging.getLogger(__name__)

#: Session statuses worth telling a human about.
ALERT_STATUSES = frozenset({"awaiting-input", "error"})


@dataclass
class WebhookTarget:
    url: str
    timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5


@dataclass
class EmailTarget:
    host: str
    port: int
    sender: str
    to: list[str]
    username: str = ""
    use_tls: bool = True
    timeout: float = 10.0


@dataclass
class Delivery:
    """What happened to one message (kept for tests and `--json` output)."""

    channel: str
    target: str
    ok: bool
    attempts: int
    error: str | None = None


def message_for(event: Event) -> dict[str, Any]:
    """The JSON body: the event's payload plus a one-line `text` (Slack/Mattermost compatible)."""
    payload = event.payload()
    if isinstance(event, BatchFinished):
        text = (
            f"ampsm batch {event.batch_id} {event.status}: {event.succeeded}/{event.total} succeeded, "
            f"{event.failed} failed"
        )
    elif isinstance(event, SessionStatusChanged):
        why = f" ({event.reason})" if event.reason else ""
        text = f"ampsm session {event.session_id} is {event.status}{why}"
    else:
        text = f"ampsm {event.topic}"
    return {"text": redact(text), "event": event.topic, **payload}


def post_json(target: WebhookTarget, body: dict[str, Any]) -> Delivery:
    """Blocking POST with retries and exponential backoff; runs in a worker thread."""
    import time
    import urllib.error  # here, not at the top: every session command builds a notifier, few send
    import urllib.request

    data = json.dumps(body, default=str).encode()
    error: str | None = None
    attempts = 0
    for attempt in range(target.retries + 1):
        attempts = attempt + 1
        request = urllib.request.Request(
            target.url, data=data, method="POST", headers={"Content-Type": "application/json", "User-Agent": "ampsm"}
        )
        try:
            with urllib.request.urlopen(request, timeout=target.timeout) as resp:
                if 200 <= resp.status < 300:
                    return Delivery("webhook", target.url, True, attempts)
                error = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
            if 400 <= exc.code < 500 and exc.code != 429:
                break  # the receiver rejects the message: retrying will not help
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = str(getattr(exc, "reason", exc))
        if attempt < target.retries:
            time.sleep(target.backoff * (2**attempt))
    return Delivery("webhook", target.url, False, attempts, redact(error or "failed"))


def send_email(target: EmailTarget, subject: str, body: str) -> Delivery:
    """Blocking SMTP send (STARTTLS when configured); the password comes from the keyring/env."""
    import smtplib
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = target.sender
    msg["To"] = ", ".join(target.to)
    msg.set_content(body)
    try:
        with smtplib.SMTP(target.host, target.port, timeout=target.timeout) as smtp:
            if target.use_tls:
                smtp.starttls()
            if target.username:
                password = get_api_key("AMPSM_SMTP_PASSWORD") or ""
                smtp.login(target.username, password)
            smtp.send_message(msg)
        return Delivery("email", ",".join(target.to), True, 1)
    except (smtplib.SMTPException, OSError) as exc:
        return Delivery("email", ",".join(target.to), False, 1, redact(str(exc)))


@dataclass
class Notifier:
    """Subscribes to the bus and sends in the background. Build it with `Notifier.from_config`."""

    webhooks: list[WebhookTarget] = field(default_factory=list)
    email: EmailTarget | None = None
    store: Store | None = None  # to find a session's own webhook (`new --notify-webhook`)
    session_webhook_defaults: WebhookTarget = field(default_factory=lambda: WebhookTarget(""))
    on_delivery: Callable[[Delivery], None] | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set, init=False, repr=False)

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        extra_webhooks: list[str] | None = None,
        extra_emails: list[str] | None = None,
        store: Store | None = None,
    ) -> Notifier:
        """Config webhook/email (when enabled) plus a batch file's own webhook and addresses."""
        hook = config.notifications.webhook
        defaults = WebhookTarget("", timeout=hook.timeout, retries=hook.retries)
        urls = [hook.url] if hook.enabled and hook.url else []
        for url in extra_webhooks or []:
            if url and url not in urls:
                urls.append(url)
        webhooks = [WebhookTarget(u, timeout=hook.timeout, retries=hook.retries) for u in urls]
        mail = config.notifications.email
        recipients = list(mail.to) if mail.enabled else []
        recipients += [a for a in extra_emails or [] if a not in recipients]
        email = None
        if recipients and mail.smtp_host:
            email = EmailTarget(
                host=mail.smtp_host,
                port=mail.smtp_port,
                sender=mail.from_ or "ampsm@localhost",
                to=recipients,
                username=mail.username,
                use_tls=mail.use_tls,
            )
        elif recipients:
            log.warning("email notifications need notifications.email.smtp_host; none will be sent")
        return cls(webhooks=webhooks, email=email, store=store, session_webhook_defaults=defaults)

    def add_targets(
        self, config: Config, *, webhooks: list[str] | None = None, emails: list[str] | None = None
    ) -> None:
        """More places to send to for the rest of this process (a batch file's own webhook and
        addresses); the same rules as `from_config`, nothing added twice."""
        urls = [w.url for w in self.webhooks if w.url]
        recipients = list(self.email.to) if self.email is not None else []
        merged = Notifier.from_config(
            config, extra_webhooks=urls + list(webhooks or []), extra_emails=recipients + list(emails or [])
        )
        self.webhooks, self.email = merged.webhooks, merged.email

    def attach(self, bus: MetricsEventBus) -> Callable[[], None]:
        """Listen for batch.finished and session.status (awaiting-input, error)."""
        offs = [bus.subscribe("batch.finished", self._on_event), bus.subscribe("session.status", self._on_event)]

        def detach() -> None:
            for off in offs:
                off()

        return detach

    def _on_event(self, event: Event) -> None:
        if isinstance(event, SessionStatusChanged) and event.status not in ALERT_STATUSES:
            return
        self._spawn(self.send(event))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send(self, event: Event) -> list[Delivery]:
        """Deliver one event to every target; failures are logged and returned, never raised."""
        body = message_for(event)
        targets = list(self.webhooks)
        if isinstance(event, SessionStatusChanged) and self.store is not None:
            try:
                session = await self.store.get_session(event.session_id)
            except Exception:  # a closed store must not break notifications
                session = None
            url = session.notify_webhook if session is not None else None
            if url and session is not None and self.store is not None:  # the private copy of a redacted URL
                url = usable_url(url, secrets_dir(self.store.path), f"{session.id}.webhook")
            if url:
                d = self.session_webhook_defaults
                targets.append(WebhookTarget(url, timeout=d.timeout, retries=d.retries))
        jobs = [asyncio.to_thread(post_json, t, body) for t in targets]
        if self.email is not None:
            jobs.append(asyncio.to_thread(send_email, self.email, body["text"], json.dumps(body, indent=2)))
        results = list(await asyncio.gather(*jobs)) if jobs else []
        for r in results:
            self.deliveries.append(r)
            if r.ok:
                log.info("notified %s %s (%s)", r.channel, redact(r.target), event.topic)
            else:
                log.warning(
                    "notification to %s %s failed after %d attempt(s): %s",
                    r.channel,
                    redact(r.target),
                    r.attempts,
                    r.error,
                )
            if self.on_delivery is not None:
                self.on_delivery(r)
        return results

    async def drain(self, timeout: float | None = 30.0) -> None:
        """Wait for messages in flight (before a headless command exits); give up after `timeout`."""
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            log.warning("a notification did not finish in time and was dropped")
            task.cancel()
