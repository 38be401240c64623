"""A local SMTP server that keeps what it receives (aiosmtpd), for the demo and the tests.

It speaks real SMTP on 127.0.0.1, so the mail takes the same path it would to a real server.
``refuse_first`` lists recipients whose first delivery attempt is answered with a temporary
failure (``451 4.3.0``), the way a greylisting server does — which is how the tests and the
simulator exercise the flow's notification retries.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller

__all__ = ["MailSink", "ReceivedMail"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivedMail:
    to: tuple[str, ...]
    sender: str
    subject: str
    body: str
    headers: dict[str, str]
    received_at: float

    def json(self) -> dict[str, Any]:
        return {
            "to": list(self.to),
            "from": self.sender,
            "subject": self.subject,
            "body": self.body,
            "headers": self.headers,
            "receivedAt": self.received_at,
        }


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.sink.take_refusal(address):
            self.sink.refused += 1
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        mail = ReceivedMail(
            to=tuple(envelope.rcpt_tos),
            sender=envelope.mail_from,
            subject=str(message.get("Subject", "")),
            body=str(text),
            headers={k: str(v) for k, v in message.items()},
            received_at=time.time(),
        )
        self.sink.keep(mail)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MailSink:
    """An SMTP server on 127.0.0.1 that stores the mail it accepts."""

    def __init__(self, *, port: int = 0, refuse_first: Iterable[str] = ()) -> None:
        self.host = "127.0.0.1"
        self.port = port or _free_port()
        self.received: list[ReceivedMail] = []
        self.refused = 0
        self._refuse = {a.lower() for a in refuse_first}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[ReceivedMail], None]] = []
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def refuse_first_attempt(self, *addresses: str) -> None:
        with self._lock:
            self._refuse.update(a.lower() for a in addresses)

    def take_refusal(self, address: str) -> bool:
        with self._lock:
            if address.lower() in self._refuse:
                self._refuse.discard(address.lower())
                return True
            return False

    def on_mail(self, listener: Callable[[ReceivedMail], None]) -> None:
        self._listeners.append(listener)

    def keep(self, mail: ReceivedMail) -> None:
        with self._lock:
            self.received.append(mail)
        for listener in self._listeners:
            listener(mail)

    def to(self, address: str) -> list[ReceivedMail]:
        with self._lock:
            return [m for m in self.received if address in m.to]

    def start(self) -> MailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
