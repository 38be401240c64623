"""Compact JSON text as Step Functions prints payloads, fast.

Execution history shows inputs and outputs without insignificant whitespace
(``{"a":1,"b":[1,2]}``) and keeps non-ASCII characters as they are. orjson writes exactly that
and is the fast path; the standard library takes over for the values orjson refuses, such as
integers beyond 64 bits or non-string object keys.
"""

from __future__ import annotations

import json

import orjson

from oncue.types import Json

__all__ = ["dumps", "loads", "size_bytes"]


def _dumps_bytes(value: Json) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def dumps(value: Json) -> str:
    """``value`` as compact JSON text (no spaces, non-ASCII kept)."""
    return _dumps_bytes(value).decode()


def size_bytes(value: Json) -> int:
    """The UTF-8 size of ``dumps(value)``: what AWS's 256 KiB payload limit counts."""
    return len(_dumps_bytes(value))


def loads(text: str | bytes) -> Json:
    """Parse JSON text; raises ``ValueError`` (``json.JSONDecodeError``) when it is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # The standard library accepts what orjson rejects only in corner cases (for example
        # lone surrogates); it raises the JSONDecodeError callers expect otherwise.
        return json.loads(text)
