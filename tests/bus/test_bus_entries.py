"""PutEvents entries: request-level and per-entry validation, sizes, the envelope, the response.

Examples come from the EventBridge user guide (*Adding events with PutEvents*, *Calculating
PutEvents event entry size*) and the PutEvents / PutEventsResultEntry API reference.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncue.bus import (
    MAX_REQUEST_BYTES,
    Entry,
    EntryError,
    build_envelope,
    entry_size,
    format_time,
    parse_time,
    put_events_response,
    validate_entries,
    validate_entry,
)
from oncue.errors import InvalidInput

#: The AWS CLI example of *Sending events using the AWS CLI*.
CLI_ENTRY: dict[str, Any] = {
    "Time": "2016-01-14T01:02:03Z",
    "Source": "com.mycompany.myapp",
    "Resources": ["resource1", "resource2"],
    "DetailType": "myDetailType",
    "Detail": '{ "key1": "value1", "key2": "value2" }',
}


def entry(**changes: Any) -> dict[str, Any]:
    document = dict(CLI_ENTRY)
    for name, value in changes.items():
        if value is None:
            document.pop(name, None)
        else:
            document[name] = value
    return document


def test_the_cli_example_entry_is_valid() -> None:
    (result,) = validate_entries([CLI_ENTRY])
    assert result.ok and result.error is None
    assert result.entry == Entry(
        source="com.mycompany.myapp",
        detail_type="myDetailType",
        detail={"key1": "value1", "key2": "value2"},
        resources=("resource1", "resource2"),
        time=datetime(2016, 1, 14, 1, 2, 3, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("Source", "Parameter Source is not valid. Reason: Source is a required argument."),
        (
            "DetailType",
            "Parameter DetailType is not valid. Reason: DetailType is a required argument.",
        ),
        ("Detail", "Parameter Detail is not valid. Reason: Detail is a required argument."),
    ],
)
def test_a_missing_required_field_fails_that_entry_only(missing: str, message: str) -> None:
    results = validate_entries([CLI_ENTRY, entry(**{missing: None}), CLI_ENTRY])
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error == EntryError(code="InvalidArgument", message=message)
    assert [r.index for r in results] == [0, 1, 2]


def test_an_empty_source_counts_as_missing() -> None:
    error = validate_entry(entry(Source=""))
    assert isinstance(error, EntryError)
    assert error.message.startswith("Parameter Source is not valid.")


@pytest.mark.parametrize(
    "detail", ["not json at all", "[1, 2, 3]", '"a string"', "42", "{", '{"n": NaN}']
)
def test_a_detail_that_is_not_a_json_object_is_malformed(detail: str) -> None:
    assert validate_entry(entry(Detail=detail)) == EntryError(
        code="MalformedDetail", message="Detail is malformed."
    )


def test_integers_beyond_int64_are_malformed() -> None:
    assert isinstance(validate_entry(entry(Detail='{"n": 9223372036854775807}')), Entry)
    error = validate_entry(entry(Detail='{"n": 9223372036854775808}'))
    assert isinstance(error, EntryError) and error.code == "MalformedDetail"


def test_detail_type_longer_than_128_characters_fails() -> None:
    assert isinstance(validate_entry(entry(DetailType="x" * 128)), Entry)
    error = validate_entry(entry(DetailType="x" * 129))
    assert isinstance(error, EntryError)
    assert error.code == "InvalidArgument" and "DetailType" in error.message


def test_aws_sources_are_reserved_unless_allowed() -> None:
    error = validate_entry(entry(Source="aws.states"))
    assert isinstance(error, EntryError) and error.code == "NotAuthorizedForSourceException"
    assert isinstance(validate_entry(entry(Source="aws.states"), allow_aws_sources=True), Entry)


def test_resources_must_be_strings() -> None:
    error = validate_entry(entry(Resources=["ok", 3]))
    assert isinstance(error, EntryError) and "Resources" in error.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2016-01-14T01:02:03Z", datetime(2016, 1, 14, 1, 2, 3, tzinfo=UTC)),
        ("2016-01-14T03:02:03+02:00", datetime(2016, 1, 14, 1, 2, 3, tzinfo=UTC)),
        (1452733323, datetime(2016, 1, 14, 1, 2, 3, tzinfo=UTC)),
        (datetime(2016, 1, 14, 1, 2, 3), datetime(2016, 1, 14, 1, 2, 3, tzinfo=UTC)),
        ("yesterday", None),
        (True, None),
    ],
)
def test_time_forms(value: Any, expected: datetime | None) -> None:
    assert parse_time(value) == expected


def test_a_bad_time_fails_the_entry() -> None:
    error = validate_entry(entry(Time="not a time"))
    assert isinstance(error, EntryError) and error.message.startswith("Parameter Time")


@pytest.mark.parametrize("count", [0, 11])
def test_entries_must_number_one_to_ten(count: int) -> None:
    with pytest.raises(InvalidInput, match="1 validation error detected"):
        validate_entries([CLI_ENTRY] * count)


def test_ten_entries_are_accepted() -> None:
    assert len(validate_entries([CLI_ENTRY] * 10)) == 10


@pytest.mark.parametrize("entries", [None, "x", {"Source": "a"}, [1]])
def test_entries_must_be_an_array_of_objects(entries: Any) -> None:
    with pytest.raises(InvalidInput):
        validate_entries(entries)


def test_a_request_where_no_entry_is_complete_fails_as_a_whole() -> None:
    with pytest.raises(InvalidInput, match="no entry has all of Source, DetailType and Detail"):
        validate_entries([entry(Source=None), entry(Detail=None)])


def test_entry_size_as_documented() -> None:
    # 14 for Time, then the UTF-8 bytes of Source, DetailType, Detail and each resource.
    expected = 14 + 19 + 12 + len(CLI_ENTRY["Detail"]) + 9 + 9
    assert entry_size(CLI_ENTRY) == expected
    assert entry_size(entry(Time=None)) == expected - 14
    assert entry_size(entry(Source="é")) == expected - 19 + 2  # two UTF-8 bytes


def test_total_size_must_be_less_than_256_kb() -> None:
    without_detail = entry_size(entry(Detail=None))
    filler = MAX_REQUEST_BYTES - 1 - without_detail - 8  # '{"a":""}' is 8 bytes
    just_under = entry(Detail=json.dumps({"a": "x" * filler}, separators=(",", ":")))
    assert entry_size(just_under) == MAX_REQUEST_BYTES - 1
    assert validate_entries([just_under])[0].ok
    at_limit = entry(Detail=json.dumps({"a": "x" * (filler + 1)}, separators=(",", ":")))
    with pytest.raises(InvalidInput, match="Total size of the entries in the request is over"):
        validate_entries([at_limit])
    half = entry(Detail=json.dumps({"a": "x" * (filler // 2)}, separators=(",", ":")))
    with pytest.raises(InvalidInput, match="over the limit"):
        validate_entries([half, half])


@pytest.mark.parametrize(
    "bus",
    [
        "default",
        "orders.bus-1_x",
        "arn:aws:events:us-east-1:123456789012:event-bus/orders",
    ],
)
def test_event_bus_names_and_arns(bus: str) -> None:
    (result,) = validate_entries([entry(EventBusName=bus)])
    assert result.entry is not None and result.entry.event_bus_name == bus


@pytest.mark.parametrize("bus", ["", "has space", "x" * 1601])
def test_a_bad_event_bus_name_fails_the_request(bus: str) -> None:
    with pytest.raises(InvalidInput, match="eventBusName"):
        validate_entries([entry(EventBusName=bus)])


def test_trace_header_length() -> None:
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
    (result,) = validate_entries([entry(TraceHeader=trace)])
    assert result.entry is not None and result.entry.trace_header == trace
    with pytest.raises(InvalidInput, match="traceHeader"):
        validate_entries([entry(TraceHeader="x" * 501)])


def test_the_envelope_has_the_documented_fields_in_order() -> None:
    checked = validate_entry(CLI_ENTRY)
    assert isinstance(checked, Entry)
    envelope = build_envelope(
        checked,
        event_id="11710aed-b79e-4468-a20b-bb3c0c3b4860",
        ingestion_time=datetime(2020, 1, 1, tzinfo=UTC),
        region="us-east-1",
        account="123456789012",
    )
    assert list(envelope) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ]
    assert envelope == {
        "version": "0",
        "id": "11710aed-b79e-4468-a20b-bb3c0c3b4860",
        "detail-type": "myDetailType",
        "source": "com.mycompany.myapp",
        "account": "123456789012",
        "time": "2016-01-14T01:02:03Z",
        "region": "us-east-1",
        "resources": ["resource1", "resource2"],
        "detail": {"key1": "value1", "key2": "value2"},
    }


def test_without_time_the_envelope_takes_the_call_time() -> None:
    checked = validate_entry(entry(Time=None))
    assert isinstance(checked, Entry)
    moment = datetime(2024, 5, 1, 14, 34, 56, 789000, tzinfo=timezone(timedelta(hours=2)))
    envelope = build_envelope(
        checked, event_id="e", ingestion_time=moment, region="eu-west-1", account="1"
    )
    assert envelope["time"] == "2024-05-01T12:34:56Z"
    assert format_time(datetime(2024, 5, 1, 12, 34, 56)) == "2024-05-01T12:34:56Z"


def test_the_response_matches_the_documented_example() -> None:
    # *Handling failures with PutEvents*: three entries, the second fails.
    results = validate_entries([CLI_ENTRY, entry(Detail="oops"), CLI_ENTRY])
    response = put_events_response(
        results,
        ["11710aed-b79e-4468-a20b-bb3c0c3b4860", "d804d26a-88db-4b66-9eaf-9a11c708ae82"],
    )
    assert response == {
        "FailedEntryCount": 1,
        "Entries": [
            {"EventId": "11710aed-b79e-4468-a20b-bb3c0c3b4860"},
            {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."},
            {"EventId": "d804d26a-88db-4b66-9eaf-9a11c708ae82"},
        ],
    }


json_objects = st.dictionaries(
    st.text(max_size=5),
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
        max_leaves=6,
    ),
    max_size=4,
)


@given(json_objects, st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_any_json_object_detail_round_trips_into_the_envelope(
    detail: dict[str, Any], source: str, detail_type: str
) -> None:
    source = "x" + source  # never an aws. source
    results = validate_entries(
        [{"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail)}]
    )
    (result,) = results
    assert result.entry is not None
    envelope = build_envelope(
        result.entry,
        event_id="id",
        ingestion_time=datetime(2024, 1, 1, tzinfo=UTC),
        region="r",
        account="a",
    )
    assert envelope["detail"] == detail and envelope["source"] == source
    assert put_events_response(results, ["id"]) == {
        "FailedEntryCount": 0,
        "Entries": [{"EventId": "id"}],
    }
