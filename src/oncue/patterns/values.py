"""How event values compare: the normalised key of a JSON scalar, numbers and IP addresses.

Event patterns compare *JSON values*, not Python values: the string ``"5"`` never equals the
number ``5``, ``true`` never equals ``1``, and ``5`` equals ``5.0``. Every exact comparison in
the package goes through :func:`value_key`, so the reference matcher and the index agree.

Numbers follow EventBridge's numeric matching ("Content filtering in Amazon EventBridge event
patterns", *Numeric matching*): values between -5.0e9 and +5.0e9 inclusive, precise to six
digits to the right of the decimal point. event-ruler implements this by turning a double into
the integer ``(long)(1e6 * (5e9 + value))`` (its ``ComparableNumber``); :func:`comparable` does
exactly the same arithmetic so that two numbers match in oncue exactly when they match there.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Final

from oncue.types import Json

__all__ = [
    "MAX_NUMBER",
    "MIN_NUMBER",
    "Key",
    "comparable",
    "in_numeric_range",
    "ip_to_int",
    "is_number",
    "value_key",
]

#: The numeric-matching limits EventBridge documents ("-5.0e9 and +5.0e9 inclusive").
MAX_NUMBER: Final = 5.0e9
MIN_NUMBER: Final = -5.0e9
_SCALE: Final = 1e6

#: The normalised form of a scalar: ``str`` for strings, ``int`` (a comparable) for numbers in
#: EventBridge's numeric range, and tagged tuples for everything else, so that no two kinds of
#: JSON value ever collide in a dict.
Key = str | int | tuple[str, Json]

_TRUE: Final[Key] = ("bool", True)
_FALSE: Final[Key] = ("bool", False)
_NULL: Final[Key] = ("null", None)


def is_number(value: Json) -> bool:
    """True for a JSON number (``bool`` is a subclass of ``int`` in Python, not a number here)."""
    kind = type(value)
    return kind is int or kind is float


def in_numeric_range(value: int | float) -> bool:
    """Whether a number can take part in numeric matching (finite and within ±5.0e9)."""
    return math.isfinite(value) and MIN_NUMBER <= value <= MAX_NUMBER


def comparable(value: int | float) -> int:
    """event-ruler's ComparableNumber as an integer: 6 decimal digits of precision.

    The float arithmetic (not exact decimal arithmetic) is deliberate: it reproduces
    event-ruler's rounding, so numbers that compare equal there compare equal here.
    """
    return int(_SCALE * (MAX_NUMBER + float(value)))


def value_key(value: Json) -> Key:
    """The key under which a JSON scalar is compared for equality (see the module docstring).

    Numbers outside the numeric range (an AWS account id, say) keep their exact value, which
    mirrors event-ruler's literal-text match for numbers it cannot make comparable.
    """
    if type(value) is str:
        return value
    kind = type(value)
    if (kind is float or kind is int) and MIN_NUMBER <= value <= MAX_NUMBER:
        # The common number, inline (this is on the index's hot path); NaN fails the test.
        return int(_SCALE * (MAX_NUMBER + float(value)))
    if value is True:
        return _TRUE
    if value is False:
        return _FALSE
    if value is None:
        return _NULL
    if is_number(value):
        if in_numeric_range(value):
            return comparable(value)
        return ("number", value)
    # Objects and arrays are never leaves; a caller that passes one gets a key equal to nothing
    # a pattern can hold.
    return ("other", repr(value))


def ip_to_int(text: str) -> tuple[int, int] | None:
    """``(version, address as an integer)`` for an IPv4 or IPv6 address string, else None."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return address.version, int(address)
