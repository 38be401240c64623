"""PutEvents request entries: validate them the way EventBridge does, and build the envelope.

Two kinds of failure, as the PutEvents API reference describes them:

- the *request* fails (:class:`~oncue.errors.InvalidInput`, EventBridge's
  ``ValidationException``) when ``Entries`` is not an array of 1 to 10 entries
  (``PutEventsRequestEntryList``), when a field breaks its shape constraint (``EventBusName``,
  ``TraceHeader``), when the entries together are too large ("The total entry size must be less
  than 256KB", *Calculating PutEvents event entry size*), or when no entry at all has
  ``Source``, ``DetailType`` and ``Detail`` ("If you submit a request in which none of the
  entries have each of these properties, EventBridge fails the entire request");
- one *entry* fails and the others go on ("By default, if an individual entry within a request
  fails, EventBridge continues processing the rest of the entries", *Handling failures with
  PutEvents*): its result carries ``ErrorCode`` and ``ErrorMessage`` (PutEventsResultEntry:
  ``InvalidArgument``, ``MalformedDetail``, ``NotAuthorizedForSourceException`` ...).

The engine validates an execution's ``events:putEvents`` entries with the same functions (so
this module is pure and sits below both drivers).

The error messages are those EventBridge returns (``Parameter Source is not valid. Reason:
Source is a required argument.``, ``Detail is malformed.``). Nothing here draws an id or reads a
clock: :func:`build_envelope` takes both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, NoReturn

from oncue.errors import ValidationException
from oncue.types import Json

__all__ = [
    "MAX_DETAIL_TYPE_LENGTH",
    "MAX_ENTRIES",
    "MAX_REQUEST_BYTES",
    "TIME_BYTES",
    "Entry",
    "EntryError",
    "EntryResult",
    "build_envelope",
    "bus_of",
    "entry_size",
    "format_time",
    "parse_time",
    "put_events_response",
    "validate_entries",
    "validate_entry",
]

#: PutEventsRequestEntryList: "min": 1, "max": 10.
MAX_ENTRIES: Final = 10
#: "The total entry size must be less than 256KB" (*Calculating PutEvents event entry size*).
MAX_REQUEST_BYTES: Final = 256 * 1024
#: "If specified, the Time parameter is 14 bytes."
TIME_BYTES: Final = 14
#: DetailType: "Free-form string, with a maximum of 128 characters".
MAX_DETAIL_TYPE_LENGTH: Final = 128
#: TraceHeader: "min": 1, "max": 500.
_MAX_TRACE_HEADER: Final = 500
#: NonPartnerEventBusNameOrArn: "min": 1, "max": 1600, and this pattern.
_MAX_BUS_NAME: Final = 1600
_BUS_NAME: Final = re.compile(
    r"(arn:aws[\w-]*:events:[a-z]{2}-[a-z]+-[\w-]+:[0-9]{12}:event-bus/)?[.\-_A-Za-z0-9]+"
)
#: "For the JSON number (integer) data type, the constraints are: a minimum value of
#: -9,223,372,036,854,775,808 and a maximum value of 9,223,372,036,854,775,807" (PutEvents).
_INT64: Final = range(-(2**63), 2**63)
#: Sources of AWS services; a custom PutEvents may not use them.
_AWS_SOURCE_PREFIX: Final = "aws."


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryError:
    """Why one entry failed, as a PutEventsResultEntry reports it."""

    code: str
    message: str

    def to_result(self) -> dict[str, str]:
        return {"ErrorCode": self.code, "ErrorMessage": self.message}


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """A valid PutEventsRequestEntry, its ``Detail`` parsed."""

    source: str
    detail_type: str
    detail: dict[str, Json]
    resources: tuple[str, ...] = ()
    time: datetime | None = None
    event_bus_name: str | None = None
    trace_header: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryResult:
    """The outcome for the entry at ``index`` of the request: exactly one of the two is set."""

    index: int
    entry: Entry | None = None
    error: EntryError | None = None

    @property
    def ok(self) -> bool:
        return self.entry is not None


def _request_invalid(message: str) -> NoReturn:
    raise ValidationException(message)


def _argument(name: str, reason: str) -> EntryError:
    return EntryError(
        code="InvalidArgument", message=f"Parameter {name} is not valid. Reason: {reason}"
    )


def entry_size(entry: Mapping[str, Json]) -> int:
    """The size EventBridge counts for an entry (*Calculating PutEvents event entry size*): 14
    bytes for ``Time`` if given, and the UTF-8 bytes of ``Source``, ``DetailType``, ``Detail``
    and each ``Resources`` string. Fields of the wrong type count nothing (they fail anyway)."""
    size = TIME_BYTES if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        value = entry.get(name)
        if isinstance(value, str):
            size += len(value.encode("utf-8"))
    resources = entry.get("Resources")
    if isinstance(resources, list | tuple):
        size += sum(len(r.encode("utf-8")) for r in resources if isinstance(r, str))
    return size


def validate_entries(entries: Json, *, allow_aws_sources: bool = False) -> list[EntryResult]:
    """Check a PutEvents ``Entries`` array: raise :class:`ValidationException` when the whole
    request fails, else return one :class:`EntryResult` per entry, in order.

    ``allow_aws_sources`` lets oncue itself publish ``aws.*`` events (Step Functions status
    changes, scheduled events); a PutEvents call from a user may not.
    """
    if entries is None:
        _request_invalid(
            "1 validation error detected: Value null at 'entries' failed to satisfy "
            "constraint: Member must not be null"
        )
    if not isinstance(entries, list | tuple):
        _request_invalid("Parameter Entries is not valid. Reason: Entries must be an array.")
    if not entries:
        _request_invalid(
            "1 validation error detected: Value '[]' at 'entries' failed to satisfy "
            "constraint: Member must have length greater than or equal to 1"
        )
    if len(entries) > MAX_ENTRIES:
        _request_invalid(
            "1 validation error detected: Value at 'entries' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_ENTRIES}"
        )
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, Mapping):
            _request_invalid(
                f"Parameter Entries is not valid. Reason: entry {number} is not an object."
            )
        _check_shapes(entry, number)
    if sum(entry_size(entry) for entry in entries) >= MAX_REQUEST_BYTES:
        _request_invalid("Total size of the entries in the request is over the limit.")
    if not any(
        all(entry.get(name) for name in ("Source", "DetailType", "Detail")) for entry in entries
    ):
        _request_invalid(
            "Parameter Entries is not valid. Reason: no entry has all of Source, DetailType "
            "and Detail."
        )
    results = []
    for index, entry in enumerate(entries):
        checked = validate_entry(entry, allow_aws_sources=allow_aws_sources)
        if isinstance(checked, Entry):
            results.append(EntryResult(index=index, entry=checked))
        else:
            results.append(EntryResult(index=index, error=checked))
    return results


def _check_shapes(entry: Mapping[str, Json], number: int) -> None:
    """The member constraints of the API model, which fail the whole request."""
    where = f"entries.{number}.member"
    bus = entry.get("EventBusName")
    if bus is not None:
        if not isinstance(bus, str) or not 1 <= len(bus) <= _MAX_BUS_NAME:
            _request_invalid(
                f"1 validation error detected: Value at '{where}.eventBusName' failed to satisfy "
                f"constraint: Member must have length between 1 and {_MAX_BUS_NAME}"
            )
        if not _BUS_NAME.fullmatch(bus):
            _request_invalid(
                f"1 validation error detected: Value '{bus}' at '{where}.eventBusName' failed to "
                f"satisfy constraint: Member must satisfy regular expression pattern: "
                f"{_BUS_NAME.pattern}"
            )
    trace = entry.get("TraceHeader")
    if trace is not None and (
        not isinstance(trace, str) or not 1 <= len(trace) <= _MAX_TRACE_HEADER
    ):
        _request_invalid(
            f"1 validation error detected: Value at '{where}.traceHeader' failed to satisfy "
            f"constraint: Member must have length between 1 and {_MAX_TRACE_HEADER}"
        )


def validate_entry(
    entry: Mapping[str, Json], *, allow_aws_sources: bool = False
) -> Entry | EntryError:
    """One entry: the parsed :class:`Entry`, or the error PutEvents reports for it. The checks
    run in EventBridge's order: Source, DetailType, Detail are required, then their content."""
    source = entry.get("Source")
    if not source:
        return _argument("Source", "Source is a required argument.")
    detail_type = entry.get("DetailType")
    if not detail_type:
        return _argument("DetailType", "DetailType is a required argument.")
    detail_text = entry.get("Detail")
    if not detail_text:
        return _argument("Detail", "Detail is a required argument.")
    if not isinstance(source, str):
        return _argument("Source", "Source must be a string.")
    if not isinstance(detail_type, str):
        return _argument("DetailType", "DetailType must be a string.")
    if len(detail_type) > MAX_DETAIL_TYPE_LENGTH:
        return _argument(
            "DetailType", f"DetailType is longer than {MAX_DETAIL_TYPE_LENGTH} characters."
        )
    if source.startswith(_AWS_SOURCE_PREFIX) and not allow_aws_sources:
        return EntryError(
            code="NotAuthorizedForSourceException", message="Not authorized for the source."
        )
    detail = _parse_detail(detail_text)
    if detail is None:
        return EntryError(code="MalformedDetail", message="Detail is malformed.")
    resources = entry.get("Resources")
    if resources is None:
        resources = []
    if not isinstance(resources, list | tuple) or not all(isinstance(r, str) for r in resources):
        return _argument("Resources", "Resources must be an array of strings.")
    moment = entry.get("Time")
    time: datetime | None = None
    if moment is not None:
        time = parse_time(moment)
        if time is None:
            return _argument("Time", "Time must be an RFC 3339 timestamp.")
    if entry_size(entry) >= MAX_REQUEST_BYTES:
        return _argument("Entries", "the entry is larger than 256 KB.")
    bus = entry.get("EventBusName")
    trace = entry.get("TraceHeader")
    return Entry(
        source=source,
        detail_type=detail_type,
        detail=detail,
        resources=tuple(resources),
        time=time,
        event_bus_name=bus if isinstance(bus, str) else None,
        trace_header=trace if isinstance(trace, str) else None,
    )


class _Malformed(Exception):
    pass


def _int64(text: str) -> int:
    value = int(text)
    if value not in _INT64:
        raise _Malformed
    return value


def _no_constant(_: str) -> NoReturn:
    raise _Malformed  # NaN and Infinity are not JSON


def _parse_detail(text: Json) -> dict[str, Json] | None:
    """``Detail`` is "A valid JSON object" given as a string; anything else is malformed."""
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text, parse_int=_int64, parse_constant=_no_constant)
    except (ValueError, _Malformed, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def parse_time(value: Json | datetime) -> datetime | None:
    """An entry's ``Time`` as an aware UTC datetime: an RFC 3339 string, epoch seconds (what
    the AWS JSON protocol sends), or a datetime (naive ones are taken as UTC). None if invalid."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    elif isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("z", "Z"):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """The envelope's ``time``: UTC to the second, as EventBridge writes it
    (``"2015-11-11T21:29:54Z"``). Naive datetimes are taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_envelope(
    entry: Entry, *, event_id: str, ingestion_time: datetime, region: str, account: str
) -> dict[str, Json]:
    """The event as rules and targets see it (*Amazon EventBridge events*): ``time`` is the
    entry's ``Time``, or the time of the PutEvents call when it has none."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": entry.detail_type,
        "source": entry.source,
        "account": account,
        "time": format_time(entry.time or ingestion_time),
        "region": region,
        "resources": list(entry.resources),
        "detail": entry.detail,
    }


def bus_of(entry: Entry) -> str:
    """The name of the bus an entry goes to: its ``EventBusName`` (a name or an ARN, already
    checked against the pattern), else the default bus."""
    name = entry.event_bus_name
    if not name:
        return "default"
    return name.split(":event-bus/", 1)[1] if name.startswith("arn:") else name


def put_events_response(
    results: Sequence[EntryResult], event_ids: Iterable[str]
) -> dict[str, Json]:
    """The PutEvents response: one result per entry, in request order; ``event_ids`` gives the
    id of each accepted entry in turn."""
    ids = iter(event_ids)
    entries: list[Json] = []
    failed = 0
    for result in results:
        if result.error is not None:
            failed += 1
            entries.append(result.error.to_result())
        else:
            entries.append({"EventId": next(ids)})
    return {"FailedEntryCount": failed, "Entries": entries}
