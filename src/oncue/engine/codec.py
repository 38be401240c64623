"""Interpreter events as JSON text, for the inbox of a durable execution.

Every event in :mod:`oncue.asl.commands` is a flat frozen dataclass of JSON values; it is
stored as ``{"type": ClassName, ...fields}``. Decoding rejects unknown types with a
:class:`~oncue.errors.StoreError` instead of guessing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from oncue.asl import commands
from oncue.asl.jsonutil import dumps, loads
from oncue.errors import StoreError

__all__ = ["decode_event", "encode_event"]

_EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        commands.Start,
        commands.TaskStarted,
        commands.TaskSubmitted,
        commands.TaskSucceeded,
        commands.TaskFailed,
        commands.TaskHeartbeat,
        commands.TimerFired,
        commands.Stop,
        commands.Redrive,
    )
}


def encode_event(event: commands.Event) -> str:
    document: dict[str, Any] = {"type": type(event).__name__}
    for f in dataclasses.fields(event):
        document[f.name] = getattr(event, f.name)
    return dumps(document)


def decode_event(text: str) -> commands.Event:
    document = loads(text)
    cls = _EVENT_TYPES.get(document.pop("type", None)) if isinstance(document, dict) else None
    if cls is None:
        raise StoreError(f"unreadable inbox message: {text[:200]}")
    try:
        event: commands.Event = cls(**document)
    except TypeError as error:
        raise StoreError(f"unreadable inbox message ({error}): {text[:200]}") from None
    return event
