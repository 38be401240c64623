"""Transports: how the event bus's traffic travels between processes.

:func:`open_transport` picks one from a URL (``ONCUE_NATS_URL``): ``nats://host:port`` (NATS
JetStream, :mod:`.jetstream`) or ``memory://`` (one process, :mod:`.memory`). Without a URL the
bus keeps its events in the database, as it always has.
"""

from __future__ import annotations

import os

from oncue.errors import InvalidInput
from oncue.transport.base import ConsumerConfig, Message, PublishAck, StreamConfig, Transport
from oncue.transport.memory import MemoryTransport

__all__ = [
    "NATS_URL_VARIABLE",
    "ConsumerConfig",
    "MemoryTransport",
    "Message",
    "PublishAck",
    "StreamConfig",
    "Transport",
    "open_transport",
    "transport_url",
]

NATS_URL_VARIABLE = "ONCUE_NATS_URL"


def transport_url() -> str | None:
    """The transport named by ``ONCUE_NATS_URL``; None (events stay in the database) when unset
    or empty."""
    return os.environ.get(NATS_URL_VARIABLE) or None


def open_transport(url: str) -> Transport:
    """The transport for ``url`` (connecting happens on first use)."""
    scheme = url.partition("://")[0].lower()
    if scheme in {"nats", "tls", "ws", "wss"}:
        from oncue.transport.jetstream import JetStreamTransport  # nats-py only when used

        return JetStreamTransport(url)
    if url == "memory://":
        return MemoryTransport()
    raise InvalidInput(
        f"{NATS_URL_VARIABLE}={url!r} is not a transport URL: use nats://HOST:PORT or memory://"
    )
