"""The pure building blocks of the event bus: no I/O, no clock, no randomness of their own.

- :mod:`oncue.patterns.entries` (re-exported): validate PutEvents entries, per entry as
  EventBridge reports them, and build the event envelope from an id, a time, a region and an
  account given by the caller;
- :mod:`.transform`: what a target receives (``Input``, ``InputPath``, ``InputTransformer``);
- :mod:`.schedule` and :mod:`.cron`: ``rate``, ``cron`` and ``at`` expressions, and
  :func:`next_fire`;
- :mod:`.retry`: a target's RetryPolicy (back-off with a jitter draw the caller makes) and its
  DeadLetterConfig.

The driver that routes and delivers events (with a store, a clock and a random source) builds
on these.
"""

from __future__ import annotations

from oncue.bus.cron import Cron, DaySpec
from oncue.bus.jsonpath import EventPath, compile_event_path
from oncue.bus.retry import (
    DEFAULT_MAXIMUM_EVENT_AGE_SECONDS,
    DEFAULT_MAXIMUM_RETRY_ATTEMPTS,
    EXHAUSTED_EVENT_AGE,
    EXHAUSTED_RETRY_ATTEMPTS,
    DeadLetterConfig,
    RetryPolicy,
    dead_letter_attributes,
)
from oncue.bus.schedule import At, Rate, Schedule, next_fire, parse_schedule
from oncue.bus.transform import (
    RESERVED_VARIABLES,
    InputTransformer,
    TargetInput,
    parse_input_transformer,
    parse_target_input,
    render_input,
)
from oncue.patterns.entries import (
    MAX_ENTRIES,
    MAX_REQUEST_BYTES,
    Entry,
    EntryError,
    EntryResult,
    build_envelope,
    entry_size,
    format_time,
    parse_time,
    put_events_response,
    validate_entries,
    validate_entry,
)

__all__ = [
    "DEFAULT_MAXIMUM_EVENT_AGE_SECONDS",
    "DEFAULT_MAXIMUM_RETRY_ATTEMPTS",
    "EXHAUSTED_EVENT_AGE",
    "EXHAUSTED_RETRY_ATTEMPTS",
    "MAX_ENTRIES",
    "MAX_REQUEST_BYTES",
    "RESERVED_VARIABLES",
    "At",
    "Cron",
    "DaySpec",
    "DeadLetterConfig",
    "Entry",
    "EntryError",
    "EntryResult",
    "EventPath",
    "InputTransformer",
    "Rate",
    "RetryPolicy",
    "Schedule",
    "TargetInput",
    "build_envelope",
    "compile_event_path",
    "dead_letter_attributes",
    "entry_size",
    "format_time",
    "next_fire",
    "parse_input_transformer",
    "parse_schedule",
    "parse_target_input",
    "parse_time",
    "put_events_response",
    "render_input",
    "validate_entries",
    "validate_entry",
]
