"""The intrinsic functions (AWS "Intrinsic functions for JSONPath states") and jsonutil."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncue.asl import jsonutil
from oncue.asl.evaluation import PathNotFound, Scope, StatesFailure
from oncue.asl.intrinsics import FUNCTIONS, IntrinsicSyntaxError, compile_intrinsic, is_intrinsic


def run(text: str, document: Any = None, **kwargs: Any) -> Any:
    scope = Scope(input=document, context=kwargs.pop("context", {}), **kwargs)
    return compile_intrinsic(text).evaluate(scope)


def failure(text: str, document: Any = None) -> StatesFailure:
    with pytest.raises(StatesFailure) as caught:
        run(text, document)
    assert caught.value.error == "States.IntrinsicFailure"
    return caught.value


def syntax_error(text: str) -> str:
    with pytest.raises(IntrinsicSyntaxError) as caught:
        compile_intrinsic(text)
    return str(caught.value)


def test_all_eighteen_functions_are_known() -> None:
    assert len(FUNCTIONS) == 18


# --- The documented examples, one per function ----------------------------------------------


def test_format_documented_examples() -> None:
    document = {"name": "Arnav", "template": "Hello, my name is {}."}
    assert run("States.Format('Hello, my name is {}.', $.name)", document) == (
        "Hello, my name is Arnav."
    )
    assert run("States.Format($.template, $.name)", document) == "Hello, my name is Arnav."


def test_format_uses_natural_string_forms() -> None:
    document = {"name": "Foo"}
    assert run(
        "States.Format('Your name is {}, we are in the year {}', $.name, 2020)", document
    ) == ("Your name is Foo, we are in the year 2020")
    assert run("States.Format('{} {} {} {}', true, null, 1.5, -3)") == "true null 1.5 -3"


def test_format_escapes_are_literal_braces_not_placeholders() -> None:
    assert run(r"States.Format('\{\} is {} and it\'s \\', 'x')") == "{} is x and it's \\"


def test_format_rejects_arrays_and_objects() -> None:
    cause = failure("States.Format('{}', $.a)", {"a": [1]}).cause
    assert "States.Format" in cause
    assert "array" in cause


def test_format_placeholder_count_is_checked() -> None:
    assert "2 '{}' placeholder(s) but 1 value(s)" in syntax_error("States.Format('{} {}', 1)")
    assert "placeholder" in failure("States.Format($.t, 1)", {"t": "no placeholder"}).cause


def test_nested_documented_example_with_matching_placeholders() -> None:
    arn = "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/my-recipe/1.0.0"
    document = {"ImageRecipe": {"Arn": arn}}
    text = (
        "States.Format('{}.{}', "
        "States.ArrayGetItem(States.StringSplit(States.ArrayGetItem("
        "States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), "
        "States.ArrayGetItem(States.StringSplit(States.ArrayGetItem("
        "States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 1))"
    )
    assert run(text, document) == "1.0"


def test_string_to_json_documented_example() -> None:
    assert run("States.StringToJson($.s)", {"s": '{"foo": "bar"}'}) == {"foo": "bar"}
    assert run("States.StringToJson($.s)", {"s": '{"number": 20}'}) == {"number": 20}
    assert "not valid JSON" in failure("States.StringToJson('nope')").cause


def test_json_to_string_documented_example() -> None:
    document = {"someJson": {"name": "Foo", "year": 2020}, "zebra": "stripe"}
    assert run("States.JsonToString($.someJson)", document) == '{"name":"Foo","year":2020}'


def test_array_documented_example() -> None:
    document = {"someJson": {"random": "abcdefg"}, "zebra": "stripe"}
    assert run("States.Array('Foo', 2020, $.someJson, null)", document) == [
        "Foo",
        2020,
        {"random": "abcdefg"},
        None,
    ]
    assert run("States.Array($.Id)", {"Id": 123456}) == [123456]
    assert run("States.Array()") == []


def test_array_partition_documented_example() -> None:
    document = {"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]}
    assert run("States.ArrayPartition($.inputArray,4)", document) == [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
        [9],
    ]
    assert run("States.ArrayPartition($.e, 2)", {"e": []}) == []
    assert "positive" in failure("States.ArrayPartition($.inputArray, 0)", document).cause


def test_array_contains_documented_example() -> None:
    document = {"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "lookingFor": 5}
    assert run("States.ArrayContains($.inputArray, $.lookingFor)", document) is True
    assert run("States.ArrayContains($.inputArray, 10)", document) is False


def test_array_contains_compares_json_values() -> None:
    document = {"a": [{"x": 1, "y": 2}, True, "1"], "o": {"y": 2, "x": 1}}
    assert run("States.ArrayContains($.a, $.o)", document) is True
    assert run("States.ArrayContains($.a, 1)", document) is False  # true is not 1
    assert run("States.ArrayContains($.a, '1')", document) is True


def test_array_range_documented_example_and_limits() -> None:
    assert run("States.ArrayRange(1, 9, 2)") == [1, 3, 5, 7, 9]
    assert run("States.ArrayRange(10, 1, -3)") == [10, 7, 4, 1]
    assert run("States.ArrayRange(5, 1, 1)") == []
    assert len(run("States.ArrayRange(1, 1000, 1)")) == 1000
    assert "at most 1000" in failure("States.ArrayRange(0, 1000, 1)").cause
    assert "must not be 0" in failure("States.ArrayRange(0, 10, 0)").cause
    assert "integer" in syntax_error("States.ArrayRange(0, 1.5, 1)")


def test_array_get_item_documented_example() -> None:
    document = {"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "index": 5}
    assert run("States.ArrayGetItem($.inputArray, $.index)", document) == 6
    assert "out of bounds" in failure("States.ArrayGetItem($.inputArray, 9)", document).cause
    assert "out of bounds" in failure("States.ArrayGetItem($.inputArray, -1)", document).cause


def test_array_length_documented_example() -> None:
    assert run("States.ArrayLength($.inputArray)", {"inputArray": list(range(1, 10))}) == 9


def test_array_unique_documented_example() -> None:
    document = {"inputArray": [1, 2, 3, 3, 3, 3, 3, 3, 4]}
    assert run("States.ArrayUnique($.inputArray)", document) == [1, 2, 3, 4]
    mixed = {"a": [{"k": 1}, {"k": 1}, 1, True, 1, "1", None, None]}
    assert run("States.ArrayUnique($.a)", mixed) == [{"k": 1}, 1, True, "1", None]


def test_base64_documented_examples() -> None:
    assert run("States.Base64Encode($.input)", {"input": "Data to encode"}) == (
        "RGF0YSB0byBlbmNvZGU="
    )
    assert run("States.Base64Decode($.base64)", {"base64": "RGF0YSB0byBlbmNvZGU="}) == (
        "Data to encode"
    )
    assert run("States.Base64Encode('héllo')") == base64.b64encode("héllo".encode()).decode()


def test_base64_limits_and_bad_input() -> None:
    assert "at most 10000" in failure("States.Base64Encode($.s)", {"s": "x" * 10_001}).cause
    assert run("States.Base64Encode($.s)", {"s": "x" * 10_000}).startswith("eHh4")
    assert "Base64" in failure("States.Base64Decode('not base64!')").cause
    assert "at most 10000" in failure("States.Base64Decode($.s)", {"s": "A" * 10_004}).cause


@pytest.mark.parametrize(
    ("algorithm", "hashlib_name"),
    [
        ("MD5", "md5"),
        ("SHA-1", "sha1"),
        ("SHA-256", "sha256"),
        ("SHA-384", "sha384"),
        ("SHA-512", "sha512"),
    ],
)
def test_hash_algorithms(algorithm: str, hashlib_name: str) -> None:
    document = {"Data": "input data", "Algorithm": algorithm}
    expected = hashlib.new(hashlib_name, b"input data").hexdigest()
    assert run("States.Hash($.Data, $.Algorithm)", document) == expected


def test_hash_documented_example_value() -> None:
    # The documentation prints this digest with one character missing; this is SHA-1.
    assert run("States.Hash('input data', 'SHA-1')") == "aaff4a450a104cd177d28d18d74485e8cae074b7"


def test_hash_rejects_unknown_algorithms_and_long_data() -> None:
    assert "unsupported algorithm 'SHA-3'" in failure("States.Hash('x', 'SHA-3')").cause
    assert "at most 10000" in failure("States.Hash($.s, 'MD5')", {"s": "x" * 10_001}).cause


def test_json_merge_documented_example() -> None:
    document = {
        "json1": {"a": {"a1": 1, "a2": 2}, "b": 2},
        "json2": {"a": {"a3": 1, "a4": 2}, "c": 3},
    }
    assert run("States.JsonMerge($.json1, $.json2, false)", document) == {
        "a": {"a3": 1, "a4": 2},
        "b": 2,
        "c": 3,
    }
    assert document["json1"] == {"a": {"a1": 1, "a2": 2}, "b": 2}


def test_json_merge_deep_is_not_supported() -> None:
    assert "deep merging is not supported" in syntax_error("States.JsonMerge($.a, $.b, true)")
    document = {"a": {}, "b": {}, "deep": True}
    assert "deep merging" in failure("States.JsonMerge($.a, $.b, $.deep)", document).cause
    assert "object" in failure("States.JsonMerge($.a, $.deep, false)", document).cause


def test_math_random_stays_in_range_and_draws_from_the_scope_rng() -> None:
    document = {"start": 1, "end": 999}
    values = {
        run("States.MathRandom($.start, $.end)", document, rng=random.Random(n)) for n in range(50)
    }
    assert all(1 <= value <= 999 for value in values)
    assert len(values) > 10
    first = run("States.MathRandom(1, 999)", rng=random.Random(42))
    assert run("States.MathRandom(1, 999)", rng=random.Random(42)) == first


def test_math_random_with_a_seed_ignores_the_scope_rng() -> None:
    draws = {run("States.MathRandom(1, 1000000, 7)", rng=random.Random(n)) for n in range(5)}
    assert len(draws) == 1
    assert "greater than the end" in failure("States.MathRandom(10, 1)").cause


def test_math_add_documented_example() -> None:
    assert run("States.MathAdd($.value1, $.step)", {"value1": 111, "step": -1}) == 110
    assert run("States.MathAdd(1.6, 1)") == 3  # non-integers are rounded
    assert "number" in failure("States.MathAdd($.s, 1)", {"s": "1"}).cause


def test_string_split_documented_examples() -> None:
    document = {"inputString": "1,2,3,4,5", "splitter": ","}
    assert run("States.StringSplit($.inputString, $.splitter)", document) == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    # Every character of the second argument is a delimiter; empty parts are dropped.
    assert run("States.StringSplit('This.is+a,test=string', '.+,=')") == [
        "This",
        "is",
        "a",
        "test",
        "string",
    ]
    assert run("States.StringSplit(',a,,b,', ',')") == ["a", "b"]
    assert run("States.StringSplit('abc', '')") == ["abc"]


def test_uuid_is_a_version_4_uuid_from_the_scope_rng() -> None:
    value = run("States.UUID()", rng=random.Random(3))
    parsed = uuid.UUID(value)
    assert parsed.version == 4
    assert str(parsed) == value
    assert run("States.UUID()", rng=random.Random(3)) == value
    assert run("States.UUID()", rng=random.Random(4)) != value


# --- Arguments and parsing ------------------------------------------------------------------


def test_arguments_can_be_context_paths_variables_and_indefinite_paths() -> None:
    context = {"Execution": {"Name": "run-1"}}
    assert run("States.Format('{}', $$.Execution.Name)", {}, context=context) == "run-1"
    assert run("States.ArrayLength($items)", {}, variables={"items": [1, 2]}) == 2
    document = {"books": [{"p": 1}, {"p": 20}, {"p": 3}]}
    assert run("States.ArrayLength($.books[?(@.p < 10)])", document) == 2
    assert run("States.Array($.books[0,2].p, 'x')", document) == [[1, 3], "x"]


def test_missing_path_raises_path_not_found_for_the_caller_to_word() -> None:
    with pytest.raises(PathNotFound) as caught:
        run("States.Array($.missing)", {})
    assert caught.value.path == "$.missing"


def test_numbers_and_whitespace() -> None:
    assert run("States.Array( -1 , 2.5,1e3 ,0 )") == [-1, 2.5, 1000.0, 0]
    assert run("  States.Array(true,false,null)  ") == [True, False, None]


def test_is_intrinsic() -> None:
    assert is_intrinsic("States.UUID()")
    assert not is_intrinsic("$.States")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("States.Nope()", "unknown function States.Nope"),
        ("Format('x')", "expected a function name"),
        ("States.Array", "expected '(' after States.Array"),
        ("States.Array(1", "never closed"),
        ("States.Array(1) trailing", "unexpected 'trailing'"),
        ("States.Array(1,)", "expected a string in single quotes"),
        ("States.Array(foo)", "expected a string in single quotes"),
        ("States.Array('open)", "string is never closed"),
        (r"States.Array('bad \n escape')", "a backslash must escape"),
        ("States.Array(1 2)", "expected ',' or ')'"),
        ("States.Array($.)", "invalid path"),
        ("States.UUID(1)", "States.UUID takes 0 argument(s), got 1"),
        ("States.MathRandom(1)", "States.MathRandom takes 2 or 3 argument(s), got 1"),
        ("States.Format()", "States.Format takes at least 1 argument(s), got 0"),
        ("States.ArrayLength('abc')", "argument 1 of States.ArrayLength (array) must be an array"),
        ("States.StringToJson(1)", "must be a string"),
        ("States.Hash('x', 1)", "(algorithm) must be a string"),
    ],
)
def test_compile_errors_name_the_function_and_position(text: str, fragment: str) -> None:
    message = syntax_error(text)
    assert fragment in message
    assert "at position" in message


def test_nesting_is_limited_to_ten_calls() -> None:
    ten = "States.Array(" * 10 + ")" * 10
    assert run(ten) == [[[[[[[[[[]]]]]]]]]]
    assert "more than 10 nested" in syntax_error("States.Array(" * 11 + ")" * 11)


def test_run_time_type_errors_name_the_function() -> None:
    cause = failure("States.ArrayLength($.a)", {"a": "text"}).cause
    assert cause.startswith("States.ArrayLength: ")
    assert 'got string "text"' in cause


def test_non_string_is_rejected() -> None:
    with pytest.raises(IntrinsicSyntaxError):
        compile_intrinsic(5)  # type: ignore[arg-type]


# --- Properties ------------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=15,
)


@given(value=JSON)
def test_json_to_string_and_string_to_json_round_trip(value: Any) -> None:
    text = run("States.JsonToString($.v)", {"v": value})
    assert json.loads(text) == value
    assert run("States.StringToJson($.t)", {"t": text}) == value


@given(text=st.text(max_size=200))
def test_base64_round_trip(text: str) -> None:
    encoded = run("States.Base64Encode($.t)", {"t": text})
    assert run("States.Base64Decode($.e)", {"e": encoded}) == text


@given(items=st.lists(st.integers(0, 20), max_size=30), size=st.integers(1, 10))
def test_partition_concatenates_back_to_the_input(items: list[int], size: int) -> None:
    chunks = run("States.ArrayPartition($.a, $.n)", {"a": items, "n": size})
    assert [item for chunk in chunks for item in chunk] == items
    assert all(len(chunk) == size for chunk in chunks[:-1])


@given(start=st.integers(-50, 50), end=st.integers(-50, 50), step=st.integers(-7, 7).filter(bool))
def test_array_range_matches_an_inclusive_python_range(start: int, end: int, step: int) -> None:
    expected = list(range(start, end + (1 if step > 0 else -1), step))
    assert run("States.ArrayRange($.s, $.e, $.p)", {"s": start, "e": end, "p": step}) == expected


# --- jsonutil --------------------------------------------------------------------------------


def test_dumps_is_compact_and_keeps_non_ascii() -> None:
    assert jsonutil.dumps({"a": 1, "b": [1, 2], "c": "é"}) == '{"a":1,"b":[1,2],"c":"é"}'
    assert jsonutil.dumps(1.0) == "1.0"
    assert jsonutil.size_bytes({"c": "é"}) == len('{"c":"é"}'.encode())


def test_dumps_falls_back_for_big_integers() -> None:
    assert jsonutil.dumps([2**70]) == f"[{2**70}]"
    assert jsonutil.size_bytes(2**70) == len(str(2**70))


def test_loads() -> None:
    assert jsonutil.loads('{"a":[1,2.5,null]}') == {"a": [1, 2.5, None]}
    assert jsonutil.loads(b"true") is True
    with pytest.raises(ValueError):
        jsonutil.loads("{nope")
