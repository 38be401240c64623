"""Compilation: normalisation, $or expansion and limits (validation reasons are in the
conformance cases under tests/conformance/patterns)."""

from __future__ import annotations

import json

import pytest

from oncue.errors import PatternError
from oncue.patterns import compile_pattern
from oncue.patterns.compile import MAX_BRANCHES, MAX_PATTERN_LENGTH
from oncue.patterns.matchers import Exact, Exists, Numeric, Prefix


def test_text_and_mapping_compile_alike() -> None:
    pattern = {"source": ["a"], "detail": {"n": [{"numeric": [">", 1]}]}}
    assert compile_pattern(json.dumps(pattern)).branches == compile_pattern(pattern).branches


def test_dotted_keys_join_like_nesting() -> None:
    nested = compile_pattern({"detail": {"state": {"status": ["x"]}}})
    dotted = compile_pattern({"detail": {"state.status": ["x"]}})
    assert nested.branches == dotted.branches
    assert nested.branches[0][0].path == "detail.state.status"


def test_or_expands_into_branches() -> None:
    compiled = compile_pattern(
        {"s": ["a"], "$or": [{"m": ["x"]}, {"n": ["y"], "$or": [{"p": [1]}, {"q": [2]}]}]}
    )
    paths = sorted(sorted(c.path for c in branch) for branch in compiled.branches)
    assert paths == [["m", "s"], ["n", "p", "s"], ["n", "q", "s"]]


def test_duplicate_values_collapse_and_case_folds() -> None:
    ((condition,),) = compile_pattern(
        {"a": ["x", "x", {"prefix": {"equals-ignore-case": "AB"}}]}
    ).branches
    assert condition.matchers == (Exact(key="x"), Prefix(text="ab", ignore_case=True))
    assert not condition.absent_ok


def test_exists_true_subsumes_and_exists_false_is_a_flag() -> None:
    ((condition,),) = compile_pattern({"a": ["x", {"exists": True}, {"exists": False}]}).branches
    assert condition.matchers == (Exists(),)
    assert condition.absent_ok


def test_numeric_bounds_are_closed_integer_ranges() -> None:
    ((condition,),) = compile_pattern({"a": [{"numeric": [">", 0, "<=", 5]}]}).branches
    (numeric,) = condition.matchers
    assert isinstance(numeric, Numeric)
    assert not numeric.test(0)
    assert numeric.test(0.000001)
    assert numeric.test(5)
    assert not numeric.test(5.000001)


def test_too_many_or_combinations() -> None:
    alternatives = [{f"k{i}": [i]} for i in range(40)]
    pattern = {"$or": alternatives, "x": {"$or": alternatives}}
    assert MAX_BRANCHES < 40 * 40
    with pytest.raises(PatternError, match=r"\$or combinations"):
        compile_pattern(pattern)


def test_pattern_text_length_limit() -> None:
    text = json.dumps({"source": ["x" * MAX_PATTERN_LENGTH]})
    with pytest.raises(PatternError, match="longer than 4096"):
        compile_pattern(text)


def test_pattern_error_is_a_value_error_with_exit_code_2() -> None:
    with pytest.raises(ValueError, match="Event pattern is not valid") as caught:
        compile_pattern("{}")
    assert isinstance(caught.value, PatternError)
    assert caught.value.exit_code == 2
