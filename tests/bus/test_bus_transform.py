"""Target input: Input, InputPath, InputTransformer.

The transformer cases are the table of *Input transform examples* in the EventBridge user guide
(the Amazon EC2 event, its three variables, and each template with its output), the examples of
the InputTransformer API reference, and its documented limits.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncue.bus import TargetInput, compile_event_path, parse_target_input, render_input
from oncue.errors import InvalidInput

#: "The following is an example Amazon EC2 event."
EC2_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING"},
}
#: The *Input Path* of the examples.
PATHS = {"timestamp": "$.time", "instance": "$.detail.instance-id", "state": "$.detail.state"}
RULE_ARN = "arn:aws:events:us-east-2:123456789012:rule/example"
INGESTED = datetime(2015, 11, 11, 21, 29, 55, tzinfo=UTC)


def transformer(template: str, paths: dict[str, str] | None = None) -> TargetInput:
    spec = {"InputPathsMap": PATHS if paths is None else paths, "InputTemplate": template}
    return parse_target_input({"Id": "target-1", "InputTransformer": spec})


def render(spec: TargetInput, event: dict[str, Any] | None = None) -> str | None:
    return render_input(
        spec,
        EC2_EVENT if event is None else event,
        rule_arn=RULE_ARN,
        rule_name="example",
        ingestion_time=INGESTED,
    )


@pytest.mark.parametrize(
    ("template", "output"),
    [
        # Simple string
        ('"instance <instance> is in <state>"', '"instance i-0123456789 is in RUNNING"'),
        # String with escaped quotes
        (
            '"instance \\"<instance>\\" is in <state>"',
            '"instance \\"i-0123456789\\" is in RUNNING"',
        ),
        # Simple JSON
        (
            '{\n  "instance" : <instance>,\n  "state": <state>\n}',
            '{"instance":"i-0123456789","state":"RUNNING"}',
        ),
        # JSON with strings and variables
        (
            '{\n "instance" : <instance>,\n "state": "<state>",\n'
            ' "instanceStatus": "instance \\"<instance>\\" is in <state>"\n}',
            '{"instance":"i-0123456789","state":"RUNNING",'
            '"instanceStatus":"instance \\"i-0123456789\\" is in RUNNING"}',
        ),
        # JSON with a mix of variables and static information
        (
            '{\n  "instance" : <instance>,\n  "state": [ 9, <state>, true ],\n'
            '  "Transformed" : "Yes"\n}',
            '{"instance":"i-0123456789","state":[9,"RUNNING",true],"Transformed":"Yes"}',
        ),
        # Including reserved variables in a string
        ('"<aws.events.rule-name> triggered"', '"example triggered"'),
        # The InputTransformer API reference: plain text, then JSON with variables in and out
        # of quotes.
        ("<instance> is in state <state>", "i-0123456789 is in state RUNNING"),
        (
            '{"myInstance": <instance>,"myStatus": "<instance> is in state \\"<state>\\""}',
            '{"myInstance":"i-0123456789","myStatus":"i-0123456789 is in state \\"RUNNING\\""}',
        ),
    ],
)
def test_documented_templates(template: str, output: str) -> None:
    assert render(transformer(template)) == output


def test_reserved_variables_in_json() -> None:
    template = (
        '{"instance" : <instance>, "state": <state>, "ruleArn" : <aws.events.rule-arn>,'
        ' "ruleName" : <aws.events.rule-name>, "originalEvent" : <aws.events.event>,'
        ' "whole": <aws.events.event.json>, "at": <aws.events.event.ingestion-time>}'
    )
    document = json.loads(render(transformer(template)) or "")
    assert document["ruleArn"] == RULE_ARN and document["ruleName"] == "example"
    # aws.events.event is the event without its detail; .json is the whole event.
    assert document["originalEvent"] == {k: v for k, v in EC2_EVENT.items() if k != "detail"}
    assert document["whole"] == EC2_EVENT
    assert document["at"] == "2015-11-11T21:29:55Z"


def test_values_of_every_type_outside_and_inside_quotes() -> None:
    event = {"detail": {"n": 1.5, "b": True, "z": None, "o": {"k": "v"}, "l": [1, "a"]}}
    paths = {name: f"$.detail.{name}" for name in "nbzol"}
    outside = transformer('{"n": <n>, "b": <b>, "z": <z>, "o": <o>, "l": <l>}', paths)
    assert json.loads(render(outside, event) or "") == event["detail"]
    inside = transformer('{"text": "<n> <b> <z> <o> <l>"}', paths)
    assert json.loads(render(inside, event) or "") == {"text": '1.5 true null {"k":"v"} [1,"a"]'}
    plain = transformer("n=<n> o=<o>", paths)
    assert render(plain, event) == 'n=1.5 o={"k":"v"}'


def test_values_inside_quotes_are_escaped_so_the_json_stays_valid() -> None:
    event = {"detail": {"quote": 'say "hi"\n'}}
    spec = transformer('{"said": "<q>!"}', {"q": "$.detail.quote"})
    assert json.loads(render(spec, event) or "") == {"said": 'say "hi"\n!'}


def test_a_variable_whose_path_matches_nothing_is_not_created() -> None:
    spec = transformer('{"a": <gone>, "b": "[<gone>]"}', {"gone": "$.detail.nope"})
    assert render(spec) == '{"a":null,"b":"[]"}'
    assert render(transformer("x<gone>y", {"gone": "$.detail.nope"})) == "xy"


def test_wildcards_and_indexes_in_paths() -> None:
    event = {"detail": {"items": [{"sku": "A"}, {"sku": "B"}]}, "resources": ["r1", "r2"]}
    spec = transformer(
        '{"skus": <skus>, "first": <first>, "r": "<r>"}',
        {"skus": "$.detail.items[*].sku", "first": "$.detail.items[0].sku", "r": "$.resources[1]"},
    )
    assert json.loads(render(spec, event) or "") == {"skus": ["A", "B"], "first": "A", "r": "r2"}


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ('{"a": <undefined>}', "contains invalid placeholder undefined"),
        ("{<instance>: 1}", "cannot be used as an object key"),
        ('{"<instance>": 1}', "cannot be used as an object key"),
        ('{"a": <instance>', "is not valid JSON"),
        ('{"a": "<aws.events.event>"}', "can only be used as the value of a JSON field"),
        ("event: <aws.events.event.json>", "can only be used as the value of a JSON field"),
        ("", "1 to 8192 characters"),
        ("x" * 8193, "1 to 8192 characters"),
    ],
)
def test_invalid_templates(template: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        transformer(template)


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        ({f"v{n}": "$.id" for n in range(101)}, "at most 100"),
        ({"aws.events.rule-arn": "$.id"}, r"must match \[A-Za-z0-9_-\]\+"),
        ({"has space": "$.id"}, "must match"),
        ({"v": "detail.state"}, "not a valid JSON path"),
        # "You must use JSON dot notation, not bracket notation."
        ({"v": "$['detail']"}, "not a valid JSON path"),
        ({"v": "$." + "a" * 255}, "at most 256 characters"),
    ],
)
def test_invalid_input_paths_maps(paths: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        transformer('"x"', paths)


def test_a_hundred_variables_are_allowed() -> None:
    paths = {f"v{n}": "$.id" for n in range(100)}
    assert render(transformer('"<v0>-<v99>"', paths)) == f'"{EC2_EVENT["id"]}-{EC2_EVENT["id"]}"'


def test_angle_brackets_that_are_not_placeholders_stay_text() -> None:
    assert render(transformer("1 < 2 and 3 > 2: <state>")) == "1 < 2 and 3 > 2: RUNNING"


def test_no_option_delivers_the_event_minified() -> None:
    spec = parse_target_input({"Id": "t", "Arn": "arn:aws:sqs:us-east-1:1:q"})
    assert spec == TargetInput()
    assert render(spec) == json.dumps(EC2_EVENT, separators=(",", ":"))


def test_constant_input_ignores_the_event() -> None:
    spec = parse_target_input({"Id": "t", "Input": '{"fixed": [1, 2]}'})
    assert render(spec) == '{"fixed": [1, 2]}'


@pytest.mark.parametrize("constant", ["{not json", "x" * 8193])
def test_constant_input_must_be_json_of_at_most_8192_characters(constant: str) -> None:
    with pytest.raises(InvalidInput, match="Input for target t"):
        parse_target_input({"Id": "t", "Input": constant})


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.detail", {"instance-id": "i-0123456789", "state": "RUNNING"}),
        ("$.detail.state", "RUNNING"),
        ("$['detail']['instance-id']", "i-0123456789"),
        ("$.resources[0]", "arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"),
        ("$", EC2_EVENT),
    ],
)
def test_input_path_selects_part_of_the_event(path: str, expected: Any) -> None:
    assert render(parse_target_input({"Id": "t", "InputPath": path})) == json.dumps(
        expected, separators=(",", ":")
    )


def test_input_path_that_selects_nothing_delivers_nothing() -> None:
    assert render(parse_target_input({"Id": "t", "InputPath": "$.detail.nope"})) is None


def test_only_one_input_option() -> None:
    with pytest.raises(InvalidInput, match="Only one of Input, InputPath, or InputTransformer"):
        parse_target_input({"Id": "t", "Input": "{}", "InputPath": "$.detail"})


@pytest.mark.parametrize("path", ["detail", "$.", "$..detail", "$.a[?(@.b)]", "$.a b"])
def test_paths_outside_the_supported_subset_are_rejected(path: str) -> None:
    assert compile_event_path(path) is None


def test_forward_slashes_and_dashes_in_names() -> None:
    path = compile_event_path("$.detail.a/b-c_d")
    assert path is not None
    assert path.find({"detail": {"a/b-c_d": 7}}) == (True, 7)
    assert path.find({"detail": {}}) == (False, None)


strings = st.text(max_size=12)


@given(strings, strings)
def test_any_string_value_survives_quoted_and_unquoted(first: str, second: str) -> None:
    event = {"detail": {"a": first, "b": second}}
    spec = transformer('{"raw": <a>, "in": "<a>|<b>"}', {"a": "$.detail.a", "b": "$.detail.b"})
    assert json.loads(render(spec, event) or "") == {"raw": first, "in": f"{first}|{second}"}
