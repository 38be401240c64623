"""The transport in one process's memory: the reference implementation and the test double.

It keeps the contract of :mod:`.base` exactly as JetStream does for one server: message-id
deduplication inside the window, per-consumer cursors, ``ack_wait`` and ``nak`` delays,
``max_deliver``, ``max_ack_pending``. Time is read from a :class:`~oncue.clock.Clock`, so with a
:class:`~oncue.clock.VirtualClock` a test moves past an ``ack_wait`` or a back-off by advancing
the clock, without waiting. Nothing survives the process: it is not a production transport.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from oncue.clock import Clock, SystemClock
from oncue.errors import TransportError
from oncue.transport.base import ConsumerConfig, Message, PublishAck, StreamConfig

__all__ = ["MemoryTransport", "subject_matches"]

#: How long a waiting fetch sleeps at most between looks at the clock.
_TICK = 0.05


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` one or more."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return index == len(wanted) - 1 and len(tokens) > index
        if index >= len(tokens) or (token != "*" and token != tokens[index]):
            return False
    return len(tokens) == len(wanted)


@dataclass(slots=True)
class _Stored:
    sequence: int
    subject: str
    payload: bytes
    msg_id: str


@dataclass(slots=True)
class _Pending:
    deliveries: int
    #: When it may be delivered again (ack_wait ran out, or the nak delay).
    due: float


@dataclass(slots=True)
class _Consumer:
    config: ConsumerConfig
    #: The next stream sequence to look at for a first delivery.
    cursor: int = 1
    pending: dict[int, _Pending] = field(default_factory=dict)


@dataclass(slots=True)
class _Stream:
    config: StreamConfig
    messages: dict[int, _Stored] = field(default_factory=dict)
    last: int = 0
    #: msg id -> (sequence, publish time).
    ids: dict[str, tuple[int, float]] = field(default_factory=dict)
    consumers: dict[str, _Consumer] = field(default_factory=dict)


class MemoryTransport:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._streams: dict[str, _Stream] = {}
        self._changed = asyncio.Event()

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _stream(self, name: str) -> _Stream:
        stream = self._streams.get(name)
        if stream is None:
            raise TransportError(f"stream {name} does not exist")
        return stream

    def _consumer(self, stream: str, durable: str) -> tuple[_Stream, _Consumer]:
        found = self._stream(stream)
        consumer = found.consumers.get(durable)
        if consumer is None:
            raise TransportError(f"consumer {durable} of stream {stream} does not exist")
        return found, consumer

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def ensure_stream(self, config: StreamConfig) -> None:
        for other in self._streams.values():
            if other.config.name == config.name:
                continue
            for subject in config.subjects:
                if any(_overlap(subject, theirs) for theirs in other.config.subjects):
                    raise TransportError(
                        f"subjects of stream {config.name} overlap stream {other.config.name}"
                    )
        stream = self._streams.get(config.name)
        if stream is None:
            self._streams[config.name] = _Stream(config=config)
        else:
            stream.config = config

    async def ensure_consumer(self, stream: str, config: ConsumerConfig) -> None:
        found = self._stream(stream)
        consumer = found.consumers.get(config.durable)
        if consumer is None:
            found.consumers[config.durable] = _Consumer(config=config)
        else:
            consumer.config = config

    async def publish(self, subject: str, payload: bytes, *, msg_id: str) -> PublishAck:
        now = self._now()
        for stream in self._streams.values():
            if any(subject_matches(s, subject) for s in stream.config.subjects):
                break
        else:
            raise TransportError(f"no stream stores subject {subject}")
        window = stream.config.duplicate_window
        for old, (_, when) in list(stream.ids.items()):
            if when + window <= now:
                del stream.ids[old]
        seen = stream.ids.get(msg_id)
        if seen is not None:
            return PublishAck(stream=stream.config.name, sequence=seen[0], duplicate=True)
        stream.last += 1
        stream.messages[stream.last] = _Stored(stream.last, subject, payload, msg_id)
        stream.ids[msg_id] = (stream.last, now)
        self._notify()
        return PublishAck(stream=stream.config.name, sequence=stream.last)

    def _take(self, stream: _Stream, consumer: _Consumer, batch: int) -> list[Message]:
        now = self._now()
        config = consumer.config
        taken: list[Message] = []
        for sequence in sorted(consumer.pending):
            if len(taken) >= batch:
                break
            state = consumer.pending[sequence]
            stored = stream.messages.get(sequence)
            if state.due > now:
                continue
            if stored is None or (0 < config.max_deliver <= state.deliveries):
                del consumer.pending[sequence]  # gone, or delivered all it may be
                continue
            state.deliveries += 1
            state.due = now + config.ack_wait
            taken.append(self._message(stream, consumer, stored, state.deliveries))
        while len(taken) < batch and len(consumer.pending) < config.max_ack_pending:
            if consumer.cursor > stream.last:
                break
            stored = stream.messages.get(consumer.cursor)
            consumer.cursor += 1
            if stored is None or not subject_matches(config.filter_subject, stored.subject):
                continue
            consumer.pending[stored.sequence] = _Pending(deliveries=1, due=now + config.ack_wait)
            taken.append(self._message(stream, consumer, stored, 1))
        return taken

    @staticmethod
    def _message(stream: _Stream, consumer: _Consumer, stored: _Stored, count: int) -> Message:
        return Message(
            subject=stored.subject,
            payload=stored.payload,
            msg_id=stored.msg_id,
            stream=stream.config.name,
            consumer=consumer.config.durable,
            sequence=stored.sequence,
            deliveries=count,
            handle=consumer,
        )

    async def fetch(self, stream: str, durable: str, batch: int, timeout: float) -> list[Message]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found, consumer = self._consumer(stream, durable)
            taken = self._take(found, consumer, batch)
            remaining = deadline - loop.time()
            if taken or remaining <= 0:
                return taken
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, _TICK))

    def _settle(self, message: Message) -> tuple[_Consumer, _Pending | None]:
        consumer = message.handle
        if not isinstance(consumer, _Consumer):
            raise TransportError("the message was not delivered by this transport")
        return consumer, consumer.pending.get(message.sequence)

    def _drop(self, message: Message) -> None:
        consumer, _ = self._settle(message)
        consumer.pending.pop(message.sequence, None)
        stream = self._streams.get(message.stream)
        if stream is not None and stream.config.work_queue:
            stream.messages.pop(message.sequence, None)

    async def ack(self, message: Message) -> None:
        self._drop(message)

    async def term(self, message: Message) -> None:
        self._drop(message)

    async def nak(self, message: Message, delay: float = 0.0) -> None:
        _, state = self._settle(message)
        if state is not None:
            state.due = self._now() + max(0.0, delay)
            self._notify()

    async def in_progress(self, message: Message) -> None:
        consumer, state = self._settle(message)
        if state is not None:
            state.due = self._now() + consumer.config.ack_wait

    async def delete_stream(self, name: str) -> None:
        self._streams.pop(name, None)

    async def close(self) -> None:
        self._notify()


def _overlap(first: str, second: str) -> bool:
    """Whether two subject filters can match one subject (a conservative check)."""
    return subject_matches(first, second.replace(">", "x").replace("*", "x")) or (
        subject_matches(second, first.replace(">", "x").replace("*", "x"))
    )
