"""Choice rules: checked and compiled once into a tree of closures, evaluated per execution.

Implements "Choice Rules (JSONPath)" of the AWS "Choice workflow state" page:

- a comparison names a ``Variable`` (a reference path: ``$.x``, ``$$.Execution.Id`` or a
  workflow variable ``$name``) and exactly one operator; the ``...Path`` form of an operator
  compares with the value at a second reference path instead of a literal;
- ``And``/``Or`` take a non-empty array of nested rules, ``Not`` one nested rule; only
  top-level rules carry ``Next``;
- a value of the wrong type simply makes the comparison false (``StringEquals`` on a number,
  a numeric comparison on ``true``, a timestamp comparison on a string that is not an RFC 3339
  timestamp); a ``Variable`` (or ``...Path``) that selects nothing is a ``States.Runtime``
  failure, except for ``IsPresent``, which tests exactly that.

The operator tables and the compiled comparisons live in :mod:`oncue.asl.choice_operators`;
this module checks a rule's shape and combines comparisons with ``And``/``Or``/``Not``. Rules
of the JSONata query language (``Condition``) are checked and kept raw: see
:class:`JsonataChoiceRule`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from oncue.asl.choice_operators import (
    COMPARISON_OPERATORS,
    OPERATORS,
    TYPE_TEST_OPERATORS,
    Test,
    compile_comparison,
    compile_reference,
    parse_timestamp,
)
from oncue.asl.evaluation import Scope, StatesFailure
from oncue.asl.fields import SCHEMA_VALIDATION_FAILED, child, is_jsonata_expression, problem
from oncue.asl.jsonata_eval import QUERY_EVALUATION_ERROR, Bindings
from oncue.asl.jsonata_template import JsonataTemplate
from oncue.asl.jsonutil import dumps
from oncue.asl.model import ChoiceRule
from oncue.asl.variables import Assignment
from oncue.errors import Problem
from oncue.types import Json

__all__ = [
    "COMPARISON_OPERATORS",
    "TYPE_TEST_OPERATORS",
    "CompiledChoiceRule",
    "JsonataChoiceRule",
    "compile_choice_rule",
    "compile_jsonata_choice_rule",
    "parse_timestamp",
]

_COMBINATORS: Final = frozenset({"And", "Or", "Not"})


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledChoiceRule:
    """A JSONPath choice rule. ``assign`` is a top-level rule's ``Assign`` (variables)."""

    next: str | None
    test: Test
    assign: Assignment | None = None

    def matches(self, scope: Scope) -> bool:
        return self.test(scope)


@dataclass(frozen=True, slots=True, kw_only=True)
class JsonataChoiceRule:
    """A JSONata choice rule ("Choice Rules (JSONata)"): a Condition, and what it assigns.

    The validator compiles ``Condition``, ``Assign`` and ``Output`` (see
    :func:`oncue.asl.validate_leaf_states.build_choice`); :meth:`holds` evaluates the rule.
    """

    next: str | None
    condition: JsonataTemplate | bool
    assign: Assignment | None = None
    output: JsonataTemplate | None = None

    def holds(self, bindings: Bindings) -> bool:
        """The Condition's value; anything but a boolean is States.QueryEvaluationError."""
        if isinstance(self.condition, bool):
            return self.condition
        value = self.condition.evaluate(bindings, "Condition")
        if not isinstance(value, bool):
            raise StatesFailure(
                QUERY_EVALUATION_ERROR,
                f"The JSONata expression '{self.condition.raw}' specified for the field "
                f"'Condition' returned {dumps(value)}, which is not a boolean.",
            )
        return value

    def matches(self, scope: Scope) -> bool:
        raise StatesFailure(QUERY_EVALUATION_ERROR, "A JSONata rule is evaluated with holds()")


def _compile(
    raw: Json, pointer: str, top_level: bool, problems: list[Problem]
) -> tuple[Test, str | None, Mapping[str, Json] | None] | None:
    if not isinstance(raw, dict):
        problems.append(
            problem(pointer, SCHEMA_VALIDATION_FAILED, "A choice rule must be an object")
        )
        return None
    before = len(problems)
    allowed = OPERATORS | _COMBINATORS | {"Variable", "Comment"}
    if top_level:
        allowed = allowed | {"Next", "Assign"}
    for key in raw:
        if key in allowed:
            continue
        if key in ("Next", "Assign"):
            message = f"Field '{key}' is only allowed in a top-level choice rule"
        else:
            message = f"Field '{key}' is not supported in a choice rule"
        problems.append(problem(child(pointer, key), SCHEMA_VALIDATION_FAILED, message))

    next_state: str | None = None
    assign: Mapping[str, Json] | None = None
    if top_level:
        if "Next" not in raw:
            problems.append(
                problem(
                    pointer,
                    SCHEMA_VALIDATION_FAILED,
                    "A top-level choice rule requires the field 'Next'",
                )
            )
        elif not isinstance(raw["Next"], str):
            problems.append(
                problem(
                    child(pointer, "Next"),
                    SCHEMA_VALIDATION_FAILED,
                    "The value for the field 'Next' must be a string",
                )
            )
        else:
            next_state = raw["Next"]
        if "Assign" in raw:
            if isinstance(raw["Assign"], dict):
                assign = raw["Assign"]
            else:
                problems.append(
                    problem(
                        child(pointer, "Assign"),
                        SCHEMA_VALIDATION_FAILED,
                        "The value for the field 'Assign' must be an object",
                    )
                )
    if "Comment" in raw and not isinstance(raw["Comment"], str):
        problems.append(
            problem(
                child(pointer, "Comment"),
                SCHEMA_VALIDATION_FAILED,
                "The value for the field 'Comment' must be a string",
            )
        )

    operators = [key for key in raw if key in OPERATORS or key in _COMBINATORS]
    if len(operators) != 1:
        found = ", ".join(operators) if operators else "none"
        problems.append(
            problem(
                pointer,
                SCHEMA_VALIDATION_FAILED,
                "A choice rule must have exactly one comparison operator or one of And, Or, "
                f"Not (found: {found})",
            )
        )
        return None
    name = operators[0]
    test: Test | None = None
    if name in _COMBINATORS:
        if "Variable" in raw:
            problems.append(
                problem(
                    child(pointer, "Variable"),
                    SCHEMA_VALIDATION_FAILED,
                    f"Field 'Variable' is not allowed in a rule using '{name}'",
                )
            )
        test = _combinator(name, raw[name], child(pointer, name), problems)
    elif "Variable" not in raw:
        problems.append(
            problem(
                pointer,
                SCHEMA_VALIDATION_FAILED,
                f"A choice rule using '{name}' requires the field 'Variable'",
            )
        )
    else:
        variable = compile_reference(
            raw["Variable"], child(pointer, "Variable"), "Variable", problems
        )
        if variable is not None:
            test = compile_comparison(name, raw[name], variable, child(pointer, name), problems)
    if test is None or len(problems) > before:
        return None
    return test, next_state, assign


def _combinator(name: str, operand: Json, pointer: str, problems: list[Problem]) -> Test | None:
    if name == "Not":
        inner = _compile(operand, pointer, False, problems)
        if inner is None:
            return None
        negated = inner[0]
        return lambda scope: not negated(scope)
    if not isinstance(operand, list) or not operand:
        problems.append(
            problem(
                pointer,
                SCHEMA_VALIDATION_FAILED,
                f"The value for the field '{name}' must be a non-empty array of rules",
            )
        )
        return None
    compiled = [
        _compile(rule, child(pointer, i), False, problems) for i, rule in enumerate(operand)
    ]
    tests = tuple(item[0] for item in compiled if item is not None)
    if len(tests) != len(compiled):
        return None
    # all()/any() short-circuit like the AWS evaluation: a later rule's invalid path only
    # fails the state when it is actually reached.
    if name == "And":
        return lambda scope: all(test(scope) for test in tests)
    return lambda scope: any(test(scope) for test in tests)


def compile_choice_rule(
    raw: Mapping[str, Json], *, pointer: str, top_level: bool, problems: list[Problem]
) -> ChoiceRule | None:
    """Check a JSONPath choice rule and compile it; on a fault, append problems, return None.

    ``Next`` is checked for shape only: whether it names a state is the validator's concern.
    """
    compiled = _compile(raw, pointer, top_level, problems)
    if compiled is None:
        return None
    test, next_state, _ = compiled
    return CompiledChoiceRule(next=next_state, test=test)


_JSONATA_RULE_FIELDS: Final = frozenset({"Condition", "Next", "Assign", "Output", "Comment"})


def compile_jsonata_choice_rule(
    raw: Json, *, pointer: str, problems: list[Problem]
) -> ChoiceRule | None:
    """Check a JSONata choice rule ("Choice Rules (JSONata)": Condition and Next)."""
    if not isinstance(raw, dict):
        problems.append(
            problem(pointer, SCHEMA_VALIDATION_FAILED, "A choice rule must be an object")
        )
        return None
    before = len(problems)
    for key in raw:
        if key not in _JSONATA_RULE_FIELDS:
            problems.append(
                problem(
                    child(pointer, key),
                    SCHEMA_VALIDATION_FAILED,
                    f"Field '{key}' is not supported in a JSONata choice rule",
                )
            )
    for field in ("Condition", "Next"):
        if field not in raw:
            problems.append(
                problem(
                    pointer,
                    SCHEMA_VALIDATION_FAILED,
                    f"A JSONata choice rule requires the field '{field}'",
                )
            )
    condition = raw.get("Condition")
    if "Condition" in raw and not (isinstance(condition, bool) or is_jsonata_expression(condition)):
        problems.append(
            problem(
                child(pointer, "Condition"),
                SCHEMA_VALIDATION_FAILED,
                "The value for the field 'Condition' must be a boolean or a JSONata "
                "expression '{% ... %}'",
            )
        )
    next_state = raw.get("Next")
    if "Next" in raw and not isinstance(next_state, str):
        problems.append(
            problem(
                child(pointer, "Next"),
                SCHEMA_VALIDATION_FAILED,
                "The value for the field 'Next' must be a string",
            )
        )
    assign = raw.get("Assign")
    if "Assign" in raw and not isinstance(assign, dict):
        problems.append(
            problem(
                child(pointer, "Assign"),
                SCHEMA_VALIDATION_FAILED,
                "The value for the field 'Assign' must be an object",
            )
        )
    if len(problems) > before:
        return None
    # Condition, Assign and Output are compiled by the state's builder, which has the checker.
    return JsonataChoiceRule(next=next_state, condition=True)
