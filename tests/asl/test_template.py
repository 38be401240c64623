"""Payload templates (AWS "Parameters", "ResultSelector", "ItemSelector")."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncue.asl.evaluation import Scope, StatesFailure
from oncue.asl.template import TemplateError, compile_template, find_template_problems


def scope(document: Any, **kwargs: Any) -> Scope:
    return Scope(input=document, context=kwargs.pop("context", {}), **kwargs)


def test_parameters_documented_example() -> None:
    # The "Parameters" example of the Amazon States Language specification.
    template = {"flagged": True, "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[3:]"}}
    state_input = {"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]}
    assert compile_template(template).evaluate(scope(state_input)) == {
        "flagged": True,
        "parts": {"first": 0, "last3": [30, 40, 50]},
    }


def test_result_selector_documented_example() -> None:
    # The ResultSelector example: keep two fields of an EMR AddStep result.
    template = {"ClusterId.$": "$.output.ClusterId", "ResourceType.$": "$.resourceType"}
    result = {
        "resourceType": "elasticmapreduce",
        "resource": "createCluster.sync",
        "output": {"SdkHttpMetadata": {"HttpStatusCode": 200}, "ClusterId": "AKIAIOSFODNN7EXAMPLE"},
    }
    assert compile_template(template).evaluate(scope(result)) == {
        "ClusterId": "AKIAIOSFODNN7EXAMPLE",
        "ResourceType": "elasticmapreduce",
    }


def test_context_object_variables_and_intrinsics() -> None:
    template = {
        "execution.$": "$$.Execution.Id",
        "item.$": "$$.Map.Item.Value",
        "total.$": "$total",
        "greeting.$": "States.Format('Hi {}', $.name)",
        "id.$": "States.UUID()",
    }
    context = {"Execution": {"Id": "arn:exec"}, "Map": {"Item": {"Index": 0, "Value": {"k": 1}}}}
    result = compile_template(template).evaluate(
        scope({"name": "Ann"}, context=context, variables={"total": 3}, rng=random.Random(1))
    )
    assert result["execution"] == "arn:exec"
    assert result["item"] == {"k": 1}
    assert result["total"] == 3
    assert result["greeting"] == "Hi Ann"
    assert len(result["id"]) == 36


def test_objects_inside_arrays_are_templates() -> None:
    template = {"list": [1, {"a.$": "$.x"}, [{"b.$": "$.y"}], "plain"]}
    assert compile_template(template).evaluate(scope({"x": "X", "y": "Y"})) == {
        "list": [1, {"a": "X"}, [{"b": "Y"}], "plain"]
    }


def test_top_level_array_and_scalar_templates() -> None:
    assert compile_template([{"a.$": "$"}]).evaluate(scope(5)) == [{"a": 5}]
    assert compile_template("just a string").evaluate(scope({})) == "just a string"


def test_keys_without_dollar_suffix_are_copied_even_when_they_look_like_paths() -> None:
    template = {"a": "$.x", "b": "States.UUID()"}
    assert compile_template(template).evaluate(scope({"x": 1})) == template


def test_constant_template_is_returned_without_rebuilding() -> None:
    template = {"a": [1, {"b": 2}], "c": None}
    compiled = compile_template(template)
    assert compiled.evaluate(scope({})) is template


def test_constant_branches_of_a_dynamic_template_are_shared() -> None:
    template = {"const": {"deep": [1, 2]}, "v.$": "$.v"}
    result = compile_template(template).evaluate(scope({"v": 1}))
    assert result["const"] is template["const"]


def test_source_is_the_compact_template() -> None:
    assert compile_template({"a.$": "$.x"}).source == '{"a.$":"$.x"}'


def test_path_not_found_fails_with_states_runtime_in_aws_wording() -> None:
    compiled = compile_template({"missing.$": "$.nope.deep"})
    with pytest.raises(StatesFailure) as caught:
        compiled.evaluate(scope({"other": 1}))
    assert caught.value.error == "States.Runtime"
    assert caught.value.cause == (
        "The JSONPath '$.nope.deep' specified for the field 'missing.$' could not be found "
        "in the input '{\"other\":1}'"
    )


def test_path_not_found_inside_an_intrinsic_names_the_path_and_field() -> None:
    compiled = compile_template({"outer": {"f.$": "States.Array($.absent)"}})
    with pytest.raises(StatesFailure) as caught:
        compiled.evaluate(scope({}))
    assert caught.value.error == "States.Runtime"
    assert "'$.absent' specified for the field 'f.$'" in caught.value.cause


def test_missing_variable_fails_with_states_runtime() -> None:
    with pytest.raises(StatesFailure) as caught:
        compile_template({"v.$": "$nothing"}).evaluate(scope({}))
    assert caught.value.error == "States.Runtime"


def test_intrinsic_failures_propagate() -> None:
    compiled = compile_template({"n.$": "States.ArrayLength($.s)"})
    with pytest.raises(StatesFailure) as caught:
        compiled.evaluate(scope({"s": "text"}))
    assert caught.value.error == "States.IntrinsicFailure"


def test_indefinite_path_with_no_match_is_an_empty_array() -> None:
    assert compile_template({"a.$": "$.items[*].id"}).evaluate(scope({"items": []})) == {"a": []}


def test_problems_carry_relative_pointers_and_all_are_reported() -> None:
    template = {
        "a.$": 1,
        "b": {"c.$": "foo", "d/e~f.$": "$.["},
        "l": [{"f.$": "States.Nope()"}],
        "g": 1,
        "g.$": "$",
        "ok.$": "$.fine",
    }
    problems = find_template_problems(template)
    pointers = [pointer for pointer, _ in problems]
    assert pointers == ["/a.$", "/b/c.$", "/b/d~1e~0f.$", "/l/0/f.$", "/g.$"]
    messages = dict(problems)
    assert "must be a string" in messages["/a.$"]
    assert "must be a path (starting with '$') or an intrinsic" in messages["/b/c.$"]
    assert "invalid path '$.['" in messages["/b/d~1e~0f.$"]
    assert "unknown function States.Nope" in messages["/l/0/f.$"]
    assert "both set 'g'" in messages["/g.$"]


def test_compile_template_raises_the_first_problem() -> None:
    with pytest.raises(TemplateError) as caught:
        compile_template({"x": {"y.$": "States.Format('{}')"}})
    assert caught.value.pointer == "/x/y.$"
    assert "placeholder" in caught.value.message
    assert str(caught.value).startswith("/x/y.$: ")


def test_valid_template_has_no_problems() -> None:
    assert find_template_problems({"a.$": "$.x", "b": [{"c.$": "States.UUID()"}], "d": 1}) == []


# --- Properties ------------------------------------------------------------------------------

KEYS = st.text(alphabet="abc", min_size=1, max_size=3)
CONSTANT = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet="ab$.", max_size=4),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=3),
    max_leaves=10,
)


@given(template=CONSTANT)
def test_templates_without_dollar_fields_evaluate_to_themselves(template: Any) -> None:
    assert compile_template(template).evaluate(scope({"a": 1})) == template


@given(document=st.dictionaries(KEYS, CONSTANT, min_size=1, max_size=4))
def test_selecting_every_key_copies_the_input_without_mutating_it(document: dict[str, Any]) -> None:
    before = copy.deepcopy(document)
    template = {f"{key}.$": f"$['{key}']" for key in document}
    assert compile_template(template).evaluate(scope(document)) == document
    assert document == before
