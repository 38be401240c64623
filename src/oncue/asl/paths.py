"""JSONPath Paths and Reference Paths of the Amazon States Language.

AWS Step Functions documentation, "Paths" and "Reference Paths": a *Path* is a JSONPath
(Jayway syntax) starting with ``$`` (the state input), ``$$`` (the context object) or
``$name`` (a workflow variable). A path made only of ``.name``, ``['name']`` and ``[index]``
steps is *definite*: it selects one value, and selecting nothing is an error. Any other step
(``*``, ``..``, a filter ``[?(...)]``, a slice ``[a:b]`` or a union ``[0,1]``) makes the path
*indefinite*: it evaluates to the JSON array of every match, possibly empty. A *Reference
Path* (``ResultPath``, a Choice rule's ``Variable``) must be definite.

The interpreter evaluates paths on every transition, so parsing happens once, when a path is
compiled (and compiled paths are cached on their text). A definite path evaluates by walking a
precompiled tuple of keys and indexes by hand, with no library call. Only indefinite paths go
through ``jsonpath_ng.ext`` (which brings filters); their steps are first normalised into the
bracket notation that library reads unambiguously (``.arn:x`` becomes ``['arn:x']``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

from jsonpath_ng.ext.parser import parse as _jsonpath_parse

from oncue.asl.evaluation import PathNotFound, Scope, StatesFailure
from oncue.asl.jsonutil import dumps
from oncue.types import Json

__all__ = [
    "DefinitePath",
    "IndefinitePath",
    "PathSyntaxError",
    "ReferencePath",
    "compile_path",
    "compile_reference_path",
    "is_context_path",
    "validate_path",
    "validate_reference_path",
]

Root: TypeAlias = Literal["input", "context", "variable"]
Step: TypeAlias = str | int

_VARIABLE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Characters that end a dot-notation name. Everything else (``-``, ``:``, digits...) may
# appear in it, as Jayway allows; names with these characters need ``['...']``.
_NAME_STOP: Final = frozenset(".[]*'\"(),? \t\r\n")
_INTEGER: Final = re.compile(r"\s*(-?\d+)\s*")
_SLICE: Final = re.compile(r"\s*(-?\d+)?\s*:\s*(-?\d+)?\s*(?::\s*(-?\d+)?\s*)?")
_REFERENCE_RULE: Final = (
    "must be a Reference Path: only '.name', \"['name']\" and '[index]' steps are allowed"
)


class PathSyntaxError(ValueError):
    """A path that does not parse; the message names the path and what is wrong."""


class _Missing:
    """Marks 'nothing here' while walking (``None`` is the JSON value null)."""


_MISSING: Final = _Missing()


class _Unplaceable(Exception):
    """A ResultPath step meets a value that cannot hold it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _Parsed:
    source: str
    root: Root
    variable: str | None
    steps: tuple[Step, ...]
    definite: bool
    #: The steps in jsonpath_ng's bracket notation, rooted at ``$``; only for indefinite paths.
    normalised: str


def _root_value(root: Root, variable: str | None, scope: Scope, source: str) -> Json:
    if root == "input":
        return scope.input
    if root == "context":
        return scope.context
    assert variable is not None
    try:
        return scope.variables[variable]
    except KeyError:
        raise PathNotFound(source) from None


def _walk(value: Json, steps: tuple[Step, ...]) -> Json:
    """Follow definite steps; returns ``_MISSING`` when a step selects nothing."""
    for step in steps:
        if isinstance(step, str):
            if not isinstance(value, dict):
                return _MISSING
            value = value.get(step, _MISSING)
            if value is _MISSING:
                return _MISSING
        else:
            if not isinstance(value, list):
                return _MISSING
            # Jayway counts a negative index from the end of the array.
            index = step + len(value) if step < 0 else step
            if not 0 <= index < len(value):
                return _MISSING
            value = value[index]
    return value


@dataclass(frozen=True, slots=True)
class DefinitePath:
    """A path that selects exactly one value (or raises :class:`PathNotFound`)."""

    source: str
    root: Root
    variable: str | None
    steps: tuple[Step, ...]

    def evaluate(self, scope: Scope) -> Json:
        if self.root == "input":
            value = scope.input
        elif self.root == "context":
            value = scope.context
        else:
            value = _root_value(self.root, self.variable, scope, self.source)
        if not self.steps:
            return value
        found = _walk(value, self.steps)
        if found is _MISSING:
            raise PathNotFound(self.source)
        return found


@dataclass(frozen=True, slots=True)
class ReferencePath(DefinitePath):
    """A Reference Path: definite, readable, and writable as a ``ResultPath``."""

    def assign(self, document: Json, value: Json) -> Json:
        """Return ``document`` with ``value`` placed at this path.

        AWS "ResultPath": ``$`` replaces the whole input; ``$.a.b`` sets ``b`` inside ``a``,
        creating missing objects on the way. Only the containers along the path are copied;
        ``document`` itself is never changed.
        """
        if not self.steps:
            return value
        try:
            return self._place(document, 0, value)
        except _Unplaceable:
            # AWS's wording for States.ResultPathMatchFailure names the path and the input.
            raise StatesFailure(
                "States.ResultPathMatchFailure",
                f'Unable to apply ReferencePath {self.source} to input "{dumps(document)}"',
            ) from None

    def _place(self, node: Json, depth: int, value: Json) -> Json:
        step = self.steps[depth]
        last = depth == len(self.steps) - 1
        if isinstance(step, str):
            if not isinstance(node, dict):
                raise _Unplaceable
            copy = dict(node)
            if last:
                copy[step] = value
            else:
                child = node.get(step, _MISSING)
                copy[step] = self._place({} if child is _MISSING else child, depth + 1, value)
            return copy
        if not isinstance(node, list):
            raise _Unplaceable
        index = step + len(node) if step < 0 else step
        if not 0 <= index < len(node):
            raise _Unplaceable
        items = list(node)
        items[index] = value if last else self._place(node[index], depth + 1, value)
        return items


@dataclass(frozen=True, slots=True)
class IndefinitePath:
    """A path with wildcards, deep scans, filters, slices or unions: returns a JSON array."""

    source: str
    root: Root
    variable: str | None
    finder: Callable[[Json], list[Any]]

    def evaluate(self, scope: Scope) -> Json:
        value = _root_value(self.root, self.variable, scope, self.source)
        return [match.value for match in self.finder(value)]


def _quote(name: str) -> str:
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _error(text: str, message: str) -> PathSyntaxError:
    return PathSyntaxError(f"invalid path {text!r}: {message}")


def _closing_bracket(text: str, start: int) -> int:
    """Index of the ``]`` closing the ``[`` at ``start``, skipping quotes and nesting."""
    depth = 0
    quote: str | None = None
    i = start
    while i < len(text):
        char = text[i]
        if quote is not None:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
            if depth == 0:
                if char != "]":
                    raise _error(text, f"unbalanced ')' at position {i}")
                return i
        i += 1
    raise _error(text, f"'[' at position {start} is never closed")


def _unquote(body: str) -> str | None:
    """The name in a bracket ``'name'`` / ``"name"``, or None if ``body`` is not one string."""
    body = body.strip()
    if len(body) < 2 or body[0] not in "'\"" or body[-1] != body[0]:
        return None
    quote = body[0]
    out: list[str] = []
    i = 1
    while i < len(body) - 1:
        char = body[i]
        if char == "\\" and i + 1 < len(body) - 1:
            out.append(body[i + 1])
            i += 2
            continue
        if char == quote:
            return None  # two strings: a union
        out.append(char)
        i += 1
    return "".join(out)


def _is_indefinite_step(body: str) -> bool:
    """A wildcard, filter, slice or union between brackets."""
    stripped = body.strip()
    return (
        stripped == "*"
        or stripped.startswith("?(")
        or _SLICE.fullmatch(body) is not None
        or "," in body
    )


def _parse(text: str) -> _Parsed:
    if not text.startswith("$"):
        raise _error(text, "a path must start with '$'")
    variable: str | None = None
    if text.startswith("$$"):
        root: Root = "context"
        pos = 2
    else:
        match = _VARIABLE.match(text, 1)
        if match:
            root, variable, pos = "variable", match.group(), match.end()
        else:
            root, pos = "input", 1
    steps: list[Step] = []
    parts: list[str] = ["$"]
    definite = True
    while pos < len(text):
        char = text[pos]
        if text.startswith("..", pos):
            definite = False
            pos += 2
            if pos < len(text) and text[pos] == "[":
                parts.append("..")
                continue
            end = pos
            while end < len(text) and text[end] not in _NAME_STOP:
                end += 1
            if end < len(text) and text[end] == "*" and end == pos:
                parts.append("..*")
                pos += 1
                continue
            if end == pos:
                raise _error(text, f"expected a name or '*' after '..' at position {pos}")
            parts.append(".." + _quote(text[pos:end]))
            pos = end
        elif char == ".":
            pos += 1
            if pos < len(text) and text[pos] == "*":
                definite = False
                parts.append("[*]")
                pos += 1
                continue
            end = pos
            while end < len(text) and text[end] not in _NAME_STOP:
                end += 1
            if end == pos:
                raise _error(text, f"expected a name after '.' at position {pos - 1}")
            name = text[pos:end]
            steps.append(name)
            parts.append("[" + _quote(name) + "]")
            pos = end
        elif char == "[":
            close = _closing_bracket(text, pos)
            body = text[pos + 1 : close]
            parts.append(text[pos : close + 1])
            name_in_brackets = _unquote(body)
            integer = _INTEGER.fullmatch(body)
            if name_in_brackets is not None:
                steps.append(name_in_brackets)
            elif integer:
                steps.append(int(integer.group(1)))
            elif _is_indefinite_step(body):
                definite = False
            else:
                raise _error(text, f"unsupported step [{body}] at position {pos}")
            pos = close + 1
        else:
            raise _error(text, f"unexpected {char!r} at position {pos}")
    return _Parsed(
        source=text,
        root=root,
        variable=variable,
        steps=tuple(steps),
        definite=definite,
        normalised="".join(parts),
    )


def compile_path(text: str) -> DefinitePath | IndefinitePath:
    """Compile any ASL Path (InputPath, OutputPath, ItemsPath, ``.$`` values, ``*Path``)."""
    _check_type(text)
    return _compile_path(text)


def compile_reference_path(text: str, *, allow_context: bool = True) -> ReferencePath:
    """Compile a Reference Path (``ResultPath``, a Choice rule's ``Variable``).

    With ``allow_context=False`` (``ResultPath``) the path must address the state input:
    ``$$`` and variables cannot be written to.
    """
    _check_type(text)
    return _compile_reference_path(text, allow_context)


def _check_type(text: object) -> None:
    if not isinstance(text, str):
        raise PathSyntaxError(f"a path must be a string, not {type(text).__name__}")


@functools.lru_cache(maxsize=4096)
def _compile_path(text: str) -> DefinitePath | IndefinitePath:
    parsed = _parse(text)
    if parsed.definite:
        return DefinitePath(parsed.source, parsed.root, parsed.variable, parsed.steps)
    try:
        expression = _jsonpath_parse(parsed.normalised)
    except Exception as exc:  # jsonpath_ng raises plain Exception subclasses of its own
        raise _error(text, str(exc)) from None
    return IndefinitePath(parsed.source, parsed.root, parsed.variable, expression.find)


@functools.lru_cache(maxsize=4096)
def _compile_reference_path(text: str, allow_context: bool) -> ReferencePath:
    parsed = _parse(text)
    if not parsed.definite:
        raise _error(text, _REFERENCE_RULE)
    if not allow_context and parsed.root != "input":
        where = "the context object" if parsed.root == "context" else "a variable"
        raise _error(text, f"cannot write into {where}; a ResultPath starts with '$' or '$.'")
    return ReferencePath(parsed.source, parsed.root, parsed.variable, parsed.steps)


def is_context_path(text: str) -> bool:
    """True for a path into the context object (``$$...``)."""
    return text.startswith("$$")


def validate_path(text: str) -> str | None:
    """The problem with a Path, or None when it compiles."""
    try:
        compile_path(text)
    except PathSyntaxError as exc:
        return str(exc)
    return None


def validate_reference_path(text: str, *, allow_context: bool = True) -> str | None:
    """The problem with a Reference Path, or None when it compiles."""
    try:
        compile_reference_path(text, allow_context=allow_context)
    except PathSyntaxError as exc:
        return str(exc)
    return None
