"""PutEvents entries: moved to :mod:`oncue.patterns.entries` (a pure module the engine shares,
so an execution's ``events:putEvents`` is validated as PutEvents validates); re-exported here
for code that imports it from the bus."""

from __future__ import annotations

from oncue.patterns.entries import (
    MAX_DETAIL_TYPE_LENGTH,
    MAX_ENTRIES,
    MAX_REQUEST_BYTES,
    TIME_BYTES,
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
    "MAX_DETAIL_TYPE_LENGTH",
    "MAX_ENTRIES",
    "MAX_REQUEST_BYTES",
    "TIME_BYTES",
    "Entry",
    "EntryError",
    "EntryResult",
    "build_envelope",
    "entry_size",
    "format_time",
    "parse_time",
    "put_events_response",
    "validate_entries",
    "validate_entry",
]
