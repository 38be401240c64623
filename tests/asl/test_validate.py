from __future__ import annotations

import copy
from typing import Any

import pytest

from oncue.asl.evaluation import Scope
from oncue.asl.model import (
    ChoiceState,
    FailState,
    MapState,
    ParallelState,
    PassState,
    TaskState,
    WaitState,
)
from oncue.asl.validate import parse_definition, validate_definition
from oncue.errors import DefinitionError

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:notify"


def machine(states: dict[str, Any], start: str = "A", **top: Any) -> dict[str, Any]:
    return {"StartAt": start, "States": states, **top}


def one(state: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A definition whose only state is ``A``."""
    return machine({"A": state}, **top)


def found(definition: Any) -> list[tuple[str, str]]:
    return [(p.pointer, p.message) for p in validate_definition(definition)]


def pointers(definition: Any) -> list[str]:
    return [p.pointer for p in validate_definition(definition)]


def assert_valid(definition: Any) -> None:
    assert found(definition) == []


# -- top level ---------------------------------------------------------------------------


def test_a_minimal_definition_builds_the_model() -> None:
    sm = parse_definition(one({"Type": "Pass", "End": True}, Comment="c", TimeoutSeconds=60))
    assert sm.start_at == "A"
    assert sm.comment == "c"
    assert sm.timeout_seconds == 60
    assert sm.query_language == "JSONPath"
    state = sm.states["A"]
    assert isinstance(state, PassState)
    assert state.end is True and state.next is None
    scope = Scope(input={"x": 1}, context={})
    assert state.input_path is not None and state.input_path.evaluate(scope) == {"x": 1}
    assert state.output_path is not None and state.output_path.source == "$"
    assert state.result_path is not None and state.result_path.source == "$"
    assert sm.raw["StartAt"] == "A"


def test_text_is_loaded_first() -> None:
    sm = parse_definition('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}')
    assert set(sm.states) == {"A"}
    with pytest.raises(DefinitionError) as caught:
        parse_definition("{", source="flow.json")
    assert caught.value.source == "flow.json"


def test_top_level_required_fields() -> None:
    assert found({}) == [
        ("", "SCHEMA_VALIDATION_FAILED: The field 'StartAt' is required in the state machine"),
        ("", "SCHEMA_VALIDATION_FAILED: The field 'States' is required in the state machine"),
    ]


def test_the_definition_must_be_an_object() -> None:
    assert pointers([1]) == [""]


def test_start_at_must_name_a_state() -> None:
    assert found(machine({"A": {"Type": "Succeed"}}, start="B")) == [
        ("/StartAt", "MISSING_TRANSITION_TARGET: Missing 'StartAt' target: B")
    ]


def test_states_must_not_be_empty() -> None:
    assert pointers(machine({})) == ["/States"]


@pytest.mark.parametrize(
    ("top", "pointer"),
    [
        ({"Bogus": 1}, "/Bogus"),
        ({"Comment": 5}, "/Comment"),
        ({"Version": 1.0}, "/Version"),
        ({"TimeoutSeconds": 0}, "/TimeoutSeconds"),
        ({"TimeoutSeconds": 1.5}, "/TimeoutSeconds"),
        ({"TimeoutSeconds": True}, "/TimeoutSeconds"),
        ({"QueryLanguage": "XPath"}, "/QueryLanguage"),
        ({"QueryLanguage": 1}, "/QueryLanguage"),
        ({"StartAt": 3}, "/StartAt"),
    ],
)
def test_top_level_field_problems(top: dict[str, Any], pointer: str) -> None:
    assert pointers(one({"Type": "Succeed"}, **top)) == [pointer]


# -- field tables ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "field"),
    [
        ({"Type": "Pass", "End": True, "ResultSelector": {}}, "ResultSelector"),
        ({"Type": "Pass", "End": True, "Retry": []}, "Retry"),
        ({"Type": "Pass", "End": True, "Catch": []}, "Catch"),
        ({"Type": "Succeed", "Next": "A"}, "Next"),
        ({"Type": "Fail", "End": True}, "End"),
        ({"Type": "Fail", "InputPath": "$"}, "InputPath"),
        ({"Type": "Succeed", "ResultPath": "$"}, "ResultPath"),
        ({"Type": "Wait", "Seconds": 1, "End": True, "Parameters": {}}, "Parameters"),
        ({"Type": "Task", "Resource": LAMBDA, "End": True, "Iterator": {}}, "Iterator"),
        ({"Type": "Pass", "End": True, "Foo": 1}, "Foo"),
    ],
)
def test_fields_not_allowed_by_the_state_type(state: dict[str, Any], field: str) -> None:
    assert found(one(state)) == [
        (
            f"/States/A/{field}",
            f"SCHEMA_VALIDATION_FAILED: Field '{field}' is not supported by state type "
            f"'{state['Type']}'",
        )
    ]


def test_next_on_choice_is_not_supported() -> None:
    definition = machine(
        {
            "A": {
                "Type": "Choice",
                "Next": "B",
                "Choices": [{"Variable": "$.x", "IsNull": True, "Next": "B"}],
            },
            "B": {"Type": "Succeed"},
        }
    )
    assert pointers(definition) == ["/States/A/Next"]


@pytest.mark.parametrize(
    ("state", "field", "kind"),
    [
        ({"Type": "Pass", "End": True, "Comment": 1}, "Comment", "a string"),
        ({"Type": "Pass", "End": "yes"}, "End", "a boolean"),
        ({"Type": "Pass", "End": True, "Parameters": [1]}, "Parameters", "an object"),
        ({"Type": "Pass", "End": True, "InputPath": 1}, "InputPath", "a string or null"),
        ({"Type": "Task", "Resource": 5, "End": True}, "Resource", "a string"),
        ({"Type": "Wait", "Seconds": "5", "End": True}, "Seconds", "an integer"),
    ],
)
def test_field_types(state: dict[str, Any], field: str, kind: str) -> None:
    assert (
        f"/States/A/{field}",
        f"SCHEMA_VALIDATION_FAILED: The value for the field '{field}' must be {kind}",
    ) in found(one(state))


def test_type_is_required_and_must_be_known() -> None:
    assert pointers(one({"End": True})) == ["/States/A"]
    assert found(one({"Type": "Sleep", "End": True})) == [
        ("/States/A/Type", "SCHEMA_VALIDATION_FAILED: Unknown state type: Sleep")
    ]


def test_a_state_must_be_an_object() -> None:
    assert pointers(machine({"A": {"Type": "Succeed"}, "B": []})) == [
        "/States/B",
        "/States/B",  # and it is unreachable
    ]


# -- Next / End, transitions, reachability ---------------------------------------------


def test_exactly_one_of_next_and_end() -> None:
    assert found(one({"Type": "Pass"})) == [
        ("/States/A", "SCHEMA_VALIDATION_FAILED: Exactly one of 'Next' and 'End' is required"),
        ("", "MISSING_END_STATE: Workflow has no terminal state"),
    ]
    both = machine({"A": {"Type": "Pass", "Next": "B", "End": True}, "B": {"Type": "Succeed"}})
    assert found(both) == [
        ("/States/A", "SCHEMA_VALIDATION_FAILED: Only one of 'Next' and 'End' may be specified")
    ]


def test_end_must_be_true() -> None:
    assert pointers(machine({"A": {"Type": "Pass", "End": False}})) == [
        "/States/A/End",
        "",  # no terminal state either
    ]


def test_next_must_name_a_state() -> None:
    definition = machine({"A": {"Type": "Pass", "Next": "Nope"}, "B": {"Type": "Succeed"}})
    assert found(definition) == [
        ("/States/A/Next", "MISSING_TRANSITION_TARGET: Missing 'Next' target: Nope"),
        ("/States/B", 'MISSING_TRANSITION_TARGET: State "B" is not reachable.'),
    ]


def test_unreachable_states_are_reported() -> None:
    definition = machine(
        {
            "A": {"Type": "Pass", "End": True},
            "Orphan": {"Type": "Pass", "Next": "Orphan2"},
            "Orphan2": {"Type": "Succeed"},
        }
    )
    assert pointers(definition) == ["/States/Orphan", "/States/Orphan2"]


def test_states_reached_through_choices_default_and_catch_are_reachable() -> None:
    assert_valid(
        machine(
            {
                "A": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "B"}],
                    "Default": "C",
                },
                "B": {
                    "Type": "Task",
                    "Resource": LAMBDA,
                    "End": True,
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "D"}],
                },
                "C": {"Type": "Succeed"},
                "D": {"Type": "Fail"},
            }
        )
    )


def test_a_branch_cannot_jump_outside_itself() -> None:
    definition = machine(
        {
            "P": {
                "Type": "Parallel",
                "Next": "Done",
                "Branches": [{"StartAt": "B1", "States": {"B1": {"Type": "Pass", "Next": "Done"}}}],
            },
            "Done": {"Type": "Succeed"},
        },
        start="P",
    )
    assert found(definition) == [
        (
            "/States/P/Branches/0/States/B1/Next",
            "MISSING_TRANSITION_TARGET: Missing 'Next' target: Done",
        ),
        ("/States/P/Branches/0", "MISSING_END_STATE: Workflow has no terminal state"),
    ]


def test_state_names_are_at_most_80_characters() -> None:
    long = "x" * 81
    assert_valid(machine({"y" * 80: {"Type": "Succeed"}}, start="y" * 80))
    assert found(machine({long: {"Type": "Succeed"}}, start=long)) == [
        (
            f"/States/{long}",
            "INVALID_STATE_NAME: State names must be 1 to 80 characters long; this one has 81",
        )
    ]


def test_pointers_escape_slashes_and_tildes_in_state_names() -> None:
    definition = machine({"a/b~c": {"Type": "Pass", "End": True, "Bad": 1}}, start="a/b~c")
    assert pointers(definition) == ["/States/a~1b~0c/Bad"]


def test_state_names_are_unique_across_nested_branches() -> None:
    definition = machine(
        {
            "A": {
                "Type": "Parallel",
                "End": True,
                "Branches": [
                    {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}},
                    {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}},
                ],
            }
        }
    )
    assert found(definition) == [
        (
            "/States/A/Branches/1/States/X",
            "DUPLICATE_STATE_NAME: Duplicate State name: X (also at /States/A/Branches/0/States/X)",
        )
    ]


# -- paths and templates -----------------------------------------------------------------


def test_input_and_output_paths() -> None:
    sm = parse_definition(
        one({"Type": "Pass", "End": True, "InputPath": "$.a[*]", "OutputPath": None})
    )
    state = sm.states["A"]
    assert state.input_path is not None
    assert state.input_path.evaluate(Scope(input={"a": [1, 2]}, context={})) == [1, 2]
    assert state.output_path is None
    problems = found(one({"Type": "Pass", "End": True, "InputPath": "a.b", "OutputPath": "$..["}))
    assert [p for p, _ in problems] == ["/States/A/InputPath", "/States/A/OutputPath"]
    assert problems[0][1].startswith(
        "SCHEMA_VALIDATION_FAILED: The value for the field 'InputPath' must be a valid JSONPath"
    )


def test_result_path_is_a_reference_path_without_context() -> None:
    sm = parse_definition(one({"Type": "Pass", "End": True, "ResultPath": None}))
    assert isinstance(sm.states["A"], PassState) and sm.states["A"].result_path is None
    for bad in ("$$.Execution", "$.a[*]", "$.a..b", "nope"):
        assert pointers(one({"Type": "Pass", "End": True, "ResultPath": bad})) == [
            "/States/A/ResultPath"
        ]


def test_template_problems_are_joined_onto_the_field_pointer() -> None:
    definition = one(
        {
            "Type": "Task",
            "Resource": LAMBDA,
            "End": True,
            "Parameters": {"ok.$": "$.a", "nested": {"bad.$": "not a path"}},
            "ResultSelector": {"list": [{"also.$": "States.Nope()"}]},
        }
    )
    assert pointers(definition) == [
        "/States/A/Parameters/nested/bad.$",
        "/States/A/ResultSelector/list/0/also.$",
    ]


def test_templates_are_compiled_into_the_model() -> None:
    sm = parse_definition(one({"Type": "Pass", "End": True, "Parameters": {"v.$": "$.x", "k": 1}}))
    state = sm.states["A"]
    assert isinstance(state, PassState) and state.parameters is not None
    assert state.parameters.evaluate(Scope(input={"x": 2}, context={})) == {"v": 2, "k": 1}


def test_pass_result_absent_and_null_differ() -> None:
    absent = parse_definition(one({"Type": "Pass", "End": True})).states["A"]
    null = parse_definition(one({"Type": "Pass", "End": True, "Result": None})).states["A"]
    assert isinstance(absent, PassState) and isinstance(null, PassState)
    assert (absent.has_result, null.has_result) == (False, True)


# -- Task --------------------------------------------------------------------------------


def test_task_is_built() -> None:
    sm = parse_definition(
        one(
            {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "End": True,
                "TimeoutSeconds": 30,
                "HeartbeatSecondsPath": "$.hb",
                "Credentials": {"RoleArn": "arn:aws:iam::123456789012:role/r"},
                "Retry": [{"ErrorEquals": ["X"], "MaxDelaySeconds": 5, "JitterStrategy": "FULL"}],
            }
        )
    )
    task = sm.states["A"]
    assert isinstance(task, TaskState)
    assert task.resource == "arn:aws:states:::lambda:invoke"
    assert task.timeout_seconds == 30 and task.heartbeat_seconds is None
    assert task.heartbeat_seconds_path is not None and task.heartbeat_seconds_path.source == "$.hb"
    (retrier,) = task.retry
    assert retrier.error_equals == ("X",)
    assert (retrier.interval_seconds, retrier.max_attempts, retrier.backoff_rate) == (1, 3, 2.0)
    assert (retrier.max_delay_seconds, retrier.jitter_strategy) == (5, "FULL")


def test_task_requires_a_resource_arn() -> None:
    assert found(one({"Type": "Task", "End": True})) == [
        (
            "/States/A",
            "SCHEMA_VALIDATION_FAILED: The field 'Resource' is required by state type 'Task'",
        )
    ]
    assert found(one({"Type": "Task", "End": True, "Resource": "notify"})) == [
        (
            "/States/A/Resource",
            "INVALID_RESOURCE: The value for the field 'Resource' must be an ARN, not 'notify'",
        )
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"TimeoutSeconds": 0}, ["/States/A/TimeoutSeconds"]),
        ({"HeartbeatSeconds": -1}, ["/States/A/HeartbeatSeconds"]),
        ({"TimeoutSeconds": 100_000_000}, ["/States/A/TimeoutSeconds"]),
        ({"TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t"}, ["/States/A"]),
        ({"HeartbeatSeconds": 5, "HeartbeatSecondsPath": "$.t"}, ["/States/A"]),
        ({"TimeoutSeconds": 10, "HeartbeatSeconds": 10}, ["/States/A/HeartbeatSeconds"]),
        ({"TimeoutSecondsPath": "$.a[*]"}, ["/States/A/TimeoutSecondsPath"]),
        ({"TimeoutSeconds": 10, "HeartbeatSeconds": 9}, []),
    ],
)
def test_task_timeouts(fields: dict[str, Any], expected: list[str]) -> None:
    assert pointers(one({"Type": "Task", "Resource": LAMBDA, "End": True, **fields})) == expected


# -- Retry and Catch ---------------------------------------------------------------------


def task_with(**fields: Any) -> dict[str, Any]:
    return machine(
        {
            "A": {"Type": "Task", "Resource": LAMBDA, "End": True, **fields},
            "Recover": {"Type": "Succeed"},
        }
    )


@pytest.mark.parametrize(
    ("retrier", "pointer"),
    [
        ({}, "/States/A/Retry/0"),
        ({"ErrorEquals": []}, "/States/A/Retry/0/ErrorEquals"),
        ({"ErrorEquals": "X"}, "/States/A/Retry/0/ErrorEquals"),
        ({"ErrorEquals": [1]}, "/States/A/Retry/0/ErrorEquals/0"),
        ({"ErrorEquals": ["X"], "IntervalSeconds": 0}, "/States/A/Retry/0/IntervalSeconds"),
        (
            {"ErrorEquals": ["X"], "IntervalSeconds": 100_000_000},
            "/States/A/Retry/0/IntervalSeconds",
        ),
        ({"ErrorEquals": ["X"], "MaxAttempts": -1}, "/States/A/Retry/0/MaxAttempts"),
        ({"ErrorEquals": ["X"], "MaxAttempts": 1.5}, "/States/A/Retry/0/MaxAttempts"),
        ({"ErrorEquals": ["X"], "BackoffRate": 0.9}, "/States/A/Retry/0/BackoffRate"),
        ({"ErrorEquals": ["X"], "BackoffRate": "2"}, "/States/A/Retry/0/BackoffRate"),
        ({"ErrorEquals": ["X"], "MaxDelaySeconds": 0}, "/States/A/Retry/0/MaxDelaySeconds"),
        ({"ErrorEquals": ["X"], "JitterStrategy": "HALF"}, "/States/A/Retry/0/JitterStrategy"),
        ({"ErrorEquals": ["X"], "Next": "B"}, "/States/A/Retry/0/Next"),
        ("retry", "/States/A/Retry/0"),
    ],
)
def test_retrier_problems(retrier: Any, pointer: str) -> None:
    definition = one({"Type": "Task", "Resource": LAMBDA, "End": True, "Retry": [retrier]})
    assert pointers(definition) == [pointer]


def test_retry_zero_attempts_and_backoff_one_are_valid() -> None:
    definition = one(
        {
            "Type": "Task",
            "Resource": LAMBDA,
            "End": True,
            "Retry": [{"ErrorEquals": ["X"], "MaxAttempts": 0, "BackoffRate": 1}],
        }
    )
    task = parse_definition(definition).states["A"]
    assert isinstance(task, TaskState)
    assert (task.retry[0].max_attempts, task.retry[0].backoff_rate) == (0, 1.0)


def test_states_all_must_be_alone_and_last() -> None:
    definition = task_with(
        Retry=[{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["States.ALL", "X"]}],
        Catch=[
            {"ErrorEquals": ["States.ALL"], "Next": "Recover"},
            {"ErrorEquals": ["X"], "Next": "Recover"},
        ],
    )
    assert found(definition) == [
        (
            "/States/A/Retry/0/ErrorEquals",
            "SCHEMA_VALIDATION_FAILED: A Retrier with States.ALL must be the last one",
        ),
        (
            "/States/A/Retry/1/ErrorEquals",
            "SCHEMA_VALIDATION_FAILED: States.ALL must appear alone in 'ErrorEquals'",
        ),
        (
            "/States/A/Catch/0/ErrorEquals",
            "SCHEMA_VALIDATION_FAILED: A Catcher with States.ALL must be the last one",
        ),
    ]


def test_catcher_problems() -> None:
    definition = task_with(
        Catch=[
            {"ErrorEquals": ["X"]},
            {"ErrorEquals": ["Y"], "Next": "Nowhere"},
            {"ErrorEquals": ["Z"], "Next": "Recover", "ResultPath": "$$.x"},
            {"ErrorEquals": ["States.ALL"], "Next": "Recover", "Output": {}},
        ]
    )
    assert pointers(definition) == [
        "/States/A/Catch/0",
        "/States/A/Catch/2/ResultPath",
        "/States/A/Catch/3/Output",
        "/States/A/Catch/1/Next",
    ]


def test_catcher_result_path_defaults_to_dollar_and_null_is_none() -> None:
    task = parse_definition(
        task_with(
            Catch=[
                {"ErrorEquals": ["X"], "Next": "Recover", "ResultPath": None},
                {"ErrorEquals": ["States.ALL"], "Next": "Recover", "ResultPath": "$.error"},
            ]
        )
    ).states["A"]
    assert isinstance(task, TaskState)
    assert task.catch[0].result_path is None
    assert task.catch[1].result_path is not None and task.catch[1].result_path.source == "$.error"
    assert task.catch[0].next == "Recover"


# -- Wait --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"Seconds": 0}, []),
        ({"Timestamp": "2016-03-14T01:59:00Z"}, []),
        ({"Timestamp": "2016-03-14T01:59:00.5+01:00"}, []),
        ({"SecondsPath": "$.s"}, []),
        ({"TimestampPath": "$$.Execution.StartTime"}, []),
        ({}, ["/States/A"]),
        ({"Seconds": 1, "SecondsPath": "$.s"}, ["/States/A"]),
        ({"Seconds": -1}, ["/States/A/Seconds"]),
        ({"Timestamp": "2016-03-14t01:59:00z"}, ["/States/A/Timestamp"]),
        ({"Timestamp": "2016-03-14T01:59:00"}, ["/States/A/Timestamp"]),
        ({"Timestamp": "tomorrow"}, ["/States/A/Timestamp"]),
        ({"SecondsPath": "$.s[*]"}, ["/States/A/SecondsPath"]),
    ],
)
def test_wait(fields: dict[str, Any], expected: list[str]) -> None:
    assert pointers(one({"Type": "Wait", "End": True, **fields})) == expected


def test_wait_is_built() -> None:
    state = parse_definition(one({"Type": "Wait", "End": True, "Seconds": 5})).states["A"]
    assert isinstance(state, WaitState) and state.seconds == 5 and state.seconds_path is None


# -- Fail --------------------------------------------------------------------------------


def test_fail_fields() -> None:
    sm = parse_definition(
        one(
            {
                "Type": "Fail",
                "ErrorPath": "$.error",
                "CausePath": "States.Format('bad {}', $.why)",
            }
        )
    )
    fail = sm.states["A"]
    assert isinstance(fail, FailState)
    scope = Scope(input={"error": "E", "why": "w"}, context={})
    assert fail.error_path is not None and fail.error_path.evaluate(scope) == "E"
    assert fail.cause_path is not None and fail.cause_path.evaluate(scope) == "bad w"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"Error": "E", "ErrorPath": "$.e"}, ["/States/A"]),
        ({"Cause": "C", "CausePath": "$.c"}, ["/States/A"]),
        ({"ErrorPath": "$.e[*]"}, ["/States/A/ErrorPath"]),
        ({"CausePath": "States.MathAdd(1, 2)"}, ["/States/A/CausePath"]),
        ({"CausePath": "States.Format("}, ["/States/A/CausePath"]),
        ({"Error": 5}, ["/States/A/Error"]),
    ],
)
def test_fail_problems(fields: dict[str, Any], expected: list[str]) -> None:
    assert pointers(one({"Type": "Fail", **fields})) == expected


# -- Choice ------------------------------------------------------------------------------


def choice(**fields: Any) -> dict[str, Any]:
    return machine({"A": {"Type": "Choice", **fields}, "B": {"Type": "Succeed"}})


def test_choice_is_built_and_evaluates() -> None:
    sm = parse_definition(
        choice(Choices=[{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "B"}], Default="B")
    )
    state = sm.states["A"]
    assert isinstance(state, ChoiceState)
    assert state.default == "B"
    (rule,) = state.choices
    assert rule.next == "B"
    assert rule.matches(Scope(input={"n": 2}, context={})) is True


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # Without a rule or Default naming it, B is unreachable as well.
        ({}, ["/States/A", "/States/B"]),
        ({"Choices": []}, ["/States/A/Choices", "/States/B"]),
        ({"Choices": {}}, ["/States/A/Choices", "/States/B"]),
        (
            {"Choices": [{"Variable": "$.x", "IsNull": True, "Next": "Nope"}], "Default": "B"},
            ["/States/A/Choices/0/Next"],
        ),
        (
            {"Choices": [{"Variable": "$.x", "IsNull": True, "Next": "B"}], "Default": "Nope"},
            ["/States/A/Default"],
        ),
        (
            {"Choices": [{"Variable": "$.x", "IsNull": True}], "Default": "B"},
            ["/States/A/Choices/0"],
        ),
        (
            {"Choices": [{"Variable": "$.x", "IsNull": True, "Next": "B"}], "End": True},
            ["/States/A/End"],
        ),
    ],
)
def test_choice_problems(fields: dict[str, Any], expected: list[str]) -> None:
    assert pointers(choice(**fields)) == expected


# -- Parallel ----------------------------------------------------------------------------


def test_parallel_branches_are_validated_recursively() -> None:
    definition = one(
        {
            "Type": "Parallel",
            "End": True,
            "Branches": [
                {"StartAt": "B1", "States": {"B1": {"Type": "Pass", "End": True, "Bad": 1}}},
                {"States": {"B2": {"Type": "Succeed"}}},
                {"StartAt": "B3", "States": {"B3": {"Type": "Succeed"}}, "Extra": 1},
                "branch",
            ],
        }
    )
    assert pointers(definition) == [
        "/States/A/Branches/0/States/B1/Bad",
        "/States/A/Branches/1",
        "/States/A/Branches/2/Extra",
        "/States/A/Branches/3",
    ]


def test_parallel_needs_branches() -> None:
    assert pointers(one({"Type": "Parallel", "End": True})) == ["/States/A"]
    assert pointers(one({"Type": "Parallel", "End": True, "Branches": []})) == [
        "/States/A/Branches"
    ]


def test_parallel_is_built() -> None:
    sm = parse_definition(
        one(
            {
                "Type": "Parallel",
                "End": True,
                "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Succeed"}}}],
                "ResultSelector": {"first.$": "$[0]"},
            }
        )
    )
    state = sm.states["A"]
    assert isinstance(state, ParallelState)
    assert state.branches[0].start_at == "B"
    assert state.result_selector is not None


# -- Map ---------------------------------------------------------------------------------


def map_state(**fields: Any) -> dict[str, Any]:
    processor = {"StartAt": "M1", "States": {"M1": {"Type": "Pass", "End": True}}}
    return one({"Type": "Map", "End": True, "ItemProcessor": processor, **fields})


def test_map_is_built() -> None:
    sm = parse_definition(
        map_state(ItemsPath="$.items", ItemSelector={"v.$": "$$.Map.Item.Value"}, MaxConcurrency=2)
    )
    state = sm.states["A"]
    assert isinstance(state, MapState)
    assert state.item_processor.start_at == "M1"
    assert state.items_path is not None and state.items_path.source == "$.items"
    assert state.item_selector is not None
    assert state.max_concurrency == 2


def test_map_with_the_older_iterator_and_parameters() -> None:
    iterator = {"StartAt": "M1", "States": {"M1": {"Type": "Succeed"}}}
    sm = parse_definition(
        one({"Type": "Map", "End": True, "Iterator": iterator, "Parameters": {"a": 1}})
    )
    state = sm.states["A"]
    assert isinstance(state, MapState)
    assert state.item_processor.start_at == "M1"
    assert state.item_selector is not None
    assert state.items_path is not None and state.items_path.source == "$"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"MaxConcurrency": -1}, ["/States/A/MaxConcurrency"]),
        ({"MaxConcurrency": 1, "MaxConcurrencyPath": "$.m"}, ["/States/A"]),
        ({"ItemSelector": {}, "Parameters": {}}, ["/States/A"]),
        ({"ToleratedFailurePercentage": 101}, ["/States/A/ToleratedFailurePercentage"]),
        ({"ToleratedFailureCount": -1}, ["/States/A/ToleratedFailureCount"]),
        ({"ToleratedFailureCount": 1, "ToleratedFailureCountPath": "$.c"}, ["/States/A"]),
        ({"ItemReader": {}}, ["/States/A/ItemReader"]),
        ({"ResultWriter": {}}, ["/States/A/ResultWriter"]),
        ({"ItemBatcher": {}}, ["/States/A/ItemBatcher"]),
        ({"ItemsPath": "$.a[*]"}, ["/States/A/ItemsPath"]),
        ({"Iterator": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}}}, ["/States/A"]),
        ({"ToleratedFailurePercentage": 50.5, "MaxConcurrencyPath": "$.m"}, []),
    ],
)
def test_map_problems(fields: dict[str, Any], expected: list[str]) -> None:
    assert pointers(map_state(**fields)) == expected


def test_map_unsupported_fields_say_so() -> None:
    assert found(map_state(ItemReader={})) == [
        (
            "/States/A/ItemReader",
            "SCHEMA_VALIDATION_FAILED: Field 'ItemReader' is not supported (inline Map only)",
        )
    ]


def test_map_distributed_mode_without_a_reader_runs_inline() -> None:
    processor = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "M1",
        "States": {"M1": {"Type": "Succeed"}},
    }
    assert_valid(one({"Type": "Map", "End": True, "ItemProcessor": processor}))
    inline = {**processor, "ProcessorConfig": {"Mode": "INLINE", "ExecutionType": "EXPRESS"}}
    assert found(one({"Type": "Map", "End": True, "ItemProcessor": inline})) == [
        (
            "/States/A/ItemProcessor/ProcessorConfig/ExecutionType",
            "SCHEMA_VALIDATION_FAILED: Field 'ExecutionType' is only allowed when 'Mode' is "
            "DISTRIBUTED",
        )
    ]
    odd = {**processor, "ProcessorConfig": {"Mode": "SIDEWAYS"}}
    assert found(one({"Type": "Map", "End": True, "ItemProcessor": odd})) == [
        (
            "/States/A/ItemProcessor/ProcessorConfig/Mode",
            "SCHEMA_VALIDATION_FAILED: The value for 'Mode' must be INLINE or DISTRIBUTED",
        )
    ]


def test_map_needs_a_processor() -> None:
    assert found(one({"Type": "Map", "End": True})) == [
        (
            "/States/A",
            "SCHEMA_VALIDATION_FAILED: The field 'ItemProcessor' is required by state type 'Map'",
        )
    ]


# -- JSONata -----------------------------------------------------------------------------


def test_jsonata_states_keep_their_fields_raw() -> None:
    sm = parse_definition(
        machine(
            {
                "A": {
                    "Type": "Task",
                    "Resource": LAMBDA,
                    "Arguments": {"id": "{% $states.input.id %}"},
                    "Output": "{% $states.result %}",
                    "Assign": {"x": "{% 1 %}"},
                    "TimeoutSeconds": "{% $timeout %}",
                    "Next": "M",
                },
                "M": {
                    "Type": "Map",
                    "Items": "{% $states.input.list %}",
                    "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}},
                    "Next": "C",
                },
                "C": {
                    "Type": "Choice",
                    "Choices": [{"Condition": "{% $x = 1 %}", "Next": "Done"}],
                    "Default": "Done",
                },
                "Done": {"Type": "Succeed", "Output": {"ok": True}},
            },
            QueryLanguage="JSONata",
        )
    )
    assert sm.query_language == "JSONata"
    task = sm.states["A"]
    assert isinstance(task, TaskState)
    assert task.query_language == "JSONata"
    assert task.arguments is not None and task.arguments.raw == {"id": "{% $states.input.id %}"}
    assert task.output is not None and task.output.raw == "{% $states.result %}"
    assert task.assign is not None and task.assign.names == ("x",)
    assert task.timeout_seconds is None
    assert task.expressions["TimeoutSeconds"].raw == "{% $timeout %}"
    map_ = sm.states["M"]
    assert isinstance(map_, MapState)
    assert map_.items is not None and map_.items.raw == "{% $states.input.list %}"
    assert map_.item_processor.query_language == "JSONata"
    done = sm.states["Done"].output
    assert done is not None and done.is_literal and done.raw == {"ok": True}


def test_jsonpath_fields_are_errors_in_jsonata_states() -> None:
    definition = one(
        {
            "Type": "Pass",
            "End": True,
            "InputPath": "$.a",
            "Parameters": {},
            "ResultPath": "$.r",
            "OutputPath": "$",
        },
        QueryLanguage="JSONata",
    )
    assert [p for p, _ in found(definition)] == [
        "/States/A/InputPath",
        "/States/A/Parameters",
        "/States/A/ResultPath",
        "/States/A/OutputPath",
    ]
    assert found(definition)[0][1] == (
        "SCHEMA_VALIDATION_FAILED: "
        "Field 'InputPath' is only supported when QueryLanguage is JSONPath"
    )


def test_jsonata_fields_are_errors_in_jsonpath_states() -> None:
    definition = one(
        {"Type": "Task", "Resource": LAMBDA, "End": True, "Arguments": {}, "Output": 1}
    )
    assert pointers(definition) == ["/States/A/Arguments", "/States/A/Output"]


def test_a_state_may_opt_into_jsonata_but_not_out_of_it() -> None:
    assert_valid(one({"Type": "Pass", "End": True, "QueryLanguage": "JSONata", "Output": 1}))
    definition = one(
        {"Type": "Pass", "End": True, "QueryLanguage": "JSONPath"}, QueryLanguage="JSONata"
    )
    assert pointers(definition) == ["/States/A/QueryLanguage"]


def test_assign_is_allowed_in_jsonpath_states() -> None:
    state = parse_definition(one({"Type": "Pass", "End": True, "Assign": {"a.$": "$.x"}})).states[
        "A"
    ]
    assert state.assign is not None and state.assign.names == ("a",)


def test_jsonpath_choice_rules_are_errors_in_jsonata() -> None:
    definition = machine(
        {
            "A": {
                "Type": "Choice",
                "QueryLanguage": "JSONata",
                "Choices": [{"Variable": "$.x", "IsNull": True, "Next": "B"}],
            },
            "B": {"Type": "Succeed"},
        }
    )
    assert pointers(definition) == [
        "/States/A/Choices/0/Variable",
        "/States/A/Choices/0/IsNull",
        "/States/A/Choices/0",
    ]


# -- everything together ------------------------------------------------------------------


def test_several_problems_are_reported_together() -> None:
    definition = machine(
        {
            "Start": {"Type": "Pass", "Next": "Notify", "Retry": []},
            "Notify": {
                "Type": "Task",
                "Resource": LAMBDA,
                "Next": "Nope",
                "Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5}],
            },
            "Wait": {"Type": "Wait", "End": True},
        },
        start="Start",
    )
    with pytest.raises(DefinitionError) as caught:
        parse_definition(definition, source="order.asl.json")
    error = caught.value
    assert [p.pointer for p in error.problems] == [
        "/States/Start/Retry",
        "/States/Notify/Retry/0/BackoffRate",
        "/States/Wait",
        "/States/Notify/Next",
        "/States/Wait",
    ]
    assert str(error).splitlines()[1] == (
        "order.asl.json: /States/Notify/Retry/0/BackoffRate: SCHEMA_VALIDATION_FAILED: "
        "The value for the field 'BackoffRate' must be at least 1.0"
    )


CALLBACK = "arn:aws:states:::lambda:invoke.waitForTaskToken"
ORDER_ID = "States.Format('o-{}', $.order.id)"
CAUSE = "States.Format('order {}', $.order.id)"

BIG = {
    "Comment": "Parallel inside Map inside Parallel",
    "StartAt": "Prepare",
    "TimeoutSeconds": 3600,
    "States": {
        "Prepare": {
            "Type": "Pass",
            "Parameters": {"orders.$": "$.orders", "startedAt.$": "$$.Execution.StartTime"},
            "ResultPath": "$.prepared",
            "Next": "Fan out",
        },
        "Fan out": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Each order",
                    "States": {
                        "Each order": {
                            "Type": "Map",
                            "ItemsPath": "$.prepared.orders",
                            "ItemSelector": {"order.$": "$$.Map.Item.Value"},
                            "MaxConcurrency": 4,
                            "ItemProcessor": {
                                "ProcessorConfig": {"Mode": "INLINE"},
                                "StartAt": "Per order",
                                "States": {
                                    "Per order": {
                                        "Type": "Parallel",
                                        "Branches": [
                                            {
                                                "StartAt": "Notify restaurant",
                                                "States": {
                                                    "Notify restaurant": {
                                                        "Type": "Task",
                                                        "Resource": CALLBACK,
                                                        "Parameters": {
                                                            "FunctionName": LAMBDA,
                                                            "Payload": {
                                                                "token.$": "$$.Task.Token",
                                                                "id.$": ORDER_ID,
                                                            },
                                                        },
                                                        "TimeoutSeconds": 600,
                                                        "HeartbeatSeconds": 60,
                                                        "Retry": [
                                                            {
                                                                "ErrorEquals": [
                                                                    "Lambda.TooManyRequestsException"
                                                                ],
                                                                "IntervalSeconds": 2,
                                                                "MaxAttempts": 5,
                                                                "BackoffRate": 1.5,
                                                                "MaxDelaySeconds": 30,
                                                                "JitterStrategy": "FULL",
                                                            },
                                                            {"ErrorEquals": ["States.ALL"]},
                                                        ],
                                                        "Catch": [
                                                            {
                                                                "ErrorEquals": ["States.Timeout"],
                                                                "ResultPath": "$.error",
                                                                "Next": "Declined",
                                                            }
                                                        ],
                                                        "Next": "Accepted?",
                                                    },
                                                    "Accepted?": {
                                                        "Type": "Choice",
                                                        "Choices": [
                                                            {
                                                                "And": [
                                                                    {
                                                                        "Variable": "$.status",
                                                                        "IsPresent": True,
                                                                    },
                                                                    {
                                                                        "Variable": "$.status",
                                                                        "StringEquals": "ACCEPTED",
                                                                    },
                                                                ],
                                                                "Next": "Accepted",
                                                            }
                                                        ],
                                                        "Default": "Declined",
                                                    },
                                                    "Accepted": {"Type": "Succeed"},
                                                    "Declined": {
                                                        "Type": "Fail",
                                                        "Error": "OrderDeclined",
                                                        "CausePath": CAUSE,
                                                    },
                                                },
                                            },
                                            {
                                                "StartAt": "Pause",
                                                "States": {
                                                    "Pause": {
                                                        "Type": "Wait",
                                                        "Seconds": 1,
                                                        "Next": "Log",
                                                    },
                                                    "Log": {
                                                        "Type": "Pass",
                                                        "Result": {"logged": True},
                                                        "End": True,
                                                    },
                                                },
                                            },
                                        ],
                                        "ResultSelector": {"restaurant.$": "$[0]", "log.$": "$[1]"},
                                        "End": True,
                                    }
                                },
                            },
                            "End": True,
                        }
                    },
                },
                {
                    "StartAt": "Analytics",
                    "States": {
                        "Analytics": {
                            "Type": "Task",
                            "Resource": "arn:aws:lambda:us-east-1:123456789012:function:analytics",
                            "OutputPath": "$.Payload",
                            "End": True,
                        }
                    },
                },
            ],
            "ResultPath": "$.results",
            "Next": "Done",
        },
        "Done": {"Type": "Succeed", "OutputPath": "$.results"},
    },
}


def test_a_big_nested_definition_validates() -> None:
    sm = parse_definition(copy.deepcopy(BIG))
    fan_out = sm.states["Fan out"]
    assert isinstance(fan_out, ParallelState)
    each = fan_out.branches[0].states["Each order"]
    assert isinstance(each, MapState)
    per_order = each.item_processor.states["Per order"]
    assert isinstance(per_order, ParallelState)
    notify = per_order.branches[0].states["Notify restaurant"]
    assert isinstance(notify, TaskState)
    assert notify.heartbeat_seconds == 60
    assert [r.error_equals for r in notify.retry] == [
        ("Lambda.TooManyRequestsException",),
        ("States.ALL",),
    ]


def test_validate_definition_never_raises() -> None:
    junk: list[Any] = [None, 1, "", "[]", "{", b"\xff", {"States": None}, {"StartAt": []}]
    for item in junk:
        assert validate_definition(item) != []


def test_deep_nesting_is_a_definition_error() -> None:
    rule: dict[str, Any] = {"Variable": "$.x", "IsNull": True}
    for _ in range(5000):
        rule = {"Not": rule}
    definition = choice(Choices=[{**rule, "Next": "B"}])
    problems = validate_definition(definition)
    assert [p.message.split(":")[0] for p in problems] == ["TOO_DEEPLY_NESTED"]
