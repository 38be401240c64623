"""JSONata field values: any JSON value whose strings may be ``{% ... %}`` expressions.

AWS "Transforming data with JSONata in Step Functions": in a JSONata state, ``Arguments``,
``Output``, ``Assign``, ``Items``, ``ItemSelector``, a rule's ``Condition`` and the
expression-capable fields hold JSON in which "JSONata expressions can appear in string values
within objects and arrays at any nesting depth"; "a string without ``{% %}`` is treated as a
literal value"; and "expressions must produce a defined value because JSON cannot represent
undefined". The string must start with ``{%`` and end with ``%}``, with nothing around them.

:func:`compile_template` walks such a value once, when the definition is validated, parses
every expression (reporting each fault with its JSON pointer) and returns a
:class:`JsonataTemplate`: a literal is returned as it is, without a walk, on every
evaluation. Two faults are caught at definition time as AWS does: an expression that does not
parse, and one that reads the state input with ``$``/``$$`` or a bare field name at its top
level (JSONata states read their input from ``$states.input``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from oncue.asl.evaluation import StatesFailure
from oncue.asl.jsonata_eval import (
    QUERY_EVALUATION_ERROR,
    UNDEFINED,
    Bindings,
    JsonataExpression,
    compile_expression,
)
from oncue.types import Json

__all__ = ["JsonataTemplate", "TemplateFault", "compile_template", "is_expression"]

_OPEN: Final = "{%"
_CLOSE: Final = "%}"

#: (relative JSON pointer, message) of one fault found while compiling.
TemplateFault = tuple[str, str]
_Node = Callable[[Bindings, str], Json]


def is_expression(value: Json) -> bool:
    """A string written ``{% ... %}`` ("JSONata syntax"), with nothing before or after."""
    return (
        isinstance(value, str)
        and len(value) >= 4
        and value.startswith(_OPEN)
        and value.endswith(_CLOSE)
    )


@dataclass(frozen=True, slots=True)
class JsonataTemplate:
    """A compiled field value. ``raw`` is the value as written in the definition."""

    raw: Json
    node: _Node | None  # None: a literal without expressions

    def evaluate(self, bindings: Bindings, field: str) -> Json:
        """The field's value; ``field`` names it in the cause of a failure (``Arguments``)."""
        if self.node is None:
            return self.raw
        return self.node(bindings, field)

    @property
    def is_literal(self) -> bool:
        return self.node is None


def compile_template(raw: Json, faults: list[TemplateFault], pointer: str = "") -> JsonataTemplate:
    """Compile ``raw``; each fault is appended to ``faults`` with its pointer below ``raw``."""
    node = _compile(raw, pointer, faults)
    return JsonataTemplate(raw=raw, node=node)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _compile(raw: Json, pointer: str, faults: list[TemplateFault]) -> _Node | None:
    if isinstance(raw, str):
        if not is_expression(raw):
            return None
        return _expression_node(raw, pointer, faults)
    if isinstance(raw, Mapping):
        members = {
            key: _compile(value, f"{pointer}/{_escape(key)}", faults) for key, value in raw.items()
        }
        if all(node is None for node in members.values()):
            return None
        return _object_node(raw, members)
    if isinstance(raw, list):
        items = [_compile(value, f"{pointer}/{index}", faults) for index, value in enumerate(raw)]
        if all(node is None for node in items):
            return None
        return _array_node(raw, items)
    return None


def _expression_node(raw: str, pointer: str, faults: list[TemplateFault]) -> _Node | None:
    source = raw[len(_OPEN) : -len(_CLOSE)]
    try:
        expression = compile_expression(source)
    except ValueError as error:
        faults.append((pointer, f"The JSONata expression '{source.strip()}' is not valid: {error}"))
        return None
    problem = _top_level_input(expression)
    if problem is not None:
        faults.append((pointer, problem))
        return None

    def evaluate(bindings: Bindings, field: str) -> Json:
        try:
            value = expression.evaluate(bindings)
        except StatesFailure as failure:
            raise StatesFailure(
                failure.error,
                f"The JSONata expression '{source.strip()}' specified for the field '{field}' "
                f"threw an error during evaluation. {failure.cause}",
            ) from None
        if value is UNDEFINED:
            raise StatesFailure(
                QUERY_EVALUATION_ERROR,
                f"The JSONata expression '{source.strip()}' specified for the field '{field}' "
                f"returned nothing (undefined).",
            )
        return value

    return evaluate


def _top_level_input(expression: JsonataExpression) -> str | None:
    """``$``, ``$$`` or a bare field name at the top of the expression (not allowed)."""
    node: Any = expression.ast
    if getattr(node, "type", None) == "path" and node.steps:
        node = node.steps[0]
    kind, value = getattr(node, "type", None), getattr(node, "value", None)
    if kind == "variable" and value in ("", "$"):
        name = "$" if value == "" else "$$"
        return (
            f"The JSONata expression '{expression.source.strip()}' uses '{name}' at its top "
            "level; in JSONata states read the input from $states.input"
        )
    if kind == "name":
        return (
            f"The JSONata expression '{expression.source.strip()}' uses the field name "
            f"'{value}' at its top level; in JSONata states read the input from $states.input"
        )
    return None


def _object_node(raw: Mapping[str, Json], members: dict[str, _Node | None]) -> _Node:
    def evaluate(bindings: Bindings, field: str) -> Json:
        return {
            key: raw[key] if node is None else node(bindings, field)
            for key, node in members.items()
        }

    return evaluate


def _array_node(raw: list[Json], items: list[_Node | None]) -> _Node:
    def evaluate(bindings: Bindings, field: str) -> Json:
        return [
            raw[index] if node is None else node(bindings, field)
            for index, node in enumerate(items)
        ]

    return evaluate
