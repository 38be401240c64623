"""The JSONata functions Step Functions adds, and the built-ins it changes or removes.

AWS "Transforming data with JSONata in Step Functions", section "JSONata functions provided
by Step Functions": ``$partition(array, size)``, ``$range(start, end, step)``,
``$hash(data, algorithm)``, ``$random([seed])``, ``$uuid()`` and ``$parse(jsonString)``, the
JSONata counterparts of the intrinsics ``States.ArrayPartition``, ``States.ArrayRange``,
``States.Hash``, ``States.MathRandom``, ``States.UUID`` and ``States.StringToJson``; and
"``$eval`` is not available -- use ``$parse`` instead".

The stateless functions are bound once, in a frame shared by every evaluation (its parent
is the library's frame of built-ins). ``$random``, ``$uuid`` and ``$shuffle`` need the step's
seeded generator, so they are bound per evaluation: the core draws nothing from the
operating system. ``$pad`` is replaced by a version that checks the width before it
allocates (the evaluation budget of :mod:`oncue.asl.jsonata_eval`).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import uuid
from typing import Any, Final

from jsonata import jexception
from jsonata.functions import Functions
from jsonata.jsonata import Jsonata
from jsonata.utils import Utils

from oncue.asl.evaluation import StatesFailure
from oncue.asl.jsonata_eval import (
    MAX_VALUE_ITEMS,
    QUERY_EVALUATION_ERROR,
    Bindings,
    Environment,
    native,
)
from oncue.types import Json

__all__ = ["shared_frame", "step_frame"]

#: ``$hash`` algorithms, as States.Hash names them.
_HASHES: Final = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}
#: The States.ArrayRange limit: "The array can contain at most 1000 items".
_MAX_RANGE: Final = 1000

_SHARED: Any = None


def _fail(function: str, message: str) -> StatesFailure:
    return StatesFailure(QUERY_EVALUATION_ERROR, f"${function}: {message}")


def _integer(function: str, name: str, value: Any) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not float(value).is_integer()
    ):
        raise _fail(function, f"the {name} must be an integer, not {value!r}")
    return int(value)


def _array(value: Any) -> list[Json]:
    # JSONata passes a single value where an array of one is meant.
    return list(value) if isinstance(value, list) else [value]


def _partition(array: Any = None, size: Any = None, *_: Any) -> Any:
    if array is None or size is None:
        raise _fail("partition", "takes an array and a chunk size")
    items = _array(array)
    chunk = _integer("partition", "chunk size", size)
    if chunk <= 0:
        raise _fail("partition", f"the chunk size must be a positive integer, got {chunk}")
    return [items[i : i + chunk] for i in range(0, len(items), chunk)]


def _range(start: Any = None, end: Any = None, step: Any = None, *_: Any) -> Any:
    if start is None or end is None or step is None:
        raise _fail("range", "takes a start, an end and a step")
    first = _integer("range", "start", start)
    last = _integer("range", "end", end)
    by = _integer("range", "step", step)
    if by == 0:
        raise _fail("range", "the step must not be 0")
    count = max(0, (last - first) // by + 1)
    if count > _MAX_RANGE:
        raise _fail("range", f"the range would hold {count} items; at most {_MAX_RANGE}")
    return [first + i * by for i in range(count)]


def _hash(data: Any = None, algorithm: Any = None, *_: Any) -> Any:
    if not isinstance(data, str):
        raise _fail("hash", f"the data must be a string, not {data!r}")
    if algorithm not in _HASHES:
        raise _fail("hash", f"unsupported algorithm {algorithm!r}; use one of {', '.join(_HASHES)}")
    return hashlib.new(_HASHES[algorithm], data.encode()).hexdigest()


def _parse(text: Any = None, *_: Any) -> Any:
    if not isinstance(text, str):
        raise _fail("parse", f"the argument must be a string, not {text!r}")
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise _fail("parse", f"the argument is not valid JSON: {exc}") from None
    return Utils.NULL_VALUE if value is None else value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _eval(*_: Any) -> Any:
    raise _fail("eval", "is not available in Step Functions; use $parse instead")


def _pad(text: Any = None, width: Any = None, char: Any = None, *_: Any) -> Any:
    numeric = isinstance(width, int | float) and not isinstance(width, bool)
    if numeric and math.isfinite(width) and abs(width) > MAX_VALUE_ITEMS:
        raise _fail("pad", f"the width {width} exceeds {MAX_VALUE_ITEMS} characters")
    try:
        return Functions.pad(text, width, char)
    except TypeError:
        raise jexception.JException("T0410", -1) from None


def shared_frame() -> Any:
    """The frame of the stateless Step Functions functions (built once)."""
    global _SHARED
    if _SHARED is None:
        frame = Jsonata.Frame(Jsonata.static_frame)
        for name, function in (
            ("partition", _partition),
            ("range", _range),
            ("hash", _hash),
            ("parse", _parse),
            ("eval", _eval),
            ("pad", _pad),
        ):
            frame.bind(name, native(function))
        _SHARED = frame
    return _SHARED


def step_frame(bindings: Bindings) -> Any:
    """The frame of one state's evaluations: ``$states``, its variables, seeded functions."""
    if bindings.frame is None:
        frame = Environment(shared_frame(), bindings.variables)
        frame.bind("states", bindings.states)
        _bind_seeded(frame, bindings.rng)
        bindings.frame = frame
    return bindings.frame


def _bind_seeded(env: Any, rng: random.Random) -> None:
    """Bind the functions that draw from the step's seeded generator into ``env``."""

    def draw(seed: Any = None, *_: Any) -> float:
        # "$random([seed])": the same seed gives the same number (States.MathRandom's rule).
        source = rng if seed is None else random.Random(_integer("random", "seed", seed))
        return source.random()

    def new_uuid(*_: Any) -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    def shuffle(array: Any = None, *_: Any) -> Any:
        if array is None:
            return None
        items = _array(array)
        rng.shuffle(items)
        return items

    env.bind("random", native(draw))
    env.bind("uuid", native(new_uuid))
    env.bind("shuffle", native(shuffle))
