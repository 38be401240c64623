"""Hypothesis properties of the pure interpreter.

1. A definition that validates never makes the interpreter raise a Python exception,
   whatever the input and whatever its tasks return or raise, and every run ends with
   exactly one terminal history event.
2. The same definition, input, seed and events give the same history, byte for byte.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from asl_strategies import TERMINAL, bodies, inputs, outcome_lists, run  # beside this file
from hypothesis import HealthCheck, given, settings
from interpreter_support import LAMBDA

from oncue.asl.validate import validate_definition


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(definition=bodies(), data=inputs, outcomes=outcome_lists)
def test_a_valid_definition_never_raises(
    definition: dict[str, Any], data: Any, outcomes: list[Any]
) -> None:
    assert validate_definition(definition) == []
    history = run(definition, data, outcomes)
    terminal = [event for event in history if event["type"] in TERMINAL]
    assert len(terminal) == 1
    assert history[-1] is terminal[0]
    assert [event["id"] for event in history] == list(range(1, len(history) + 1))
    assert all(0 <= event["previousEventId"] < event["id"] for event in history)


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(definition=bodies(), data=inputs, outcomes=outcome_lists)
def test_same_inputs_same_history(
    definition: dict[str, Any], data: Any, outcomes: list[Any]
) -> None:
    first = run(copy.deepcopy(definition), copy.deepcopy(data), list(outcomes))
    second = run(copy.deepcopy(definition), copy.deepcopy(data), list(outcomes))
    assert first == second


def test_the_driver_above_reaches_terminal_events() -> None:
    """Guard for the properties: the harness really runs executions to the end."""
    definition = {
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": LAMBDA, "Next": "W"},
            "W": {"Type": "Wait", "Seconds": 5, "End": True},
        },
    }
    history = run(definition, {}, [{"ok": 1}])
    assert history[-1]["type"] == "ExecutionSucceeded"
    stamps = [e["timestamp"] for e in history]
    assert stamps[-1] > stamps[0]
    assert timedelta(seconds=5) == datetime.fromisoformat(stamps[-1]) - datetime.fromisoformat(
        stamps[0]
    )
