"""The 18 intrinsic functions of JSONPath states (``States.Format(...)`` and friends).

AWS Step Functions documentation, "Intrinsic functions for JSONPath states": an intrinsic is
written as the string value of a ``key.$`` field in a payload template, for example
``"States.Format('Hello, {}', $.name)"``. Its arguments are string literals in single quotes,
numbers, ``true``, ``false``, ``null``, paths (``$.x``, ``$$.x``, ``$var``) and nested
intrinsics (at most 10 deep in one field).

No published library parses this small grammar, so it is parsed here by hand, by recursive
descent, once per definition. Compile time catches what can be known without the input: an
unknown function, a wrong number of arguments, a literal of the wrong type, a ``States.Format``
whose literal template has the wrong number of ``{}``. What depends on the input fails at run
time with ``States.IntrinsicFailure``; a path that matches nothing raises ``PathNotFound`` so
that the payload template, which knows the field, words the ``States.Runtime`` cause.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, NoReturn

import orjson

from oncue.asl.evaluation import Expression, Scope, StatesFailure
from oncue.asl.jsonutil import dumps, loads
from oncue.asl.paths import PathSyntaxError, compile_path
from oncue.types import Json

__all__ = [
    "FUNCTIONS",
    "IntrinsicCall",
    "IntrinsicSyntaxError",
    "Signature",
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
        call = _Call(self.name, scope, self.pieces)
        for index, value in enumerate(values):
            problem = _kind_problem(self.name, self.signature, index, value)
            if problem is not None:
                call.fail(problem)
        return self.signature.function(call, values)


# --- Run-time behaviour of each function --------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Call:
    """What a function sees besides its argument values."""

    name: str
    scope: Scope
    #: The literal first argument split at its unescaped ``{}`` (States.Format only).
    pieces: tuple[str, ...] | None

    def fail(self, message: str) -> NoReturn:
        raise StatesFailure("States.IntrinsicFailure", f"{self.name}: {message}")


def _type_name(value: Json) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _is_number(value: Json) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Json) -> bool:
    return _is_number(value) and (isinstance(value, int) or float(value).is_integer())


#: Argument kinds: what a value must be, and how a message says so.
_KINDS: Final[dict[str, tuple[Callable[[Json], bool], str]]] = {
    "any": (lambda value: True, "any JSON value"),
    "string": (lambda value: isinstance(value, str), "a string"),
    "number": (_is_number, "a number"),
    "integer": (_is_integer, "an integer"),
    "boolean": (lambda value: isinstance(value, bool), "a boolean"),
    "array": (lambda value: isinstance(value, list), "an array"),
    "object": (lambda value: isinstance(value, dict), "an object"),
    "scalar": (
        lambda value: not isinstance(value, list | dict),
        "a string, number, boolean or null",
    ),
}


def _round(value: Json) -> int:
    # AWS (States.MathRandom, States.MathAdd): "If you specify a non-integer value ..., Step
    # Functions will round it off to the nearest integer."
    return int(value) if isinstance(value, int) else math.floor(value + 0.5)


def _canonical(value: Json) -> bytes:
    """Equal JSON values give equal bytes (object key order does not matter)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits
        return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _format(call: _Call, values: list[Json]) -> Json:
    template, arguments = values[0], values[1:]
    pieces = call.pieces if call.pieces is not None else tuple(template.split("{}"))
    if len(pieces) - 1 != len(arguments):
        call.fail(
            f"the format string has {len(pieces) - 1} '{{}}' placeholder(s) but "
            f"{len(arguments)} value(s) follow it"
        )
    out = [pieces[0]]
    for argument, piece in zip(arguments, pieces[1:], strict=True):
        # "In each case, the Value is the natural string representation; string values are
        # not accompanied by enclosing quotes."
        out.append(argument if isinstance(argument, str) else dumps(argument))
        out.append(piece)
    return "".join(out)


def _string_to_json(call: _Call, values: list[Json]) -> Json:
    try:
        return loads(values[0])
    except ValueError as exc:
        call.fail(f"the string is not valid JSON ({exc})")


def _json_to_string(call: _Call, values: list[Json]) -> Json:
    return dumps(values[0])


def _array(call: _Call, values: list[Json]) -> Json:
    return list(values)


def _array_partition(call: _Call, values: list[Json]) -> Json:
    array, size = values[0], int(values[1])
    if size <= 0:
        call.fail(f"the chunk size must be a positive integer, got {size}")
    return [array[i : i + size] for i in range(0, len(array), size)]


def _array_contains(call: _Call, values: list[Json]) -> Json:
    wanted = _canonical(values[1])
    return any(_canonical(item) == wanted for item in values[0])


_MAX_RANGE: Final = 1000


def _array_range(call: _Call, values: list[Json]) -> Json:
    start, end, step = (int(value) for value in values)
    if step == 0:
        call.fail("the step (third argument) must not be 0")
    count = max(0, (end - start) // step + 1)
    if count > _MAX_RANGE:
        call.fail(f"the range would hold {count} items; at most {_MAX_RANGE} are allowed")
    return list(range(start, start + count * step, step))


def _array_get_item(call: _Call, values: list[Json]) -> Json:
    array, index = values[0], int(values[1])
    if not 0 <= index < len(array):
        call.fail(f"index {index} is out of bounds for an array of {len(array)} item(s)")
    return array[index]


def _array_length(call: _Call, values: list[Json]) -> Json:
    return len(values[0])


def _array_unique(call: _Call, values: list[Json]) -> Json:
    seen: set[bytes] = set()
    unique = []
    for item in values[0]:
        key = _canonical(item)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


#: "This function takes a data string of up to 10,000 characters" (Base64Encode, Base64Decode,
#: Hash).
_MAX_DATA_CHARS: Final = 10_000


def _check_length(call: _Call, text: str) -> None:
    if len(text) > _MAX_DATA_CHARS:
        call.fail(f"the input has {len(text)} characters; at most {_MAX_DATA_CHARS} are allowed")


def _base64_encode(call: _Call, values: list[Json]) -> Json:
    _check_length(call, values[0])
    return base64.b64encode(values[0].encode()).decode("ascii")


def _base64_decode(call: _Call, values: list[Json]) -> Json:
    _check_length(call, values[0])
    try:
        return base64.b64decode(values[0].encode("ascii"), validate=True).decode()
    except (binascii.Error, UnicodeError) as exc:
        call.fail(f"the input is not Base64-encoded UTF-8 text ({exc})")


_HASHES: Final = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _hash(call: _Call, values: list[Json]) -> Json:
    data, algorithm = values
    text = data if isinstance(data, str) else dumps(data)
    _check_length(call, text)
    if algorithm not in _HASHES:
        call.fail(f"unsupported algorithm {algorithm!r}; use one of {', '.join(_HASHES)}")
    return hashlib.new(_HASHES[algorithm], text.encode()).hexdigest()


def _json_merge(call: _Call, values: list[Json]) -> Json:
    first, second, deep = values
    if deep:
        # "Currently, Step Functions only supports the shallow merging mode."
        call.fail("deep merging is not supported; the third argument must be false")
    return {**first, **second}


def _math_random(call: _Call, values: list[Json]) -> Json:
    start, end = _round(values[0]), _round(values[1])
    if start > end:
        call.fail(f"the start {start} is greater than the end {end}")
    # The same seed gives the same number; without one, draw from the step's seeded source.
    rng = random.Random(int(values[2])) if len(values) == 3 else call.scope.rng
    return rng.randint(start, end)


def _math_add(call: _Call, values: list[Json]) -> Json:
    return _round(values[0]) + _round(values[1])


def _string_split(call: _Call, values: list[Json]) -> Json:
    # Every character of the second argument is a delimiter, and empty parts are dropped.
    text, delimiters = values
    if not delimiters:
        return [text] if text else []
    parts = re.split("|".join(re.escape(char) for char in delimiters), text)
    return [part for part in parts if part]


def _uuid(call: _Call, values: list[Json]) -> Json:
    return str(uuid.UUID(int=call.scope.rng.getrandbits(128), version=4))


@dataclass(frozen=True, slots=True)
class Signature:
    """How many arguments a function takes, of which kinds, and what it does."""

    min_args: int
    max_args: int | None
    #: (name, kind) per position; a variadic function repeats the last one.
    arguments: tuple[tuple[str, str], ...]
    function: Callable[[_Call, list[Json]], Json]

    def argument(self, index: int) -> tuple[str, str]:
        return self.arguments[min(index, len(self.arguments) - 1)]


def _sig(
    count: int | tuple[int, int | None],
    function: Callable[[_Call, list[Json]], Json],
    *arguments: tuple[str, str],
) -> Signature:
    low, high = (count, count) if isinstance(count, int) else count
    return Signature(low, high, arguments or (("value", "any"),), function)


#: Every intrinsic function AWS documents, by name.
FUNCTIONS: Final[dict[str, Signature]] = {
    "States.Format": _sig((1, None), _format, ("format string", "string"), ("value", "scalar")),
    "States.StringToJson": _sig(1, _string_to_json, ("string", "string")),
    "States.JsonToString": _sig(1, _json_to_string, ("value", "any")),
    "States.Array": _sig((0, None), _array, ("value", "any")),
    "States.ArrayPartition": _sig(
        2, _array_partition, ("array", "array"), ("chunk size", "integer")
    ),
    "States.ArrayContains": _sig(2, _array_contains, ("array", "array"), ("value", "any")),
    "States.ArrayRange": _sig(
        3, _array_range, ("start", "integer"), ("end", "integer"), ("step", "integer")
    ),
    "States.ArrayGetItem": _sig(2, _array_get_item, ("array", "array"), ("index", "integer")),
    "States.ArrayLength": _sig(1, _array_length, ("array", "array")),
    "States.ArrayUnique": _sig(1, _array_unique, ("array", "array")),
    "States.Base64Encode": _sig(1, _base64_encode, ("string", "string")),
    "States.Base64Decode": _sig(1, _base64_decode, ("string", "string")),
    "States.Hash": _sig(2, _hash, ("data", "any"), ("algorithm", "string")),
    "States.JsonMerge": _sig(
        3,
        _json_merge,
        ("first object", "object"),
        ("second object", "object"),
        ("deep merge flag", "boolean"),
    ),
    "States.MathRandom": _sig(
        (2, 3), _math_random, ("start", "number"), ("end", "number"), ("seed", "integer")
    ),
    "States.MathAdd": _sig(2, _math_add, ("first number", "number"), ("second number", "number")),
    "States.StringSplit": _sig(2, _string_split, ("string", "string"), ("delimiters", "string")),
    "States.UUID": _sig(0, _uuid),
}


def _kind_problem(name: str, signature: Signature, index: int, value: Json) -> str | None:
    label, kind = signature.argument(index)
    check, wanted = _KINDS[kind]
    if check(value):
        return None
    return (
        f"argument {index + 1} of {name} ({label}) must be {wanted}, "
        f"got {_type_name(value)} {dumps(value)}"
    )


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
            problem = _kind_problem(name, signature, index, argument.value)
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
