"""Golden Amazon States Language cases, written from the AWS Step Functions documentation.

Every ``asl/*.yaml`` file holds the cases of one topic. A case is::

    name: short-identifier
    doc: the AWS documentation page and section it comes from
    definition: {...}          # the state machine, exactly as it would be deployed on AWS
    input: {...}               # the execution input (default {})
    handlers: "notes"          # optional: which functions of asl_handlers.py it calls
    expect:
      status: SUCCEEDED | FAILED | TIMED_OUT | ABORTED
      output: ...              # SUCCEEDED: the execution output
      error: ...               # FAILED: the exact error name
      cause: ...               # optional: the exact cause
      cause_contains: ...      # optional: a fragment of the cause
      history: [...]           # optional: every event, without timestamps
      history_types: [...]     # optional: just the ordered event types
      history_subsequence: [...]   # optional: partial events (any keys) that appear in order
    options: {name, state_machine_name, test_timeout}   # optional

Expected values may contain a matcher wherever a JSON value goes: ``{"$match": "any"}``,
``{"$match": {"regex": "..."}}``, ``{"$match": {"contains": "..."}}``,
``{"$match": {"int_between": [lo, hi]}}``, ``{"$match": {"has": {...}}}`` (an object with at
least these members). In ``history`` the fields that GetExecutionHistory
returns as JSON text (``input``, ``output``, ``parameters``) are written as JSON values; the
runner checks the actual field is a string and compares its parsed value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asl_handlers  # the folder is on sys.path (pytest's rootdir-relative import)
import pytest
import yaml

from oncue import execute

CASES_DIR = Path(__file__).parent / "asl"
START_TIME = datetime(2024, 1, 1, tzinfo=UTC)
MIN_CASES = 150
#: Event detail fields that hold JSON text in GetExecutionHistory.
JSON_TEXT_FIELDS = frozenset({"input", "output", "parameters"})
STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


def _load_cases() -> list[tuple[str, dict[str, Any]]]:
    cases: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for case in document["cases"]:
            cases.append((f"{path.stem}::{case['name']}", case))
    return cases


CASES = _load_cases()


def _is_matcher(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"$match"}


def _matcher_ok(spec: Any, actual: Any) -> bool:
    if spec == "any":
        return True
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ValueError(f"unknown matcher {spec!r}")
    ((kind, arg),) = spec.items()
    if kind == "regex":
        return isinstance(actual, str) and re.fullmatch(arg, actual) is not None
    if kind == "contains":
        return isinstance(actual, str) and arg in actual
    if kind == "has":
        return isinstance(actual, dict) and all(
            key in actual and not list(_differences(value, actual[key]))
            for key, value in arg.items()
        )
    if kind == "int_between":
        low, high = arg
        return isinstance(actual, int) and not isinstance(actual, bool) and low <= actual <= high
    raise ValueError(f"unknown matcher {spec!r}")


def _differences(expected: Any, actual: Any, where: str = "") -> Iterator[str]:
    """Yield a line for every place ``actual`` differs from ``expected`` (matchers allowed)."""
    if _is_matcher(expected):
        if not _matcher_ok(expected["$match"], actual):
            yield f"{where or '/'}: {actual!r} does not match {expected['$match']!r}"
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            yield f"{where or '/'}: expected an object, got {actual!r}"
            return
        for key in sorted(set(expected) | set(actual)):
            if key not in actual:
                yield f"{where}/{key}: missing (expected {expected[key]!r})"
            elif key not in expected:
                yield f"{where}/{key}: unexpected {actual[key]!r}"
            else:
                yield from _differences(expected[key], actual[key], f"{where}/{key}")
        return
    if isinstance(expected, list):
        if not isinstance(actual, list):
            yield f"{where or '/'}: expected an array, got {actual!r}"
            return
        if len(expected) != len(actual):
            yield f"{where or '/'}: expected {len(expected)} items, got {len(actual)}: {actual!r}"
            return
        for index, (exp, act) in enumerate(zip(expected, actual, strict=True)):
            yield from _differences(exp, act, f"{where}/{index}")
        return
    # JSON has no int/float distinction, but true is not 1.
    same_kind = isinstance(expected, bool) == isinstance(actual, bool)
    if not same_kind or expected != actual:
        yield f"{where or '/'}: expected {expected!r}, got {actual!r}"


def _normalise_event(event: dict[str, Any]) -> dict[str, Any]:
    """Drop ``timestamp`` and parse the JSON-text fields of the event's details."""
    result: dict[str, Any] = {}
    for key, value in event.items():
        if key == "timestamp":
            continue
        if isinstance(value, dict) and key.endswith("EventDetails"):
            details: dict[str, Any] = {}
            for field, text in value.items():
                if field in JSON_TEXT_FIELDS:
                    assert isinstance(text, str), (
                        f"event {event.get('id')} {event.get('type')}: {key}.{field} must be "
                        f"JSON text, got {text!r}"
                    )
                    details[field] = json.loads(text)
                else:
                    details[field] = value[field]
            result[key] = details
        else:
            result[key] = value
    return result


def _check_history(expected: list[dict[str, Any]], history: list[dict[str, Any]]) -> None:
    actual = [_normalise_event(event) for event in history]
    for position, exp in enumerate(expected):
        if position >= len(actual):
            pytest.fail(
                f"history ends after {len(actual)} events; missing from event {position + 1}:\n"
                + json.dumps(expected[position:], indent=1)
            )
        problems = list(_differences(exp, actual[position]))
        if problems:
            pytest.fail(
                f"history event #{position + 1} differs:\n  "
                + "\n  ".join(problems)
                + f"\nexpected: {json.dumps(exp)}\nactual:   {json.dumps(actual[position])}"
                + "\nactual types: "
                + ", ".join(str(event.get("type")) for event in actual)
            )
    if len(actual) > len(expected):
        pytest.fail(
            f"history has {len(actual) - len(expected)} extra events:\n"
            + json.dumps(actual[len(expected) :], indent=1)
        )


def _check_subsequence(expected: list[dict[str, Any]], history: list[dict[str, Any]]) -> None:
    """Each expected (partial) event must appear, in order, among the actual events."""
    actual = [_normalise_event(event) for event in history]
    position = 0
    for exp in expected:
        while position < len(actual):
            candidate = actual[position]
            position += 1
            fields = {key: candidate[key] for key in exp if key in candidate}
            if len(fields) == len(exp) and not list(_differences(exp, fields)):
                break
        else:
            pytest.fail(
                f"no event matching {json.dumps(exp)} in order; actual events:\n"
                + "\n".join(json.dumps(event) for event in actual)
            )


def _result_summary(result: Any) -> str:
    return (
        f"status={result.status!r} error={result.error!r} cause={result.cause!r} "
        f"output={json.dumps(result.output)[:500]}"
    )


@pytest.fixture(autouse=True)
def _fresh_handlers() -> Iterator[None]:
    asl_handlers.reset()
    yield
    asl_handlers.reset()


def test_case_files_are_well_formed() -> None:
    names: set[str] = set()
    for case_id, case in CASES:
        assert case_id not in names, f"duplicate case {case_id}"
        names.add(case_id)
        assert {"name", "doc", "definition", "expect"} <= set(case), case_id
        assert case["expect"]["status"] in STATUSES, case_id
        if case["expect"]["status"] == "FAILED":
            assert "error" in case["expect"], f"{case_id}: a failure names its error"


def test_at_least_150_cases() -> None:
    assert len(CASES) >= MIN_CASES, f"only {len(CASES)} golden cases"


def test_enough_cases_check_the_full_history() -> None:
    with_history = [case_id for case_id, case in CASES if "history" in case["expect"]]
    assert len(with_history) >= 30, with_history


def _params() -> list[Any]:
    # A case may shorten its own time limit (``options.test_timeout``): one whose handler never
    # returns should not hold the suite for long when an implementation fails to time it out.
    return [
        pytest.param(
            case_id,
            case,
            id=case_id,
            marks=pytest.mark.timeout(case.get("options", {}).get("test_timeout", 30)),
        )
        for case_id, case in CASES
    ]


@pytest.mark.parametrize(("case_id", "case"), _params())
def test_asl_case(case_id: str, case: dict[str, Any]) -> None:
    options = case.get("options", {})
    result = execute(
        case["definition"],
        case.get("input", {}),
        handlers=asl_handlers.HANDLERS,
        time_skipping=True,
        start_time=START_TIME,
        name=options.get("name", "exec-1"),
        state_machine_name=options.get("state_machine_name", "StateMachine"),
        seed=0,
    )
    expect = case["expect"]
    summary = _result_summary(result)
    assert result.status == expect["status"], f"{case_id}: {summary}"
    if "output" in expect:
        problems = list(_differences(expect["output"], result.output))
        assert not problems, f"{case_id}: output differs:\n  " + "\n  ".join(problems)
    if "error" in expect:
        assert result.error == expect["error"], f"{case_id}: {summary}"
    if "cause" in expect:
        assert result.cause == expect["cause"], f"{case_id}: {summary}"
    if "cause_contains" in expect:
        assert result.cause is not None, f"{case_id}: {summary}"
        assert expect["cause_contains"] in result.cause, f"{case_id}: {summary}"
    if "history" in expect:
        _check_history(expect["history"], result.history)
    if "history_subsequence" in expect:
        _check_subsequence(expect["history_subsequence"], result.history)
    if "history_types" in expect:
        types = [event["type"] for event in result.history]
        assert types == expect["history_types"], (
            f"{case_id}: event types differ\nexpected: {expect['history_types']}\nactual:   {types}"
        )
