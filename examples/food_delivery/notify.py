"""Notifications: topics the browser pages subscribe to, and email over SMTP.

- :class:`Topics` is the in-process publish/subscribe hub the restaurant screens, the
  customer page and the mail page listen to through server-sent events. Publishing to a topic
  nobody listens to succeeds, as with SNS: the restaurant sees its orders when its screen
  connects (the page loads the open orders first, then follows the topic).
- :class:`Mailer` sends a message over real SMTP (``smtplib``, in a worker thread) and turns
  every delivery problem — connection refused, a 4xx or 5xx answer — into
  :class:`~food_delivery.errors.NotificationFailed`, which the flow retries.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from food_delivery.errors import NotificationFailed

__all__ = ["Mailer", "Topics"]


class Topics:
    """Named topics with any number of subscribers, each an asyncio queue."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.published = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop the subscribers live on (publishers may run in other threads)."""
        self._loop = loop

    def publish(self, topic: str, message: dict[str, Any]) -> None:
        self.published += 1
        loop = self._loop
        for queue in list(self._subscribers.get(topic, ())):
            if loop is None or _on_loop(loop):
                queue.put_nowait(message)
            else:
                loop.call_soon_threadsafe(queue.put_nowait, message)

    @contextmanager
    def listen(self, topic: str) -> Iterator[asyncio.Queue[dict[str, Any]]]:
        """A queue receiving what is published to ``topic`` while the block runs."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribers.setdefault(topic, set()).add(queue)
        try:
            yield queue
        finally:
            self._subscribers[topic].discard(queue)

    async def subscribe(self, topic: str) -> AsyncIterator[dict[str, Any]]:
        """The messages published to ``topic`` from now on, until the consumer stops."""
        with self.listen(topic) as queue:
            while True:
                yield await queue.get()

    def listeners(self, topic: str) -> int:
        return len(self._subscribers.get(topic, ()))


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class Mailer:
    """Sends email through one SMTP server (``smtp://host:port``)."""

    def __init__(
        self, host: str, port: int, *, sender: str = "orders@food.example", timeout: float = 10
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout = timeout
        self.sent = 0

    @classmethod
    def from_url(cls, url: str) -> Mailer:
        if not url.startswith("smtp://"):
            raise ValueError(f"SMTP URL must look like smtp://host:port, got '{url}'")
        host, _, port = url.removeprefix("smtp://").rstrip("/").partition(":")
        if not host or not port.isdigit():
            raise ValueError(f"SMTP URL must look like smtp://host:port, got '{url}'")
        return cls(host, int(port))

    def _send(self, to: str, subject: str, body: str, headers: dict[str, str]) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        for name, value in headers.items():
            message[name] = value
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            code, reason = next(iter(error.recipients.values()))
            text = reason.decode(errors="replace") if isinstance(reason, bytes) else reason
            raise NotificationFailed(
                f"mail to {to}: the server refused the recipient: {code} {text}"
            ) from None
        except smtplib.SMTPResponseException as error:
            answer = error.smtp_error
            text = answer.decode(errors="replace") if isinstance(answer, bytes) else answer
            raise NotificationFailed(
                f"mail to {to}: the server answered {error.smtp_code} {text}"
            ) from None
        except (OSError, smtplib.SMTPException) as error:
            raise NotificationFailed(
                f"mail to {to}: cannot reach the SMTP server {self.host}:{self.port}: {error}"
            ) from None
        self.sent += 1

    async def send(
        self, to: str, subject: str, body: str, headers: dict[str, str] | None = None
    ) -> None:
        """Deliver one message to the SMTP server, or raise NotificationFailed."""
        await asyncio.to_thread(self._send, to, subject, body, dict(headers or {}))
