from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncue.asl.choice import (
    COMPARISON_OPERATORS,
    TYPE_TEST_OPERATORS,
    CompiledChoiceRule,
    JsonataChoiceRule,
    compile_choice_rule,
    compile_jsonata_choice_rule,
    parse_timestamp,
)
from oncue.asl.evaluation import Scope, StatesFailure
from oncue.asl.model import ChoiceRule
from oncue.errors import Problem


def compile_ok(raw: dict[str, Any], *, top_level: bool = True) -> ChoiceRule:
    problems: list[Problem] = []
    rule = compile_choice_rule(raw, pointer="/R", top_level=top_level, problems=problems)
    assert problems == []
    assert rule is not None
    return rule


def compile_bad(raw: Any, *, top_level: bool = True) -> list[Problem]:
    problems: list[Problem] = []
    rule = compile_choice_rule(raw, pointer="/R", top_level=top_level, problems=problems)
    assert rule is None
    assert problems
    return problems


def check(raw: dict[str, Any], value: Any) -> bool:
    rule = compile_ok({"Variable": "$.v", **raw, "Next": "N"})
    return rule.matches(Scope(input={"v": value}, context={}))


# (operator, operand, value giving true, value giving false, value of the wrong type)
COMPARISONS = [
    ("StringEquals", "b", "b", "c", 1),
    ("StringLessThan", "b", "a", "b", 1),
    ("StringGreaterThan", "b", "c", "b", None),
    ("StringLessThanEquals", "b", "b", "c", True),
    ("StringGreaterThanEquals", "b", "b", "a", ["b"]),
    ("NumericEquals", 2, 2.0, 3, "2"),
    ("NumericLessThan", 2, 1.5, 2, "1"),
    ("NumericGreaterThan", 2, 3, 2, True),
    ("NumericLessThanEquals", 2, 2, 2.5, None),
    ("NumericGreaterThanEquals", 2, 2, 1, {"n": 3}),
    ("BooleanEquals", True, True, False, 1),
    (
        "TimestampEquals",
        "2024-01-01T00:00:00Z",
        "2024-01-01T01:00:00+01:00",
        "2024-01-01T00:00:01Z",
        "yesterday",
    ),
    (
        "TimestampLessThan",
        "2024-01-01T00:00:00Z",
        "2023-12-31T23:59:59.999Z",
        "2024-01-01T00:00:00Z",
        1704067200,
    ),
    (
        "TimestampGreaterThan",
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00.5Z",
        "2024-01-01T00:00:00Z",
        "2024-01-02",
    ),
    (
        "TimestampLessThanEquals",
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:01Z",
        "2023-01-01t00:00:00z",
    ),
    (
        "TimestampGreaterThanEquals",
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00Z",
        "2023-12-31T00:00:00Z",
        None,
    ),
]


def test_the_table_covers_every_comparison_operator() -> None:
    assert {row[0] for row in COMPARISONS} == set(COMPARISON_OPERATORS)


@pytest.mark.parametrize(("name", "operand", "true", "false", "wrong"), COMPARISONS)
def test_comparison_with_a_literal(
    name: str, operand: Any, true: Any, false: Any, wrong: Any
) -> None:
    assert check({name: operand}, true) is True
    assert check({name: operand}, false) is False
    assert check({name: operand}, wrong) is False


@pytest.mark.parametrize(("name", "operand", "true", "false", "wrong"), COMPARISONS)
def test_comparison_with_a_second_path(
    name: str, operand: Any, true: Any, false: Any, wrong: Any
) -> None:
    rule = compile_ok({"Variable": "$.v", f"{name}Path": "$.other", "Next": "N"})

    def run(value: Any) -> bool:
        return rule.matches(Scope(input={"v": value, "other": operand}, context={}))

    assert run(true) is True
    assert run(false) is False
    assert run(wrong) is False
    # The second value having the wrong type is false too.
    reversed_rule = compile_ok({"Variable": "$.v", f"{name}Path": "$.other", "Next": "N"})
    assert reversed_rule.matches(Scope(input={"v": true, "other": wrong}, context={})) is False


@pytest.mark.parametrize(("name", "operand", "true", "false", "wrong"), COMPARISONS)
def test_a_literal_of_the_wrong_type_is_a_problem(
    name: str, operand: Any, true: Any, false: Any, wrong: Any
) -> None:
    bad = {"x": 1} if not isinstance(wrong, dict) else "x"
    problems = compile_bad({"Variable": "$.v", name: bad, "Next": "N"})
    assert [p.pointer for p in problems] == [f"/R/{name}"]
    assert problems[0].message.startswith("SCHEMA_VALIDATION_FAILED: ")


def test_numeric_comparisons_never_treat_booleans_as_numbers() -> None:
    assert check({"NumericEquals": 1}, True) is False
    assert check({"NumericGreaterThan": 0}, True) is False
    assert compile_bad({"Variable": "$.v", "NumericEquals": True, "Next": "N"})


TYPE_TESTS = [
    ("IsNull", None, 0),
    ("IsNumeric", 1.5, True),
    ("IsString", "", None),
    ("IsBoolean", False, 0),
    ("IsTimestamp", "2016-03-14T01:59:00Z", "2016-03-14 01:59:00"),
]


def test_the_type_test_table_is_complete() -> None:
    assert {row[0] for row in TYPE_TESTS} == set(TYPE_TEST_OPERATORS)


@pytest.mark.parametrize(("name", "yes", "no"), TYPE_TESTS)
def test_type_tests(name: str, yes: Any, no: Any) -> None:
    assert check({name: True}, yes) is True
    assert check({name: True}, no) is False
    assert check({name: False}, yes) is False
    assert check({name: False}, no) is True
    assert compile_bad({"Variable": "$.v", name: "true", "Next": "N"})[0].pointer == f"/R/{name}"


def test_is_present_tests_whether_the_path_selects_something() -> None:
    present = compile_ok({"Variable": "$.v", "IsPresent": True, "Next": "N"})
    absent = compile_ok({"Variable": "$.v", "IsPresent": False, "Next": "N"})
    assert present.matches(Scope(input={"v": None}, context={})) is True
    assert present.matches(Scope(input={}, context={})) is False
    assert absent.matches(Scope(input={}, context={})) is True
    assert absent.matches(Scope(input={"v": 0}, context={})) is False


@pytest.mark.parametrize(
    "raw",
    [
        {"StringEquals": "a"},
        {"IsNull": True},
        {"NumericEqualsPath": "$.v"},
        {"StringMatches": "*"},
    ],
)
def test_a_missing_variable_is_a_runtime_failure(raw: dict[str, Any]) -> None:
    rule = compile_ok({"Variable": "$.missing", **raw, "Next": "N"})
    with pytest.raises(StatesFailure) as caught:
        rule.matches(Scope(input={"v": 1}, context={}))
    assert caught.value.error == "States.Runtime"
    assert caught.value.cause == (
        "Invalid path '$.missing': The choice state's condition path references an invalid value."
    )


def test_a_missing_second_path_is_a_runtime_failure() -> None:
    rule = compile_ok({"Variable": "$.v", "StringEqualsPath": "$.nope", "Next": "N"})
    with pytest.raises(StatesFailure, match=r"Invalid path '\$\.nope'"):
        rule.matches(Scope(input={"v": "a"}, context={}))


def test_variable_may_read_the_context_object_and_variables() -> None:
    context_rule = compile_ok(
        {"Variable": "$$.Execution.Name", "StringEquals": "run-1", "Next": "N"}
    )
    assert context_rule.matches(Scope(input={}, context={"Execution": {"Name": "run-1"}}))
    variable_rule = compile_ok({"Variable": "$count", "NumericGreaterThan": 2, "Next": "N"})
    assert variable_rule.matches(Scope(input={}, context={}, variables={"count": 3}))
    assert not variable_rule.matches(Scope(input={}, context={}, variables={"count": 1}))


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("log-*.txt", "log-2024.txt", True),
        ("log-*.txt", "log-.txt", True),
        ("log-*.txt", "log-2024.txt.gz", False),
        ("*", "", True),
        ("a*b*c", "aXXbYYc", True),
        ("a*b*c", "acb", False),
        (r"a\*b", "a*b", True),
        (r"a\*b", "aXb", False),
        (r"a\\b", "a\\b", True),
        (r"a\\*", "a\\anything", True),
        ("a.b", "aXb", False),
        ("a?c", "abc", False),
        ("[ab]", "a", False),
        ("line*", "line1\nline2", True),
    ],
)
def test_string_matches(pattern: str, value: str, expected: bool) -> None:
    assert check({"StringMatches": pattern}, value) is expected


def test_string_matches_on_a_non_string_is_false() -> None:
    assert check({"StringMatches": "*"}, 5) is False


def test_and_or_not_nest() -> None:
    rule = compile_ok(
        {
            "And": [
                {"Variable": "$.a", "NumericGreaterThan": 0},
                {
                    "Or": [
                        {"Variable": "$.b", "StringEquals": "x"},
                        {"Not": {"Variable": "$.c", "BooleanEquals": True}},
                    ]
                },
            ],
            "Next": "N",
        }
    )

    def run(a: int, b: str, c: bool) -> bool:
        return rule.matches(Scope(input={"a": a, "b": b, "c": c}, context={}))

    assert run(1, "x", True) is True
    assert run(1, "y", False) is True
    assert run(1, "y", True) is False
    assert run(0, "x", False) is False
    assert rule.next == "N"


def test_and_or_short_circuit_before_an_invalid_path() -> None:
    rule = compile_ok(
        {
            "Or": [
                {"Variable": "$.a", "IsPresent": True},
                {"Variable": "$.missing", "StringEquals": "x"},
            ],
            "Next": "N",
        }
    )
    assert rule.matches(Scope(input={"a": 1}, context={})) is True


def test_top_level_rule_needs_next_and_nested_rules_must_not_have_it() -> None:
    assert [p.pointer for p in compile_bad({"Variable": "$.v", "IsNull": True})] == ["/R"]
    problems = compile_bad({"Not": {"Variable": "$.v", "IsNull": True, "Next": "X"}, "Next": "N"})
    assert [p.pointer for p in problems] == ["/R/Not/Next"]
    nested = compile_ok({"Variable": "$.v", "IsNull": True}, top_level=False)
    assert nested.next is None


@pytest.mark.parametrize(
    ("raw", "pointers"),
    [
        ({"Variable": "$.v", "Next": "N"}, ["/R"]),
        ({"Variable": "$.v", "IsNull": True, "IsString": True, "Next": "N"}, ["/R"]),
        ({"IsNull": True, "Next": "N"}, ["/R"]),
        ({"Variable": "$.v[*]", "IsNull": True, "Next": "N"}, ["/R/Variable"]),
        ({"Variable": 3, "IsNull": True, "Next": "N"}, ["/R/Variable"]),
        ({"Variable": "$.v", "IsNull": True, "Bogus": 1, "Next": "N"}, ["/R/Bogus"]),
        ({"Variable": "$.v", "And": [], "Next": "N"}, ["/R/Variable", "/R/And"]),
        ({"Or": [{"Variable": "$.v"}], "Next": "N"}, ["/R/Or/0"]),
        ({"Not": [], "Next": "N"}, ["/R/Not"]),
        ({"Variable": "$.v", "StringEqualsPath": "nope", "Next": "N"}, ["/R/StringEqualsPath"]),
        ({"Variable": "$.v", "IsNull": True, "Next": 4}, ["/R/Next"]),
        (
            {"Variable": "$.v", "StringMatchesPath": "$.p", "Next": "N"},
            ["/R/StringMatchesPath", "/R"],
        ),
    ],
)
def test_malformed_rules(raw: dict[str, Any], pointers: list[str]) -> None:
    assert [p.pointer for p in compile_bad(raw)] == pointers


def test_several_problems_in_one_rule_are_all_reported() -> None:
    problems = compile_bad(
        {
            "And": [
                {"Variable": "$.a", "NumericEquals": "1"},
                {"Variable": "$.b", "BooleanEquals": "yes"},
            ],
            "Next": "N",
        }
    )
    assert [p.pointer for p in problems] == ["/R/And/0/NumericEquals", "/R/And/1/BooleanEquals"]


def test_a_rule_that_is_not_an_object() -> None:
    assert [p.pointer for p in compile_bad(["x"])] == ["/R"]


def test_top_level_assign_is_accepted() -> None:
    # The rule's Assign is compiled by the Choice state's builder (see test_variables.py).
    rule = compile_ok({"Variable": "$.v", "IsNull": True, "Next": "N", "Assign": {"x": 1}})
    assert isinstance(rule, CompiledChoiceRule)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2016-03-14T01:59:00Z", datetime(2016, 3, 14, 1, 59, tzinfo=UTC)),
        (
            "2016-03-14T01:59:00.123456789+02:30",
            datetime(2016, 3, 14, 1, 59, 0, 123456, tzinfo=timezone(timedelta(hours=2.5))),
        ),
        ("2016-03-14T01:59:00-05:00", datetime(2016, 3, 14, 6, 59, tzinfo=UTC)),
        ("2016-03-14t01:59:00Z", None),
        ("2016-03-14T01:59:00z", None),
        ("2016-03-14T01:59:00", None),
        ("2016-03-14 01:59:00Z", None),
        ("2016-02-30T01:59:00Z", None),
        ("2016-03-14T25:00:00Z", None),
        (20160314, None),
    ],
)
def test_parse_timestamp(text: Any, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


_MOMENTS = st.datetimes(min_value=datetime(1000, 1, 1), timezones=st.just(UTC))


@given(_MOMENTS, _MOMENTS)
def test_timestamp_ordering_agrees_with_datetime(first: datetime, second: datetime) -> None:
    def text(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    rule = compile_ok({"Variable": "$.a", "TimestampLessThanPath": "$.b", "Next": "N"})
    scope = Scope(input={"a": text(first), "b": text(second)}, context={})
    assert rule.matches(scope) is (first < second)


@given(st.text(alphabet="ab*\\", max_size=8), st.text(alphabet="ab*\\", max_size=8))
def test_a_pattern_without_wildcards_matches_only_itself(prefix: str, value: str) -> None:
    literal = prefix.replace("\\", "\\\\").replace("*", "\\*")
    assert check({"StringMatches": literal}, value) is (value == prefix)


def test_jsonata_rules_are_checked_and_kept() -> None:
    problems: list[Problem] = []
    rule = compile_jsonata_choice_rule(
        {"Condition": "{% $states.input.x > 1 %}", "Next": "N", "Assign": {"a": 1}},
        pointer="/R",
        problems=problems,
    )
    assert problems == []
    assert rule is not None and rule.next == "N"
    assert isinstance(rule, JsonataChoiceRule)

    bad: list[Problem] = []
    assert (
        compile_jsonata_choice_rule(
            {"Condition": "$.x", "Variable": "$.x"}, pointer="/R", problems=bad
        )
        is None
    )
    assert [p.pointer for p in bad] == ["/R/Variable", "/R", "/R/Condition"]
