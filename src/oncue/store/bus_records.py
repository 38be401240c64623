"""The event bus's rows as frozen records, and how a record maps to its table's columns.

Each record's fields are named and ordered as its table's columns (migration 2 in
:mod:`oncue.store.schema`), so :func:`columns` and :func:`read` map rows both ways.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, TypeVar

__all__ = [
    "BusRecord",
    "DeadLetterRecord",
    "DeliveryClaim",
    "DeliveryKey",
    "NewDelivery",
    "QueueMessage",
    "RuleRecord",
    "TargetRecord",
    "columns",
    "read",
]

#: (event id, rule name, target id).
DeliveryKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class BusRecord:
    name: str
    description: str | None
    revision: str
    creation_time: float
    last_modified: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleRecord:
    bus: str
    name: str
    event_pattern: str | None
    schedule_expression: str | None
    state: str
    description: str | None = None
    role_arn: str | None = None
    managed_by: str | None = None
    created: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetRecord:
    """A target as PutTargets stored it; the option fields hold JSON text (or None)."""

    bus: str
    rule: str
    id: str
    arn: str
    input: str | None = None
    input_path: str | None = None
    input_transformer: str | None = None
    retry_policy: str | None = None
    dead_letter_config: str | None = None
    #: The other fields of the Target (RoleArn, SqsParameters...), as a JSON object.
    extra: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NewDelivery:
    event_id: str
    rule: str
    target_id: str
    bus: str
    #: ``handler``, ``state_machine``, ``bus`` or ``queue``; ``target`` is the handler name
    #: for handlers (what a dispatcher claims by), else the target ARN.
    kind: str
    target: str
    due: float
    attempt: int = 0
    owner: str | None = None
    lease_until: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryClaim:
    """A delivery a dispatcher holds a lease on, with its event."""

    event_id: str
    rule: str
    target_id: str
    bus: str
    kind: str
    target: str
    attempt: int
    envelope: str
    ingested: float
    lease_until: float
    #: The event's trace id ("" when it has none: stored before tracing).
    trace_id: str = ""

    @property
    def key(self) -> DeliveryKey:
        return (self.event_id, self.rule, self.target_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterRecord:
    id: int
    event_id: str
    bus: str
    rule: str
    target_id: str
    target_arn: str
    envelope: str
    ingested: float
    error_code: str
    error_message: str
    exhausted: str | None
    attempts: int
    created: float


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueMessage:
    id: int
    queue: str
    message_id: str
    body: str
    attributes: str | None
    sent: float
    visible_at: float
    receipt: str | None
    receive_count: int


R = TypeVar("R")


def columns(cls: type[Any]) -> str:
    """The table columns a record reads, named and ordered as its fields."""
    return ", ".join(f.name for f in fields(cls))


def read(cls: type[R], row: Sequence[Any]) -> R:
    return cls(**{f.name: value for f, value in zip(fields(cls), row, strict=True)})  # type: ignore[arg-type]
