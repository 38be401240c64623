"""The transport contract: how the bus's events travel between processes.

A :class:`Transport` is a persistent, subject-addressed log with durable consumers, shaped after
NATS JetStream (the production implementation, :mod:`.jetstream`); :mod:`.memory` is the
reference implementation and the test double, and the contract suite
(``tests/contracts/test_transport.py``) runs against both.

- A **stream** stores every message published on its subjects. A publish carries a message id;
  a second publish with the same id inside the stream's ``duplicate_window`` is acknowledged as a
  duplicate and not stored again (JetStream's ``Nats-Msg-Id`` deduplication), so a publisher that
  crashed between publishing and recording it can simply publish again.
- A **durable consumer** is a named cursor over the messages of one filter subject, shared by
  every process that fetches from it (work is distributed, not copied). Delivery is at least
  once with explicit acks: a message fetched and not acked within ``ack_wait`` is delivered
  again; :meth:`Transport.nak` asks for a redelivery after a delay (the back-off);
  :meth:`Transport.term` stops redelivery; :meth:`Transport.in_progress` restarts the
  ``ack_wait`` clock of a message still being worked on. After ``max_deliver`` deliveries
  (-1: no limit) a message is not delivered again.
- Consumers are independent: what one acks, naks or leaves pending never holds up another.
- Order: one consumer hands out first deliveries in stream order; redeliveries come when due,
  so order holds only while nothing is redelivered and one fetcher works at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = ["ConsumerConfig", "Message", "PublishAck", "StreamConfig", "Transport"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamConfig:
    name: str
    subjects: tuple[str, ...]
    #: Seconds during which a message id already published is refused as a duplicate.
    duplicate_window: float = 600.0
    #: ``file`` survives a server restart; ``memory`` does not (see docs/nats.md).
    storage: Literal["file", "memory"] = "file"
    replicas: int = 1
    #: Seconds a message is kept at most; 0 keeps it until it is consumed.
    max_age: float = 0.0
    #: A work queue deletes a message once it is acked (each subject has one consumer).
    work_queue: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsumerConfig:
    durable: str
    filter_subject: str
    #: Seconds a fetched message may stay unacked before it is delivered again.
    ack_wait: float = 30.0
    #: Deliveries at most (-1: no limit).
    max_deliver: int = -1
    #: Messages delivered and not yet acked at most; fetches return nothing more until acks.
    max_ack_pending: int = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishAck:
    stream: str
    sequence: int
    #: The message id had been published already: nothing new was stored.
    duplicate: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """One delivery of a stored message to a consumer."""

    subject: str
    payload: bytes
    msg_id: str | None
    stream: str
    consumer: str
    #: The message's sequence number in its stream.
    sequence: int
    #: 1 on the first delivery, 2 on the first redelivery...
    deliveries: int
    #: What the implementation acks by.
    handle: object = field(default=None, compare=False, repr=False)


class Transport(Protocol):
    async def ensure_stream(self, config: StreamConfig) -> None:
        """Create the stream, or update it to ``config`` (idempotent, safe to race)."""
        ...

    async def ensure_consumer(self, stream: str, config: ConsumerConfig) -> None:
        """Create the durable consumer, or update it to ``config`` (idempotent)."""
        ...

    async def publish(self, subject: str, payload: bytes, *, msg_id: str) -> PublishAck:
        """Store the message once the stream has it (returns after the server's ack)."""
        ...

    async def fetch(self, stream: str, durable: str, batch: int, timeout: float) -> list[Message]:
        """Up to ``batch`` messages, waiting up to ``timeout`` seconds for the first."""
        ...

    async def ack(self, message: Message) -> None: ...

    async def nak(self, message: Message, delay: float = 0.0) -> None: ...

    async def term(self, message: Message) -> None: ...

    async def in_progress(self, message: Message) -> None: ...

    async def delete_stream(self, name: str) -> None:
        """Remove the stream and its consumers (nothing when it does not exist)."""
        ...

    async def close(self) -> None: ...
