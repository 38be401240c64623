"""Execution history in the exact shape of Step Functions' GetExecutionHistory ``events``.

Each event is ``{"timestamp", "type", "id", "previousEventId", "<details key>": {...}}``.
The details key is derived from the type the way the API names it (``TaskScheduled`` ->
``taskScheduledEventDetails``), except that every ``*StateEntered`` / ``*StateExited`` type
shares ``stateEnteredEventDetails`` / ``stateExitedEventDetails``. Payloads inside details
are compact JSON strings, as the API returns them.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

__all__ = ["EventLog", "details_key", "format_time"]

#: Event types that carry no details object (API reference, HistoryEvent).
_NO_DETAILS = frozenset(
    {
        "LambdaFunctionStarted",
        "ParallelStateStarted",
        "ParallelStateSucceeded",
        "ParallelStateFailed",
        "ParallelStateAborted",
        "MapStateSucceeded",
        "MapStateFailed",
        "MapStateAborted",
        "WaitStateAborted",
        "TaskStateAborted",
    }
)


@lru_cache(maxsize=256)
def details_key(event_type: str) -> str | None:
    if event_type in _NO_DETAILS:
        return None
    if event_type.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if event_type.endswith("StateExited"):
        return "stateExitedEventDetails"
    return event_type[0].lower() + event_type[1:] + "EventDetails"


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as the context object's times are written."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class EventLog:
    """Appends events with consecutive ids. ``now`` is set by the interpreter per step."""

    __slots__ = ("_stamp", "events", "last_id")

    def __init__(self, last_id: int, now: datetime) -> None:
        self.events: list[dict[str, Any]] = []
        self.last_id = last_id
        self._stamp = now.isoformat(timespec="milliseconds")

    def add(self, event_type: str, previous: int, details: dict[str, Any] | None = None) -> int:
        self.last_id += 1
        event: dict[str, Any] = {
            "timestamp": self._stamp,
            "type": event_type,
            "id": self.last_id,
            "previousEventId": previous,
        }
        key = details_key(event_type)
        if key is not None and details is not None:
            event[key] = details
        self.events.append(event)
        return self.last_id
