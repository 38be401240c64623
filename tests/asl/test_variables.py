"""Workflow variables: validation of names and scopes, and snapshots that keep them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from interpreter_support import INFO, LAMBDA, T0

from oncue.asl.commands import ArmTimer, Redrive, RunTask, TaskFailed, TaskSucceeded, TimerFired
from oncue.asl.interpreter import Interpreter
from oncue.asl.model import StateMachine
from oncue.asl.snapshot import dump_state, load_state
from oncue.asl.validate import parse_definition, validate_definition
from oncue.errors import DefinitionError


def pointers(definition: dict[str, Any]) -> list[str]:
    return [problem.pointer for problem in validate_definition(definition)]


def messages(definition: dict[str, Any]) -> list[str]:
    return [problem.message for problem in validate_definition(definition)]


def one(state: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"StartAt": "A", "States": {"A": state}, **top}


@pytest.mark.parametrize("name", ["x", "_x", "total2", "caf\u00e9", "a" * 80])
def test_valid_variable_names(name: str) -> None:
    assert pointers(one({"Type": "Pass", "Assign": {name: 1}, "End": True})) == []


@pytest.mark.parametrize("name", ["", "2x", "a-b", "a.b", "states", "a" * 81, "has space"])
def test_invalid_variable_names_are_reported_with_their_pointer(name: str) -> None:
    definition = one({"Type": "Pass", "Assign": {name: 1}, "End": True}, QueryLanguage="JSONata")
    escaped = name.replace("~", "~0").replace("/", "~1")
    assert pointers(definition) == [f"/States/A/Assign/{escaped}"]


def test_jsonpath_assign_keys_name_variables_without_the_suffix() -> None:
    assert pointers(one({"Type": "Pass", "Assign": {"x.$": "$.a"}, "End": True})) == []
    assert pointers(one({"Type": "Pass", "Assign": {"x.$": "not a path"}, "End": True})) == [
        "/States/A/Assign/x.$"
    ]


def test_every_bad_expression_is_reported_where_it_is() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": LAMBDA,
                "Arguments": {"deep": ["{% 1 + %}"]},
                "TimeoutSeconds": "{% ) %}",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Output": "{% $$ %}", "Next": "C"}],
                "Next": "C",
            },
            "C": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% ( %}", "Next": "M", "Assign": {"v": "{% [ %}"}}],
                "Default": "M",
            },
            "M": {
                "Type": "Map",
                "Items": "{% $ %}",
                "ItemSelector": {"x": "{% foo %}"},
                "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}},
                "End": True,
            },
        },
    }
    assert sorted(pointers(definition)) == sorted(
        [
            "/States/T/Arguments/deep/0",
            "/States/T/TimeoutSeconds",
            "/States/T/Catch/0/Output",
            "/States/C/Choices/0/Condition",
            "/States/C/Choices/0/Assign/v",
            "/States/M/Items",
            "/States/M/ItemSelector/x",
        ]
    )
    assert all(m.startswith("SCHEMA_VALIDATION_FAILED: ") for m in messages(definition))


def test_jsonpath_only_fields_in_jsonata_states() -> None:
    definition = one(
        {"Type": "Task", "Resource": LAMBDA, "End": True, "TimeoutSecondsPath": "$.t"},
        QueryLanguage="JSONata",
    )
    assert pointers(definition) == ["/States/A/TimeoutSecondsPath"]


def test_an_inner_scope_cannot_assign_an_outer_variable() -> None:
    inner = {"StartAt": "I", "States": {"I": {"Type": "Pass", "Assign": {"x": 1}, "End": True}}}
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Assign": {"x": 0}, "Next": "M"},
            "M": {"Type": "Map", "ItemProcessor": inner, "End": True},
        },
    }
    assert pointers(definition) == ["/States/M/ItemProcessor/States/I/Assign/x"]
    # Sibling scopes may use the same names.
    other = {"StartAt": "J", "States": {"J": {"Type": "Pass", "Assign": {"x": 2}, "End": True}}}
    siblings = {
        "StartAt": "P",
        "States": {"P": {"Type": "Parallel", "Branches": [inner, other], "End": True}},
    }
    assert pointers(siblings) == []


def test_definition_errors_are_definition_errors() -> None:
    with pytest.raises(DefinitionError):
        parse_definition(
            one({"Type": "Pass", "Output": "{% ( %}", "End": True}, QueryLanguage="JSONata")
        )


def _roundtrip(state: Any) -> Any:
    machine = state.root.body
    assert isinstance(machine, StateMachine)
    return load_state(machine, orjson.loads(orjson.dumps(dump_state(state))))


def test_a_snapshot_keeps_every_scope_of_variables() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Assign": {"outer": "{% $states.input.v %}"}, "Next": "P"},
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "B",
                        "States": {
                            "B": {"Type": "Pass", "Assign": {"inner": 7}, "Next": "W"},
                            "W": {"Type": "Wait", "Seconds": 5, "Next": "R"},
                            "R": {"Type": "Pass", "Output": "{% $inner + $outer %}", "End": True},
                        },
                    },
                    {
                        "StartAt": "T",
                        "States": {
                            "T": {
                                "Type": "Task",
                                "Resource": LAMBDA,
                                "Arguments": {"o": "{% $outer %}"},
                                "End": True,
                            }
                        },
                    },
                ],
                "Assign": {"both": "{% $states.result %}"},
                "Next": "Z",
            },
            "Z": {
                "Type": "Pass",
                "Output": {"both": "{% $both %}", "outer": "{% $outer %}"},
                "End": True,
            },
        },
    }
    interpreter = Interpreter(parse_definition(definition))
    step = interpreter.start(INFO, {"v": 100}, now=T0, seed=3)
    (run,) = [c for c in step.commands if isinstance(c, RunTask)]
    (timer,) = [c for c in step.commands if isinstance(c, ArmTimer)]
    assert run.payload == {"o": 100}
    stored = _roundtrip(step.state)
    assert stored.root.variables == {"outer": 100}
    assert [child.variables for child in stored.root.children.values()] == [{"inner": 7}, {}]
    step = interpreter.step(stored, TaskSucceeded(task_id=run.task_id, output="t"), now=T0)
    stored = _roundtrip(step.state)
    step = interpreter.step(stored, TimerFired(timer_id=timer.timer_id), now=T0)
    assert step.state.status == "SUCCEEDED"
    assert step.state.output == {"both": [107, "t"], "outer": 100}


def test_a_redriven_execution_keeps_its_variables() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Assign": {"kept": "{% $states.input.k %}"}, "Next": "T"},
            "T": {"Type": "Task", "Resource": LAMBDA, "Next": "B"},
            "B": {"Type": "Pass", "Output": {"kept": "{% $kept %}"}, "End": True},
        },
    }
    interpreter = Interpreter(parse_definition(definition))
    step = interpreter.start(INFO, {"k": 1}, now=T0, seed=1)
    (run,) = [c for c in step.commands if isinstance(c, RunTask)]
    step = interpreter.step(
        _roundtrip(step.state), TaskFailed(task_id=run.task_id, error="E", cause="c"), now=T0
    )
    assert step.state.status == "FAILED"
    step = interpreter.step(_roundtrip(step.state), Redrive(), now=T0)
    (run,) = [c for c in step.commands if isinstance(c, RunTask)]
    step = interpreter.step(step.state, TaskSucceeded(task_id=run.task_id, output={}), now=T0)
    assert step.state.status == "SUCCEEDED"
    assert step.state.output == {"kept": 1}


def test_the_execution_limit_counts_every_open_scope() -> None:
    # 45 iterations each hold a 250 KB variable while they wait: past 10 MiB together,
    # although each scope alone is far below it.
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "Items": "{% [1..45] %}",
                "ItemProcessor": {
                    "StartAt": "Hold",
                    "States": {
                        "Hold": {
                            "Type": "Pass",
                            "Assign": {"big": "{% $pad('', 250000, 'x') %}"},
                            "Next": "Sleep",
                        },
                        "Sleep": {"Type": "Wait", "Seconds": 1, "End": True},
                    },
                },
                "End": True,
            }
        },
    }
    interpreter = Interpreter(parse_definition(definition))
    step = interpreter.start(INFO, {}, now=T0, seed=1)
    assert step.state.status == "FAILED"
    assert step.state.error == "States.DataLimitExceeded"
    assert "10485760" in (step.state.cause or "")
    # Fewer iterations fit, and the bytes are given back as iterations end.
    definition["States"]["M"]["Items"] = "{% [1..30] %}"
    interpreter = Interpreter(parse_definition(definition))
    step = interpreter.start(INFO, {}, now=T0, seed=1)
    assert step.state.variable_bytes == 30 * 250_002
    timers = [c for c in step.commands if isinstance(c, ArmTimer)]
    for timer in timers:
        step = interpreter.step(step.state, TimerFired(timer_id=timer.timer_id), now=T0)
    assert step.state.status == "SUCCEEDED"
    assert step.state.variable_bytes == 0
