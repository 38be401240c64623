from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncue.app import load_definition_file
from oncue.asl.loader import load_definition
from oncue.errors import DefinitionError

DEFINITION = {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}


def error_of(text: str | bytes, source: str | None = None) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        load_definition(text, source=source)
    return caught.value


def test_json_text_and_bytes() -> None:
    assert load_definition(json.dumps(DEFINITION)) == DEFINITION
    assert load_definition(json.dumps(DEFINITION).encode()) == DEFINITION
    assert load_definition(b"\xef\xbb\xbf" + json.dumps(DEFINITION).encode()) == DEFINITION


def test_yaml_text() -> None:
    text = """
    StartAt: A
    States:
      A:
        Type: Wait
        Timestamp: 2016-03-14T01:59:00Z
        End: true
    """
    loaded = load_definition(text)
    # The timestamp stays a string, as in the JSON form of the same definition.
    assert loaded["States"]["A"] == {
        "Type": "Wait",
        "Timestamp": "2016-03-14T01:59:00Z",
        "End": True,
    }


def test_malformed_json_names_line_and_column() -> None:
    error = error_of('{\n  "StartAt": "A",\n  "States": {,}\n}', source="flow.json")
    (problem,) = error.problems
    assert problem.pointer == ""
    assert problem.message.startswith(
        "INVALID_JSON_DESCRIPTION: invalid JSON/YAML at line 3 column 14: "
    )
    assert error.source == "flow.json"
    assert str(error).startswith("flow.json: /: INVALID_JSON_DESCRIPTION")


def test_malformed_yaml_names_line_and_column() -> None:
    (problem,) = error_of("StartAt: A\nStates:\n  A: [1, 2\n").problems
    assert problem.message.startswith("INVALID_JSON_DESCRIPTION: invalid JSON/YAML at line ")
    assert "column" in problem.message


@pytest.mark.parametrize("text", ["[]", "42", '"text"', "null", "- a\n- b\n"])
def test_the_top_level_must_be_an_object(text: str) -> None:
    (problem,) = error_of(text).problems
    assert "must be a JSON object" in problem.message


@pytest.mark.parametrize("text", ["", "   \n", b""])
def test_an_empty_definition(text: str | bytes) -> None:
    (problem,) = error_of(text).problems
    assert problem.message.startswith("MISSING_DESCRIPTION: ")


def test_nan_is_not_json() -> None:
    assert "NaN" in error_of('{"a": NaN}').problems[0].message
    assert error_of("a: .nan\n").problems[0].pointer == "/a"


def test_yaml_values_json_cannot_hold_are_reported_with_pointers() -> None:
    error = error_of("States:\n  1: x\n  b: !!set {a, b}\n  c: 2024-01-01\n")
    messages = {p.pointer: p.message for p in error.problems}
    assert "object key 1 is not a string" in messages["/States"]
    assert "set" in messages["/States/b"]
    # Dates are kept as text, like timestamps.
    assert "/States/c" not in messages


def test_bytes_that_are_not_utf8() -> None:
    assert "not UTF-8" in error_of(b'{"a": "\xff"}').problems[0].message


def test_load_definition_file(tmp_path: Path) -> None:
    path = tmp_path / "flow.asl.yaml"
    path.write_text("StartAt: A\nStates:\n  A:\n    Type: Succeed\n", encoding="utf-8")
    assert load_definition_file(path) == DEFINITION
    assert load_definition_file(str(path)) == DEFINITION


def test_an_unreadable_file_is_a_definition_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(DefinitionError) as caught:
        load_definition_file(missing)
    assert caught.value.source == str(missing)
    assert str(missing) in caught.value.problems[0].message
    with pytest.raises(DefinitionError):
        load_definition_file(tmp_path)  # a directory


def test_a_bad_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_definition_file(path)
    assert caught.value.source == str(path)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(), _JSON, max_size=4))
def test_any_json_object_round_trips(value: dict[str, object]) -> None:
    assert load_definition(json.dumps(value)) == value


@given(st.text(max_size=40))
def test_arbitrary_text_never_raises_anything_else(text: str) -> None:
    try:
        load_definition(text)
    except DefinitionError as error:
        assert error.problems
