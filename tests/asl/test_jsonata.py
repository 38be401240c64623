"""JSONata evaluation: parsed once, pure (time and randomness are inputs), within a budget."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from interpreter_support import INFO, T0
from jsonata import parser as jsonata_parser

from oncue.asl.evaluation import StatesFailure
from oncue.asl.interpreter import Interpreter
from oncue.asl.jsonata_eval import (
    MAX_STEPS,
    MAX_VALUE_ITEMS,
    UNDEFINED,
    Bindings,
    compile_expression,
)
from oncue.asl.validate import parse_definition

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)


def run(source: str, *, variables: dict[str, Any] | None = None, seed: int = 1) -> Any:
    bindings = Bindings(
        states={"input": {"a": 1, "list": [3, 1, 2]}},
        variables=variables or {},
        now=NOW,
        rng=random.Random(seed),
    )
    return compile_expression(source).evaluate(bindings)


def failure(source: str) -> StatesFailure:
    with pytest.raises(StatesFailure) as caught:
        run(source)
    assert caught.value.error == "States.QueryEvaluationError"
    return caught.value


def test_states_and_variables_are_visible() -> None:
    assert run("$states.input.a + $x", variables={"x": 41}) == 42
    assert run("$sort($states.input.list)") == [1, 2, 3]


def test_undefined_is_not_null() -> None:
    assert run("$nothing") is UNDEFINED
    assert run("null") is None
    assert run("{'a': $nothing, 'b': null}") == {"b": None}


def test_time_is_the_steps_not_the_clocks() -> None:
    assert run("$now()") == "2024-05-06T07:08:09.000Z"
    assert run("$millis()") == int(NOW.timestamp() * 1000)
    assert run("$now('[Y0001]-[M01]')") == "2024-05"


def test_random_draws_come_from_the_seeded_generator() -> None:
    first = run("[$random(), $uuid(), $shuffle([1,2,3,4,5,6])]", seed=9)
    again = run("[$random(), $uuid(), $shuffle([1,2,3,4,5,6])]", seed=9)
    other = run("[$random(), $uuid(), $shuffle([1,2,3,4,5,6])]", seed=10)
    assert first == again != other
    assert run("$random(3)", seed=1) == run("$random(3)", seed=2)


def test_parse_errors_name_the_code() -> None:
    with pytest.raises(ValueError, match="S0203"):
        compile_expression("$states.input.(")


def test_each_expression_is_parsed_once_per_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Pass",
                "Assign": {"n": "{% $states.input.n + 1 %}"},
                "Output": {"n": "{% $states.input.n + 1 %}"},
                "End": True,
            }
        },
    }
    machine = parse_definition(definition)
    calls = []
    original = jsonata_parser.Parser.parse

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(jsonata_parser.Parser, "parse", counting)
    interpreter = Interpreter(machine)
    for n in range(50):
        step = interpreter.start(INFO, {"n": n}, now=T0, seed=n)
        assert step.state.output == {"n": n + 1}
    assert calls == []


@pytest.mark.parametrize(
    "source",
    [
        "($f := function($n){ $f($n + 1) }; $f(0))",
        "(function($f){ $f($f) })(function($g){ $g($g) })",
        "$count([1..100000000])",
        "$reduce([1..64], function($acc, $v){ $acc & $acc }, 'xy')",
        "$pad('', 1e12)",
        "$count([1..900000].($ + 1))",
    ],
)
def test_runaway_expressions_are_stopped(source: str) -> None:
    cause = failure(source).cause
    assert "Evaluation stopped" in cause or "exceeds" in cause


def test_the_budget_is_far_above_ordinary_expressions() -> None:
    # A 5,000-item transformation: well inside MAX_STEPS and MAX_VALUE_ITEMS.
    assert run("$sum([1..5000].($ * 2))") == 5000 * 5001
    assert MAX_STEPS >= 100_000 and MAX_VALUE_ITEMS >= 1_000_000


def test_functions_and_non_finite_numbers_are_not_json() -> None:
    assert "function" in failure("function($x){ $x }").cause
    failure("1/0")


def test_eval_is_not_available() -> None:
    assert "$parse" in failure("$eval('1')").cause


_KEYS = st.sampled_from(["a", "b", "c"])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text("xy", max_size=2),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(_KEYS, _JSON, max_size=3), keys=st.lists(_KEYS, max_size=3))
def test_plain_paths_walked_directly_agree_with_the_library(
    data: dict[str, Any], keys: list[str]
) -> None:
    source = ".".join(["$states.input", *keys])
    fast = compile_expression(source)
    assert fast.path is not None
    slow = replace(fast, path=None)
    for variables in ({}, {"v": data}):
        bindings = Bindings(
            states={"input": data}, variables=variables, now=NOW, rng=random.Random(0)
        )
        assert fast.evaluate(bindings) == slow.evaluate(bindings)
    variable = compile_expression(".".join(["$v", *keys]))
    bindings = Bindings(states={}, variables={"v": data}, now=NOW, rng=random.Random(0))
    assert variable.evaluate(bindings) == replace(variable, path=None).evaluate(bindings)


_TOKENS = st.sampled_from(
    [
        "$states.input",
        "$x",
        ".",
        "a",
        "list",
        "[",
        "]",
        "(",
        ")",
        "{",
        "}",
        ":",
        ",",
        ";",
        "1",
        "0",
        "-2.5",
        "'s'",
        "+",
        "-",
        "*",
        "/",
        "%",
        "&",
        "=",
        "!=",
        "<",
        ">",
        "and",
        "or",
        "?",
        "..",
        "$sum(",
        "$count(",
        "$string(",
        "$number(",
        "$keys(",
        "$map(",
        "function($v){",
        "$v",
        ":=",
        "$f",
        "$f(",
        "**",
        "^(",
        "#",
        "@",
        "~>",
        "$uuid()",
        "$random()",
        "$now()",
        "$range(",
        "$partition(",
        "$hash(",
        "$parse(",
        "null",
        "true",
    ]
)


@settings(max_examples=400, deadline=None)
@given(tokens=st.lists(_TOKENS, min_size=1, max_size=12))
def test_any_text_either_fails_to_parse_or_evaluates_to_json_or_a_states_failure(
    tokens: list[str],
) -> None:
    source = " ".join(tokens)
    try:
        expression = compile_expression(source)
    except ValueError:
        return
    bindings = Bindings(
        states={"input": {"a": 1, "list": [3, 1, 2]}},
        variables={"x": {"a": [1, {"b": None}]}},
        now=NOW,
        rng=random.Random(0),
    )
    try:
        value = expression.evaluate(bindings)
    except StatesFailure as failure:
        assert failure.error == "States.QueryEvaluationError"
        return
    if value is not UNDEFINED:
        orjson.dumps(value)


_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(-3, 3)
    | st.sampled_from(["", "a", "b"])
)
_SIDES = st.sampled_from(["$states.input.a", "$states.input.b.c", "$v", "$nothing", "1", "'a'"])


@settings(max_examples=300, deadline=None)
@given(
    a=_SCALARS,
    c=_SCALARS | st.lists(_SCALARS, max_size=2),
    v=_SCALARS,
    left=_SIDES,
    op=st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
    right=_SIDES,
)
def test_comparisons_decided_directly_agree_with_the_library(
    a: Any, c: Any, v: Any, left: str, op: str, right: str
) -> None:
    fast = compile_expression(f"{left} {op} {right}")
    assert fast.comparison is not None
    slow = replace(fast, comparison=None)
    bindings = Bindings(
        states={"input": {"a": a, "b": {"c": c}}}, variables={"v": v}, now=NOW, rng=random.Random(0)
    )
    outcomes = []
    for expression in (fast, slow):
        try:
            outcomes.append(expression.evaluate(bindings))
        except StatesFailure as failure:
            outcomes.append(failure.cause)
    assert outcomes[0] == outcomes[1]
