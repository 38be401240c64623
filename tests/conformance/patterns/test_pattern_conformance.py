"""Golden event-pattern cases from the EventBridge documentation, run through both matchers.

Each ``*.yaml`` file here holds ``cases``: a ``pattern`` (a mapping, or JSON text), an
``event`` and either ``expected: true|false`` or ``error: <substring of the message>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from oncue.errors import PatternError
from oncue.patterns import RuleIndex, compile_pattern, matches

HERE = Path(__file__).parent


def _cases() -> list[Any]:
    cases = []
    for path in sorted(HERE.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for number, case in enumerate(document["cases"]):
            where = f"{path.name} #{number}"
            assert set(case) <= {"name", "pattern", "event", "expected", "error"}, where
            assert ("expected" in case) != ("error" in case), where
            assert isinstance(case.get("expected", True), bool), where
            cases.append(pytest.param(case, id=f"{path.stem}-{number}-{case['name']}"))
    return cases


CASES = _cases()


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 150


@pytest.mark.parametrize("case", CASES)
def test_case(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(PatternError) as caught:
            compile_pattern(case["pattern"])
        message = str(caught.value)
        assert message.startswith("Event pattern is not valid. Reason: ")
        assert case["error"] in message
        return
    compiled = compile_pattern(case["pattern"])
    assert matches(compiled, case["event"]) is case["expected"], "reference matcher"
    index = RuleIndex()
    index.add("rule", compiled)
    index.add("other", compile_pattern({"no-such-field": ["x"]}))
    assert index.match(case["event"]) == ({"rule"} if case["expected"] else set()), "index"
