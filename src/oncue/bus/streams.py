"""How the bus lays its deliveries out on JetStream, and what a failed delivery becomes (pure).

One stream (``ONCUE_EVENTS`` by default) holds every handler delivery in flight, one message
per (event, rule, target) — the same unit as a row of ``bus_deliveries`` — on the subject
``PREFIX.BUS.RULE.TARGET`` (each name one subject token, escaped: :func:`token`). Each target
has one durable pull consumer filtered on its subject (:meth:`Layout.durable`), shared by every
process that has the target's handler, so targets are independent of each other and the
processes share each target's work. The stream is a work queue: a message is deleted once its
consumer acks it (delivered or dead-lettered).

A message's id (``Nats-Msg-Id``) is derived from the event id and the delivery row it was relayed
from (:func:`message_id`), so publishing one row twice (a relay that crashed after publishing and
before deleting the row) stores one message, while a dead letter redriven later (a new row, due
later) is a new message.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from oncue.asl.jsonutil import dumps, loads
from oncue.bus.handlers import Failure
from oncue.bus.retry import RetryPolicy
from oncue.errors import InvalidInput
from oncue.transport.base import ConsumerConfig, StreamConfig

__all__ = [
    "DEFAULT_PREFIX",
    "DEFAULT_STREAM",
    "Decision",
    "Layout",
    "Relayed",
    "decide",
    "layout_from_environment",
    "message_id",
    "token",
]

DEFAULT_STREAM: Final = "ONCUE_EVENTS"
DEFAULT_PREFIX: Final = "oncue.events"
#: Characters a subject token keeps as they are; the rest are %-escaped (``.`` separates tokens,
#: ``*`` and ``>`` are wildcards, whitespace ends a subject).
_PLAIN: Final = re.compile(r"[A-Za-z0-9_\-/]")
_DURABLE_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_\-]")


def token(name: str) -> str:
    """``name`` as one NATS subject token: ``orders.eu`` becomes ``orders%2Eeu``."""
    return "".join(c if _PLAIN.fullmatch(c) else f"%{ord(c):02X}" for c in name)


def message_id(event_id: str, rule: str, target_id: str, due: float) -> str:
    return f"{event_id}/{rule}/{target_id}/{due:.6f}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Layout:
    stream: str = DEFAULT_STREAM
    prefix: str = DEFAULT_PREFIX
    #: Seconds a message id is remembered; must exceed the relay's lease (a crashed relay's
    #: rows are published again once their lease runs out).
    duplicate_window: float = 600.0
    storage: Literal["file", "memory"] = "file"
    replicas: int = 1

    def subject(self, bus: str, rule: str, target_id: str) -> str:
        return f"{self.prefix}.{token(bus)}.{token(rule)}.{token(target_id)}"

    def durable(self, bus: str, rule: str, target_id: str) -> str:
        """A durable name (no ``.``, ``*``, ``>``, ``/``, whitespace): readable, and unique by
        the hash of the three names."""
        digest = hashlib.sha256(f"{bus}\0{rule}\0{target_id}".encode()).hexdigest()[:16]
        readable = _DURABLE_UNSAFE.sub("_", f"{bus}_{rule}_{target_id}")[:48]
        return f"{readable}_{digest}"

    def stream_config(self) -> StreamConfig:
        return StreamConfig(
            name=self.stream,
            subjects=(f"{self.prefix}.>",),
            duplicate_window=self.duplicate_window,
            storage=self.storage,
            replicas=self.replicas,
            work_queue=True,
        )

    def consumer_config(
        self, bus: str, rule: str, target_id: str, *, ack_wait: float, max_ack_pending: int
    ) -> ConsumerConfig:
        # max_deliver stays unlimited: the driver dead-letters when the RetryPolicy runs out,
        # so the server never drops a message on its own.
        return ConsumerConfig(
            durable=self.durable(bus, rule, target_id),
            filter_subject=self.subject(bus, rule, target_id),
            ack_wait=ack_wait,
            max_deliver=-1,
            max_ack_pending=max_ack_pending,
        )


def layout_from_environment(environ: Mapping[str, str]) -> Layout:
    """The layout the ``ONCUE_NATS_*`` variables ask for: ``ONCUE_NATS_STREAM`` (stream name),
    ``ONCUE_NATS_SUBJECT_PREFIX``, ``ONCUE_NATS_STORAGE`` (``file`` or ``memory``),
    ``ONCUE_NATS_REPLICAS`` (1 to 5) and ``ONCUE_NATS_DUPLICATE_WINDOW`` (seconds)."""
    stream = environ.get("ONCUE_NATS_STREAM") or DEFAULT_STREAM
    if not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", stream):
        raise InvalidInput(
            f"ONCUE_NATS_STREAM={stream!r} is not a stream name (letters, digits, _ and -)"
        )
    prefix = environ.get("ONCUE_NATS_SUBJECT_PREFIX") or DEFAULT_PREFIX
    if not re.fullmatch(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*", prefix):
        raise InvalidInput(
            f"ONCUE_NATS_SUBJECT_PREFIX={prefix!r} is not a subject prefix (tokens of letters, "
            "digits, _ and -, separated by dots)"
        )
    storage = environ.get("ONCUE_NATS_STORAGE") or "file"
    if storage not in ("file", "memory"):
        raise InvalidInput(f"ONCUE_NATS_STORAGE={storage!r} must be file or memory")
    replicas = _number(environ, "ONCUE_NATS_REPLICAS", "1")
    if replicas not in (1, 2, 3, 4, 5):
        raise InvalidInput(f"ONCUE_NATS_REPLICAS={replicas:g} must be a whole number from 1 to 5")
    window = _number(environ, "ONCUE_NATS_DUPLICATE_WINDOW", "600")
    if not window > 0:
        raise InvalidInput(f"ONCUE_NATS_DUPLICATE_WINDOW={window:g} must be a positive number")
    return Layout(
        stream=stream,
        prefix=prefix,
        duplicate_window=window,
        storage="memory" if storage == "memory" else "file",
        replicas=int(replicas),
    )


def _number(environ: Mapping[str, str], name: str, default: str) -> float:
    text = environ.get(name) or default
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"{name}={text!r} is not a number") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Relayed:
    """What one message carries: the delivery row and its event."""

    event_id: str
    bus: str
    rule: str
    target_id: str
    envelope: str
    ingested: float
    #: The event's trace ("" for an event stored before tracing).
    trace_id: str = ""

    def encode(self) -> bytes:
        return dumps(
            {
                "event_id": self.event_id,
                "bus": self.bus,
                "rule": self.rule,
                "target_id": self.target_id,
                "envelope": self.envelope,
                "ingested": self.ingested,
                "trace_id": self.trace_id,
            }
        ).encode()

    @classmethod
    def decode(cls, payload: bytes) -> Relayed:
        try:
            document = loads(payload.decode())
            if not isinstance(document, dict):
                raise TypeError("not an object")
            ingested = document["ingested"]
            trace_id = document.get("trace_id", "")
            fields = [document[k] for k in ("event_id", "bus", "rule", "target_id", "envelope")]
            if (
                not all(isinstance(f, str) for f in fields)
                or not isinstance(ingested, int | float)
                or not isinstance(trace_id, str)
            ):
                raise TypeError("a field has the wrong type")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
            raise InvalidInput(f"not a relayed delivery: {error}") from error
        event_id, bus, rule, target_id, envelope = (str(f) for f in fields)
        return cls(
            event_id=event_id,
            bus=bus,
            rule=rule,
            target_id=target_id,
            envelope=envelope,
            ingested=float(ingested),
            trace_id=str(trace_id),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """A failed delivery is retried after ``delay`` seconds, or dead-lettered."""

    retry: bool
    delay: float = 0.0
    #: Failed deliveries so far (this one included).
    attempts: int = 0
    #: The RetryPolicy limit that ran out (dead-lettered only; None: not retryable).
    exhausted: str | None = None


def decide(
    policy: RetryPolicy, failure: Failure, deliveries: int, age: float, draw: float
) -> Decision:
    """The fate of delivery number ``deliveries`` (1 = first) that failed, for an event ``age``
    seconds old: the same rules as the database path (:func:`oncue.bus.delivery.settle`). A
    delivery lost to a crash counts here, as JetStream counts every delivery."""
    exhausted = policy.exhausted(deliveries, age) if failure.retryable else None
    if failure.retryable and exhausted is None:
        delay = policy.next_delay(deliveries, min(draw, 0.999_999))
        return Decision(retry=True, delay=delay, attempts=deliveries)
    return Decision(retry=False, attempts=deliveries, exhausted=exhausted)
