"""The table of the 18 intrinsic functions and what each one does at run time.

AWS Step Functions documentation, "Intrinsic functions for JSONPath states": each function has
a fixed number of arguments of given types. :data:`FUNCTIONS` holds, per name, a
:class:`Signature` (argument count and kinds) and the function itself. A function receives its
argument values already checked against the kinds, and fails with ``States.IntrinsicFailure``
through :meth:`Call.fail` when a value is wrong in a way the kinds cannot say. Parsing lives in
:mod:`oncue.asl.intrinsic_parser`.
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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NoReturn

import orjson

from oncue.asl.evaluation import Scope, StatesFailure
from oncue.asl.jsonutil import dumps, loads
from oncue.types import Json

__all__ = ["FUNCTIONS", "Call", "Signature", "kind_problem"]


@dataclass(frozen=True, slots=True)
class Call:
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


def _format(call: Call, values: list[Json]) -> Json:
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


def _string_to_json(call: Call, values: list[Json]) -> Json:
    try:
        return loads(values[0])
    except ValueError as exc:
        call.fail(f"the string is not valid JSON ({exc})")


def _json_to_string(call: Call, values: list[Json]) -> Json:
    return dumps(values[0])


def _array(call: Call, values: list[Json]) -> Json:
    return list(values)


def _array_partition(call: Call, values: list[Json]) -> Json:
    array, size = values[0], int(values[1])
    if size <= 0:
        call.fail(f"the chunk size must be a positive integer, got {size}")
    return [array[i : i + size] for i in range(0, len(array), size)]


def _array_contains(call: Call, values: list[Json]) -> Json:
    wanted = _canonical(values[1])
    return any(_canonical(item) == wanted for item in values[0])


_MAX_RANGE: Final = 1000


def _array_range(call: Call, values: list[Json]) -> Json:
    start, end, step = (int(value) for value in values)
    if step == 0:
        call.fail("the step (third argument) must not be 0")
    count = max(0, (end - start) // step + 1)
    if count > _MAX_RANGE:
        call.fail(f"the range would hold {count} items; at most {_MAX_RANGE} are allowed")
    return list(range(start, start + count * step, step))


def _array_get_item(call: Call, values: list[Json]) -> Json:
    array, index = values[0], int(values[1])
    if not 0 <= index < len(array):
        call.fail(f"index {index} is out of bounds for an array of {len(array)} item(s)")
    return array[index]


def _array_length(call: Call, values: list[Json]) -> Json:
    return len(values[0])


def _array_unique(call: Call, values: list[Json]) -> Json:
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


def _check_length(call: Call, text: str) -> None:
    if len(text) > _MAX_DATA_CHARS:
        call.fail(f"the input has {len(text)} characters; at most {_MAX_DATA_CHARS} are allowed")


def _base64_encode(call: Call, values: list[Json]) -> Json:
    _check_length(call, values[0])
    return base64.b64encode(values[0].encode()).decode("ascii")


def _base64_decode(call: Call, values: list[Json]) -> Json:
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


def _hash(call: Call, values: list[Json]) -> Json:
    data, algorithm = values
    text = data if isinstance(data, str) else dumps(data)
    _check_length(call, text)
    if algorithm not in _HASHES:
        call.fail(f"unsupported algorithm {algorithm!r}; use one of {', '.join(_HASHES)}")
    return hashlib.new(_HASHES[algorithm], text.encode()).hexdigest()


def _json_merge(call: Call, values: list[Json]) -> Json:
    first, second, deep = values
    if deep:
        # "Currently, Step Functions only supports the shallow merging mode."
        call.fail("deep merging is not supported; the third argument must be false")
    return {**first, **second}


def _math_random(call: Call, values: list[Json]) -> Json:
    start, end = _round(values[0]), _round(values[1])
    if start > end:
        call.fail(f"the start {start} is greater than the end {end}")
    # The same seed gives the same number; without one, draw from the step's seeded source.
    rng = random.Random(int(values[2])) if len(values) == 3 else call.scope.rng
    return rng.randint(start, end)


def _math_add(call: Call, values: list[Json]) -> Json:
    return _round(values[0]) + _round(values[1])


def _string_split(call: Call, values: list[Json]) -> Json:
    # Every character of the second argument is a delimiter, and empty parts are dropped.
    text, delimiters = values
    if not delimiters:
        return [text] if text else []
    parts = re.split("|".join(re.escape(char) for char in delimiters), text)
    return [part for part in parts if part]


def _uuid(call: Call, values: list[Json]) -> Json:
    return str(uuid.UUID(int=call.scope.rng.getrandbits(128), version=4))


@dataclass(frozen=True, slots=True)
class Signature:
    """How many arguments a function takes, of which kinds, and what it does."""

    min_args: int
    max_args: int | None
    #: (name, kind) per position; a variadic function repeats the last one.
    arguments: tuple[tuple[str, str], ...]
    function: Callable[[Call, list[Json]], Json]

    def argument(self, index: int) -> tuple[str, str]:
        return self.arguments[min(index, len(self.arguments) - 1)]


def _sig(
    count: int | tuple[int, int | None],
    function: Callable[[Call, list[Json]], Json],
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


def kind_problem(name: str, signature: Signature, index: int, value: Json) -> str | None:
    """Why ``value`` cannot be argument ``index`` of ``name``, or None when it can."""
    label, kind = signature.argument(index)
    check, wanted = _KINDS[kind]
    if check(value):
        return None
    return (
        f"argument {index + 1} of {name} ({label}) must be {wanted}, "
        f"got {_type_name(value)} {dumps(value)}"
    )
