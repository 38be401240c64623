"""JSONPath Paths and Reference Paths (AWS "Paths", "Reference Paths", "ResultPath")."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncue.asl.evaluation import PathNotFound, Scope, StatesFailure
from oncue.asl.paths import (
    DefinitePath,
    IndefinitePath,
    PathSyntaxError,
    compile_path,
    compile_reference_path,
    is_context_path,
    validate_path,
    validate_reference_path,
)

# The input of AWS's "Paths" and "Reference Paths" examples.
AWS_INPUT = {"foo": 123, "bar": ["a", "b", "c"], "car": {"cdr": True}}

# The store document the Jayway JSONPath README uses, which AWS links to.
STORE: dict[str, Any] = {
    "store": {
        "book": [
            {"category": "reference", "author": "Nigel Rees", "price": 8.95},
            {"category": "fiction", "author": "Evelyn Waugh", "price": 12.99},
            {"category": "fiction", "author": "J. R. R. Tolkien", "price": 22.99, "isbn": "x"},
        ],
        "bicycle": {"color": "red", "price": 19.95},
    }
}


def scope(document: Any, **kwargs: Any) -> Scope:
    return Scope(input=document, context=kwargs.pop("context", {}), **kwargs)


def run(path: str, document: Any, **kwargs: Any) -> Any:
    return compile_path(path).evaluate(scope(document, **kwargs))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", AWS_INPUT),
        ("$.foo", 123),
        ("$.bar", ["a", "b", "c"]),
        ("$.car.cdr", True),
        ("$.bar[0]", "a"),
        ("$.bar[2]", "c"),
        ("$.bar[-1]", "c"),
        ("$.bar[-3]", "a"),
        ("$['car']['cdr']", True),
        ('$["car"].cdr', True),
        ("$.bar[ 1 ]", "b"),
    ],
)
def test_definite_paths_select_one_value(path: str, expected: Any) -> None:
    compiled = compile_path(path)
    assert isinstance(compiled, DefinitePath)
    assert compiled.source == path
    assert compiled.evaluate(scope(AWS_INPUT)) == expected


def test_names_with_punctuation_in_dot_and_bracket_notation() -> None:
    document = {"a-b": {"arn:aws:x": 1}, "it's": {"x y": 2}, "back\\slash": 3}
    assert run("$.a-b.arn:aws:x", document) == 1
    assert run("$['it\\'s']['x y']", document) == 2
    assert run("$['back\\\\slash']", document) == 3


@pytest.mark.parametrize(
    "path",
    ["$.missing", "$.car.missing", "$.bar[3]", "$.bar[-4]", "$.foo.deeper", "$.foo[0]", "$.car[0]"],
)
def test_definite_path_that_matches_nothing_raises_path_not_found(path: str) -> None:
    with pytest.raises(PathNotFound) as caught:
        run(path, AWS_INPUT)
    assert caught.value.path == path


def test_null_is_a_value_not_a_miss() -> None:
    assert run("$.a", {"a": None}) is None


def test_index_steps_do_not_match_objects_and_key_steps_do_not_match_arrays() -> None:
    with pytest.raises(PathNotFound):
        run("$['0']", ["zero"])
    with pytest.raises(PathNotFound):
        run("$[0]", {"0": "zero"})


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.store.book[*].author", ["Nigel Rees", "Evelyn Waugh", "J. R. R. Tolkien"]),
        ("$..author", ["Nigel Rees", "Evelyn Waugh", "J. R. R. Tolkien"]),
        ("$.store.book[?(@.price < 10)].author", ["Nigel Rees"]),
        ("$.store.book[?(@.isbn)].price", [22.99]),
        ("$.store.book[?(@.category == 'fiction')].price", [12.99, 22.99]),
        ("$.store.book[0:2].price", [8.95, 12.99]),
        ("$.store.book[-1:].price", [22.99]),
        ("$.store.book[:1].price", [8.95]),
        ("$.store.book[0,2].price", [8.95, 22.99]),
        ("$.store.bicycle['color','price']", ["red", 19.95]),
        ("$.store.bicycle.*", ["red", 19.95]),
        ("$.store.book[*].missing", []),
        ("$.nothing[*]", []),
    ],
)
def test_indefinite_paths_return_every_match(path: str, expected: list[Any]) -> None:
    compiled = compile_path(path)
    assert isinstance(compiled, IndefinitePath)
    assert compiled.evaluate(scope(STORE)) == expected


def test_deep_scan_collects_prices_at_every_depth() -> None:
    assert sorted(run("$..price", STORE)) == [8.95, 12.99, 19.95, 22.99]


def test_context_object_root() -> None:
    context = {"Execution": {"Id": "arn:x", "Input": {"k": [1, 2]}}, "State": {"Name": "S"}}
    assert run("$$.Execution.Id", {}, context=context) == "arn:x"
    assert run("$$", {}, context=context) == context
    assert run("$$.Execution.Input.k[*]", {}, context=context) == [1, 2]
    with pytest.raises(PathNotFound):
        run("$$.Map.Item.Value", {}, context=context)


def test_variable_roots() -> None:
    variables = {"order": {"items": [{"id": 1}, {"id": 2}]}, "_n2": 5}
    assert run("$order.items[1].id", {}, variables=variables) == 2
    assert run("$_n2", {}, variables=variables) == 5
    assert run("$order.items[*].id", {}, variables=variables) == [1, 2]
    with pytest.raises(PathNotFound) as caught:
        run("$missing.x", {}, variables=variables)
    assert caught.value.path == "$missing.x"


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("", "must start with '$'"),
        ("foo", "must start with '$'"),
        ("$.", "expected a name after '.'"),
        ("$.a.", "expected a name after '.'"),
        ("$.a b", "unexpected ' '"),
        ("$[", "never closed"),
        ("$.a[0", "never closed"),
        ("$.a[foo]", "unsupported step"),
        ("$.a)", "unexpected ')'"),
        ("$.a..", "expected a name or '*' after '..'"),
        ("$$x", "unexpected 'x'"),
        ("$.a.length()", "unexpected '('"),
        ("$.a[?(@.b ==)]", "Parse error"),
        ("$.a[1:2:3:4]", "unsupported step"),
    ],
)
def test_syntax_errors_name_the_path_and_the_fault(path: str, fragment: str) -> None:
    with pytest.raises(PathSyntaxError) as caught:
        compile_path(path)
    assert repr(path) in str(caught.value)
    assert fragment in str(caught.value)
    assert validate_path(path) == str(caught.value)


def test_non_string_path_is_a_syntax_error() -> None:
    with pytest.raises(PathSyntaxError, match="must be a string"):
        compile_path(42)  # type: ignore[arg-type]


def test_compiled_paths_are_cached() -> None:
    assert compile_path("$.cached.path") is compile_path("$.cached.path")
    assert validate_path("$.ok[0]") is None


def test_is_context_path() -> None:
    assert is_context_path("$$.Execution.Id")
    assert not is_context_path("$.a")
    assert not is_context_path("$var")


# --- Reference paths ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["$.a[*]", "$..a", "$.a[0:1]", "$.a[0,1]", "$.a[?(@.b)]"])
def test_reference_paths_must_be_definite(path: str) -> None:
    with pytest.raises(PathSyntaxError, match="must be a Reference Path"):
        compile_reference_path(path)
    assert "must be a Reference Path" in (validate_reference_path(path) or "")


def test_reference_paths_into_context_and_variables_are_readable_by_default() -> None:
    target = compile_reference_path("$$.Execution.Name")
    assert target.evaluate(scope({}, context={"Execution": {"Name": "n"}})) == "n"
    assert compile_reference_path("$v.x").evaluate(scope({}, variables={"v": {"x": 1}})) == 1


@pytest.mark.parametrize(("path", "where"), [("$$.a", "context object"), ("$v.a", "variable")])
def test_result_path_cannot_write_into_context_or_variables(path: str, where: str) -> None:
    with pytest.raises(PathSyntaxError, match=where):
        compile_reference_path(path, allow_context=False)
    assert validate_reference_path(path, allow_context=False) is not None
    assert validate_reference_path("$.a", allow_context=False) is None


def test_assign_at_root_replaces_the_document() -> None:
    assert compile_reference_path("$").assign({"a": 1}, "result") == "result"


def test_assign_example_from_the_result_path_documentation() -> None:
    state_input = {"comment": "This is a test", "details": "Default example", "who": "AWS"}
    output = compile_reference_path("$.taskresult").assign(state_input, "Hello, AWS!")
    assert output == {**state_input, "taskresult": "Hello, AWS!"}
    assert "taskresult" not in state_input


def test_assign_creates_missing_objects_and_overwrites_existing_values() -> None:
    target = compile_reference_path("$.a.b.c")
    assert target.assign({"x": 1}, 5) == {"x": 1, "a": {"b": {"c": 5}}}
    assert target.assign({"a": {"b": {"c": 1, "d": 2}}}, 5) == {"a": {"b": {"c": 5, "d": 2}}}


def test_assign_into_an_array_element() -> None:
    document = {"list": [{"v": 1}, {"v": 2}]}
    assert compile_reference_path("$.list[1].v").assign(document, 9) == {
        "list": [{"v": 1}, {"v": 9}]
    }
    assert compile_reference_path("$.list[-1]").assign(document, 0) == {"list": [{"v": 1}, 0]}
    assert document == {"list": [{"v": 1}, {"v": 2}]}


def test_assign_shares_untouched_branches() -> None:
    untouched = {"big": [1, 2, 3]}
    document = {"keep": untouched, "change": {}}
    result = compile_reference_path("$.change.x").assign(document, 1)
    assert result["keep"] is untouched


@pytest.mark.parametrize(
    ("path", "document"),
    [
        ("$.x.y", {"x": "a string"}),
        ("$.x.y", {"x": 5}),
        ("$.x", "hello"),
        ("$.x", [1, 2]),
        ("$.x[0]", {"x": {"0": 1}}),
        ("$.x[2]", {"x": [1]}),
        ("$[0]", {}),
    ],
)
def test_assign_that_cannot_be_placed_fails_with_result_path_match_failure(
    path: str, document: Any
) -> None:
    before = copy.deepcopy(document)
    with pytest.raises(StatesFailure) as caught:
        compile_reference_path(path).assign(document, 1)
    assert caught.value.error == "States.ResultPathMatchFailure"
    assert caught.value.cause.startswith(f"Unable to apply ReferencePath {path} to input ")
    assert document == before


def test_result_path_match_failure_cause_shows_compact_input() -> None:
    with pytest.raises(StatesFailure) as caught:
        compile_reference_path("$.x.y").assign({"x": "s"}, 1)
    assert caught.value.cause == 'Unable to apply ReferencePath $.x.y to input "{"x":"s"}"'


# --- Properties ------------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "d-e", "f g"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=3),
    max_leaves=10,
)


def bracket_path(keys: list[str]) -> str:
    return "$" + "".join(f"['{key}']" for key in keys)


@given(
    document=st.dictionaries(KEYS, JSON, max_size=4), keys=st.lists(KEYS, max_size=4), value=JSON
)
def test_assign_never_mutates_and_the_value_reads_back(
    document: dict[str, Any], keys: list[str], value: Any
) -> None:
    before = copy.deepcopy(document)
    target = compile_reference_path(bracket_path(keys))
    try:
        result = target.assign(document, value)
    except StatesFailure as failure:
        assert failure.error == "States.ResultPathMatchFailure"
    else:
        assert target.evaluate(scope(result)) == value
        assert compile_path(bracket_path(keys)).evaluate(scope(result)) == value
    assert document == before


@given(document=JSON, keys=st.lists(KEYS, max_size=3))
def test_definite_paths_agree_with_a_plain_walk(document: Any, keys: list[str]) -> None:
    expected: Any = document
    found = True
    for key in keys:
        if isinstance(expected, dict) and key in expected:
            expected = expected[key]
        else:
            found = False
            break
    path = compile_path(bracket_path(keys))
    if found:
        assert path.evaluate(scope(document)) == expected
    else:
        with pytest.raises(PathNotFound):
            path.evaluate(scope(document))
