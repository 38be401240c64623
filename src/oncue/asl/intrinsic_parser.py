"""The recursive-descent parser of intrinsic function calls, and the compiled calls.

The grammar (AWS Step Functions documentation, "Intrinsic functions for JSONPath states"):
``States.Name(arg, ...)`` whose arguments are string literals in single quotes, numbers,
``true``, ``false``, ``null``, paths (``$.x``, ``$$.x``, ``$var``) and nested calls (at most 10
deep in one field). No published library parses this small grammar, so it is parsed here by
hand, once per definition. Compile time catches what can be known without the input: an unknown
function, a wrong number of arguments, a literal of the wrong type, a ``States.Format`` whose
literal template has the wrong number of ``{}``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from oncue.asl.evaluation import Expression, Scope
from oncue.asl.intrinsic_functions import FUNCTIONS, Call, Signature, kind_problem
from oncue.asl.paths import PathSyntaxError, compile_path
from oncue.types import Json

__all__ = [
    "MAX_NESTING",
    "IntrinsicCall",
    "IntrinsicSyntaxError",
    "compile_intrinsic",
    "is_intrinsic",
]

#: "You can nest up to 10 intrinsic functions within a field."
MAX_NESTING: Final = 10

_NAME: Final = re.compile(r"States\.([A-Za-z0-9]+)")
_NUMBER: Final = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")
_WORD: Final = re.compile(r"[A-Za-z_]+")
# The escapes AWS documents under "Reserved characters in intrinsic functions".
_ESCAPES: Final = frozenset("'{}\\")


class IntrinsicSyntaxError(ValueError):
    """An intrinsic function call that does not parse or cannot be valid."""


def is_intrinsic(text: str) -> bool:
    """True when a ``.$`` value is an intrinsic call rather than a path."""
    return text.lstrip().startswith("States.")


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Json
    source: str
    #: For a string literal: its text split at every unescaped ``{}`` (States.Format).
    pieces: tuple[str, ...] | None = None

    def evaluate(self, scope: Scope) -> Json:
        return self.value


@dataclass(frozen=True, slots=True)
class IntrinsicCall:
    """A compiled call: evaluates its arguments, then the function."""

    source: str
    name: str
    arguments: tuple[Expression, ...]
    signature: Signature
    pieces: tuple[str, ...] | None

    def evaluate(self, scope: Scope) -> Json:
        values = [argument.evaluate(scope) for argument in self.arguments]
        call = Call(self.name, scope, self.pieces)
        for index, value in enumerate(values):
            problem = kind_problem(self.name, self.signature, index, value)
            if problem is not None:
                call.fail(problem)
        return self.signature.function(call, values)


def _arity(signature: Signature) -> str:
    if signature.max_args is None:
        return f"at least {signature.min_args}"
    if signature.max_args == signature.min_args:
        return str(signature.min_args)
    return f"{signature.min_args} or {signature.max_args}"


def _check_arguments(
    name: str, signature: Signature, arguments: Sequence[Expression]
) -> str | None:
    """Compile-time problems: the argument count and the literals' types."""
    count = len(arguments)
    if count < signature.min_args or (
        signature.max_args is not None and count > signature.max_args
    ):
        return f"{name} takes {_arity(signature)} argument(s), got {count}"
    for index, argument in enumerate(arguments):
        if isinstance(argument, _Literal):
            problem = kind_problem(name, signature, index, argument.value)
            if problem is not None:
                return problem
    first = arguments[0] if arguments else None
    if (
        name == "States.Format"
        and isinstance(first, _Literal)
        and first.pieces is not None
        and len(first.pieces) - 1 != count - 1
    ):
        return (
            f"the format string has {len(first.pieces) - 1} '{{}}' placeholder(s) but "
            f"{count - 1} value(s) follow it"
        )
    if name == "States.JsonMerge" and isinstance(arguments[2], _Literal) and arguments[2].value:
        return "deep merging is not supported; the third argument of States.JsonMerge must be false"
    return None


# --- Parsing ---------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, at: int | None = None) -> IntrinsicSyntaxError:
        where = self.pos if at is None else at
        return IntrinsicSyntaxError(
            f"invalid intrinsic function {self.text!r} at position {where}: {message}"
        )

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def parse(self) -> IntrinsicCall:
        self.skip_spaces()
        call = self.call(depth=1)
        self.skip_spaces()
        if self.pos != len(self.text):
            raise self.error(f"unexpected {self.text[self.pos :]!r} after the call")
        return call

    def call(self, depth: int) -> IntrinsicCall:
        start = self.pos
        match = _NAME.match(self.text, self.pos)
        if not match:
            raise self.error("expected a function name such as States.Format")
        name = match.group()
        signature = FUNCTIONS.get(name)
        if signature is None:
            known = ", ".join(sorted(FUNCTIONS))
            raise self.error(f"unknown function {name}; the functions are {known}")
        if depth > MAX_NESTING:
            raise self.error(f"more than {MAX_NESTING} nested intrinsic functions")
        self.pos = match.end()
        self.skip_spaces()
        if not self.text.startswith("(", self.pos):
            raise self.error(f"expected '(' after {name}")
        self.pos += 1
        arguments: list[Expression] = []
        self.skip_spaces()
        if self.text.startswith(")", self.pos):
            self.pos += 1
        else:
            while True:
                arguments.append(self.argument(depth))
                self.skip_spaces()
                if self.text.startswith(",", self.pos):
                    self.pos += 1
                    continue
                if self.text.startswith(")", self.pos):
                    self.pos += 1
                    break
                if self.pos >= len(self.text):
                    raise self.error(f"{name}( is never closed")
                raise self.error(f"expected ',' or ')' in the arguments of {name}")
        problem = _check_arguments(name, signature, arguments)
        if problem is not None:
            raise self.error(problem, start)
        pieces = arguments[0].pieces if arguments and isinstance(arguments[0], _Literal) else None
        return IntrinsicCall(self.text[start : self.pos], name, tuple(arguments), signature, pieces)

    def argument(self, depth: int) -> Expression:
        self.skip_spaces()
        if self.pos >= len(self.text):
            raise self.error("expected an argument")
        char = self.text[self.pos]
        if char == "'":
            return self.string()
        if char == "$":
            return self.path()
        if self.text.startswith("States.", self.pos):
            return self.call(depth + 1)
        number = _NUMBER.match(self.text, self.pos)
        if number:
            self.pos = number.end()
            text = number.group()
            is_float = number.group(1) is not None or number.group(2) is not None
            return _Literal(float(text) if is_float else int(text), text)
        word = _WORD.match(self.text, self.pos)
        if word and word.group() in ("true", "false", "null"):
            self.pos = word.end()
            value = {"true": True, "false": False, "null": None}[word.group()]
            return _Literal(value, word.group())
        raise self.error(
            "expected a string in single quotes, a number, true, false, null, a path or "
            "an intrinsic function"
        )

    def string(self) -> _Literal:
        start = self.pos
        self.pos += 1
        pieces: list[str] = []
        current: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                following = self.text[self.pos + 1 : self.pos + 2]
                if following not in _ESCAPES or not following:
                    raise self.error(
                        "a backslash must escape one of \\' \\{ \\} \\\\ "
                        "(see 'Reserved characters in intrinsic functions')"
                    )
                current.append(following)
                self.pos += 2
                continue
            if char == "'":
                self.pos += 1
                pieces.append("".join(current))
                return _Literal("{}".join(pieces), self.text[start : self.pos], tuple(pieces))
            if char == "{" and self.text.startswith("{}", self.pos):
                pieces.append("".join(current))
                current = []
                self.pos += 2
                continue
            current.append(char)
            self.pos += 1
        raise self.error("string is never closed", start)

    def path(self) -> Expression:
        start = self.pos
        depth = 0
        quote: str | None = None
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if quote is not None:
                if char == "\\":
                    self.pos += 1
                elif char == quote:
                    quote = None
            elif char in "'\"" and depth > 0:
                quote = char
            elif char in "[(":
                depth += 1
            elif char in "])":
                if depth == 0:
                    break
                depth -= 1
            elif char == "," and depth == 0:
                break
            self.pos += 1
        text = self.text[start : self.pos].rstrip()
        try:
            return compile_path(text)
        except PathSyntaxError as exc:
            raise self.error(str(exc), start) from None


def compile_intrinsic(text: str) -> Expression:
    """Compile ``States.Name(arg, ...)``; raises :class:`IntrinsicSyntaxError`."""
    if not isinstance(text, str):
        raise IntrinsicSyntaxError(f"an intrinsic function must be a string, not {text!r}")
    return _Parser(text).parse()
