"""Payload templates: ``Parameters``, ``ResultSelector`` and ``ItemSelector`` in JSONPath mode.

AWS Step Functions documentation, "Parameters" / "Payload templates": a template is JSON whose
objects may hold fields named ``key.$``. Such a field's value is a string, either a path
(``$...`` the input, ``$$...`` the context object, ``$name...`` a variable) or an intrinsic
function (``States.Name(...)``); the output has ``key`` (without ``.$``) set to its value.
Every other value is copied as is, and objects nested in objects or arrays are templates too.

A template is compiled once: constant parts are kept as the values they are (a template without
any ``.$`` field evaluates to its constant without walking it), and each dynamic field holds
its compiled expression. A path that matches nothing fails the state with ``States.Runtime``,
worded the way AWS words it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from oncue.asl.evaluation import Expression, PathNotFound, Scope, StatesFailure
from oncue.asl.intrinsics import IntrinsicSyntaxError, compile_intrinsic, is_intrinsic
from oncue.asl.jsonutil import dumps
from oncue.asl.paths import PathSyntaxError, compile_path
from oncue.types import Json

__all__ = ["TemplateError", "compile_template", "find_template_problems"]

_SUFFIX = ".$"


class TemplateError(ValueError):
    """A payload template that cannot be compiled; ``pointer`` is relative to its root."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"{pointer or '/'}: {message}")
        self.pointer = pointer
        self.message = message


class _Node(Protocol):
    def evaluate(self, scope: Scope) -> Json: ...


@dataclass(frozen=True, slots=True)
class _Constant:
    value: Json

    def evaluate(self, scope: Scope) -> Json:
        return self.value


@dataclass(frozen=True, slots=True)
class _Field:
    """One ``key.$`` field: evaluates its expression and words a failed path like AWS."""

    key: str
    expression: Expression

    def evaluate(self, scope: Scope) -> Json:
        try:
            return self.expression.evaluate(scope)
        except PathNotFound as exc:
            raise StatesFailure(
                "States.Runtime",
                f"The JSONPath '{exc.path}' specified for the field '{self.key}' could not be "
                f"found in the input '{dumps(scope.input)}'",
            ) from None


@dataclass(frozen=True, slots=True)
class _Object:
    fields: tuple[tuple[str, _Node], ...]

    def evaluate(self, scope: Scope) -> Json:
        return {key: node.evaluate(scope) for key, node in self.fields}


@dataclass(frozen=True, slots=True)
class _Array:
    items: tuple[_Node, ...]

    def evaluate(self, scope: Scope) -> Json:
        return [item.evaluate(scope) for item in self.items]


@dataclass(frozen=True, slots=True)
class CompiledTemplate:
    """A compiled payload template (an :class:`Expression`)."""

    template: Json
    root: _Node

    @property
    def source(self) -> str:
        return dumps(self.template)

    def evaluate(self, scope: Scope) -> Json:
        return self.root.evaluate(scope)


def _escape(key: str) -> str:
    # RFC 6901: "~" is written "~0" and "/" is written "~1".
    return key.replace("~", "~0").replace("/", "~1")


def _compile_field(key: str, value: Json, pointer: str) -> Iterator[tuple[str, str] | _Field]:
    if not isinstance(value, str):
        yield (
            pointer,
            (
                f"the value of '{key}' must be a string holding a path or an intrinsic function, "
                f"not {dumps(value)}"
            ),
        )
        return
    try:
        if is_intrinsic(value):
            yield _Field(key, compile_intrinsic(value))
        elif value.startswith("$"):
            yield _Field(key, compile_path(value))
        else:
            yield (
                pointer,
                (
                    f"the value of '{key}' must be a path (starting with '$') or an intrinsic "
                    f"function (starting with 'States.'), not {value!r}"
                ),
            )
    except (PathSyntaxError, IntrinsicSyntaxError) as exc:
        yield pointer, str(exc)


def _build(value: Json, pointer: str, problems: list[tuple[str, str]]) -> _Node:
    """The node for ``value``; a subtree without ``.$`` fields becomes one constant."""
    if isinstance(value, dict):
        fields: list[tuple[str, _Node]] = []
        dynamic = False
        produced: dict[str, str] = {}
        for key, item in value.items():
            item_pointer = f"{pointer}/{_escape(key)}"
            if key.endswith(_SUFFIX):
                out_key = key[: -len(_SUFFIX)]
                dynamic = True
                for result in _compile_field(key, item, item_pointer):
                    if isinstance(result, _Field):
                        fields.append((out_key, result))
                    else:
                        problems.append(result)
            else:
                out_key = key
                fields.append((key, _build(item, item_pointer, problems)))
            if out_key in produced:
                problems.append(
                    (item_pointer, f"'{key}' and '{produced[out_key]}' both set '{out_key}'")
                )
            produced[out_key] = key
        if not dynamic and all(isinstance(node, _Constant) for _, node in fields):
            return _Constant(value)
        return _Object(tuple(fields))
    if isinstance(value, list):
        items = [_build(item, f"{pointer}/{index}", problems) for index, item in enumerate(value)]
        if all(isinstance(item, _Constant) for item in items):
            return _Constant(value)
        return _Array(tuple(items))
    return _Constant(value)


def find_template_problems(value: Json) -> list[tuple[str, str]]:
    """Every problem in a template, as (JSON pointer relative to the template, message)."""
    problems: list[tuple[str, str]] = []
    _build(value, "", problems)
    return problems


def compile_template(value: Json) -> CompiledTemplate:
    """Compile a payload template; raises :class:`TemplateError` for its first problem."""
    problems: list[tuple[str, str]] = []
    root = _build(value, "", problems)
    if problems:
        pointer, message = problems[0]
        raise TemplateError(pointer, message)
    return CompiledTemplate(value, root)
