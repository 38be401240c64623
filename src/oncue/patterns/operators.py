"""Parse one match expression (``{"prefix": ...}``, ``{"numeric": [...]}``, ...) into a matcher.

The accepted forms are those of "Comparison operators for use in event patterns in Amazon
EventBridge"; the rejection reasons are event-ruler's (``JsonRuleCompiler``), which is what
EventBridge reports in ``InvalidEventPatternException``.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from typing import Final, NoReturn

from oncue.errors import PatternError
from oncue.patterns.matchers import (
    AnythingBut,
    AnythingButIgnoreCase,
    AnythingButPrefix,
    AnythingButSuffix,
    AnythingButWildcard,
    Cidr,
    EqualsIgnoreCase,
    Exists,
    Matcher,
    Numeric,
    Prefix,
    Suffix,
    Wildcard,
    wildcard_regex,
)
from oncue.patterns.values import MAX_NUMBER, MIN_NUMBER, comparable, is_number, value_key
from oncue.types import Json

__all__ = ["check_wildcard", "invalid", "json_text", "parse_operator"]

_IGNORE_CASE: Final = "equals-ignore-case"


def invalid(reason: str, path: str | None = None) -> NoReturn:
    """Raise the :class:`PatternError` for ``reason`` at the field ``path``."""
    where = f' at field "{path}"' if path else ""
    raise PatternError(f"Event pattern is not valid. Reason: {reason}{where}")


def parse_operator(path: str, expression: Mapping[str, Json]) -> Matcher | None:
    """The matcher of one match expression; None stands for ``{"exists": false}``."""
    if not expression:
        invalid("Match expression name not found", path)
    if len(expression) > 1:
        invalid("Only one key allowed in match expression", path)
    ((name, argument),) = expression.items()
    parser = _PARSERS.get(name)
    if parser is None:
        invalid(f"Unrecognized match type {name}", path)
    return parser(path, argument)


def _string_or_ignore_case(path: str, name: str, argument: Json) -> tuple[str, bool]:
    """``"text"`` or ``{"equals-ignore-case": "text"}`` (prefix and suffix accept both)."""
    if isinstance(argument, Mapping) and list(argument) == [_IGNORE_CASE]:
        argument = argument[_IGNORE_CASE]
        if not isinstance(argument, str):
            invalid(f"{_IGNORE_CASE} match pattern must be a string", path)
        return argument.lower(), True
    if not isinstance(argument, str):
        invalid(f"{name} match pattern must be a string", path)
    return argument, False


def _prefix(path: str, argument: Json) -> Matcher:
    text, ignore_case = _string_or_ignore_case(path, "prefix", argument)
    return Prefix(text=text, ignore_case=ignore_case)


def _suffix(path: str, argument: Json) -> Matcher:
    text, ignore_case = _string_or_ignore_case(path, "suffix", argument)
    return Suffix(text=text, ignore_case=ignore_case)


def _equals_ignore_case(path: str, argument: Json) -> Matcher:
    if not isinstance(argument, str):
        invalid(f"{_IGNORE_CASE} match pattern must be a string", path)
    return EqualsIgnoreCase(lowered=argument.lower())


def check_wildcard(path: str, text: str) -> str:
    """Reject what event-ruler rejects: consecutive wildcards and stray backslashes."""
    i = 0
    while i < len(text):
        if text[i] == "\\":
            if i + 1 >= len(text) or text[i + 1] not in "*\\":
                invalid(f"Invalid escape character at pos {i}", path)
            i += 2
            continue
        if text[i] == "*" and i + 1 < len(text) and text[i + 1] == "*":
            invalid(f"Consecutive wildcard characters at pos {i + 1}", path)
        i += 1
    return text


def _wildcard(path: str, argument: Json) -> Matcher:
    if not isinstance(argument, str):
        invalid("wildcard match pattern must be a string", path)
    text = check_wildcard(path, argument)
    return Wildcard(text=text, regex=wildcard_regex(text))


def _exists(path: str, argument: Json) -> Matcher | None:
    if argument is True:
        return Exists()
    if argument is False:
        return None
    invalid("exists match pattern must be either true or false.", path)


def _cidr(path: str, argument: Json) -> Matcher:
    if not isinstance(argument, str):
        invalid("cidr match pattern must be a string", path)
    if argument.count("/") != 1:
        invalid(f"Malformed CIDR, one '/' required: {argument}", path)
    try:
        network = ipaddress.ip_network(argument, strict=False)
    except ValueError:
        invalid(f"Invalid CIDR: {argument}", path)
    return Cidr(
        version=network.version,
        low=int(network.network_address),
        high=int(network.broadcast_address),
    )


def _number(path: str, value: Json, operator: str) -> float:
    if not is_number(value):
        invalid(f"Value of {operator} must be numeric", path)
    if not MIN_NUMBER <= value <= MAX_NUMBER:
        invalid("Value must be between -5.0E9 and 5.0E9, inclusive", path)
    return float(value)


def _numeric(path: str, argument: Json) -> Matcher:
    if not isinstance(argument, list | tuple):
        invalid("Value of numeric must be an array.", path)
    terms = list(argument)
    if not terms or not isinstance(terms[0], str):
        member = json_text(terms[0]) if terms else "]"
        invalid(f"Invalid member in numeric match: {member}", path)
    operator = terms[0]
    if operator not in ("=", "<", "<=", ">", ">="):
        invalid(f"Unrecognized numeric range operator: {operator}", path)
    if len(terms) < 2:
        invalid(f"Value of {operator} must be numeric", path)
    first = _number(path, terms[1], operator)
    low, high = comparable(MIN_NUMBER), comparable(MAX_NUMBER)
    if operator == "=":
        if len(terms) > 2:
            invalid("Too many elements in numeric expression", path)
        return Numeric(low=comparable(first), high=comparable(first))
    if operator in ("<", "<="):
        if len(terms) > 2:
            invalid("Too many elements in numeric expression", path)
        return Numeric(low=low, high=comparable(first) - (operator == "<"))
    low = comparable(first) + (operator == ">")
    if len(terms) == 2:
        return Numeric(low=low, high=high)
    upper = terms[2]
    if not isinstance(upper, str):
        invalid(f"Bad value in numeric range: {json_text(upper)}", path)
    if upper not in ("<", "<="):
        invalid(f"Bad numeric range operator: {upper}", path)
    if len(terms) < 4:
        invalid(f"Value of {upper} must be numeric", path)
    top = _number(path, terms[3], upper)
    if len(terms) > 4:
        invalid("Too many terms in numeric range expression", path)
    if first >= top:
        invalid("Bottom must be less than top", path)
    return Numeric(low=low, high=comparable(top) - (upper == "<"))


def _strings(path: str, argument: Json, what: str) -> tuple[str, ...]:
    """A string or a non-empty list of strings."""
    values = argument if isinstance(argument, list | tuple) else [argument]
    if not values or not all(isinstance(value, str) for value in values):
        invalid(f"Inside anything-but/{what} list, only strings are supported.", path)
    return tuple(values)


def _anything_but(path: str, argument: Json) -> Matcher:
    if isinstance(argument, Mapping):
        if len(argument) != 1:
            invalid("Only one key allowed in match expression", path)
        ((name, inner),) = argument.items()
        if name in ("prefix", "suffix"):
            if not isinstance(inner, str):
                invalid("prefix/suffix match pattern must be a string", path)
            if not inner:
                invalid("Null prefix/suffix not allowed", path)
            if name == "prefix":
                return AnythingButPrefix(text=inner)
            return AnythingButSuffix(text=inner)
        if name == _IGNORE_CASE:
            texts = _strings(path, inner, _IGNORE_CASE)
            return AnythingButIgnoreCase(lowered=frozenset(text.lower() for text in texts))
        if name == "wildcard":
            texts = tuple(check_wildcard(path, text) for text in _strings(path, inner, name))
            return AnythingButWildcard(
                texts=texts, regexes=tuple(wildcard_regex(text) for text in texts)
            )
        invalid(f"Unsupported anything-but pattern: {name}", path)
    if isinstance(argument, list | tuple):
        if not all(isinstance(v, str) or is_number(v) for v in argument):
            invalid("Inside anything but list, start|null|boolean is not supported.", path)
        kinds = {isinstance(value, str) for value in argument}
        if len(kinds) != 1:
            invalid(
                "Inside anything but list, either all values are number or string, "
                "mixed type is not supported",
                path,
            )
        values = list(argument)
    elif isinstance(argument, str) or is_number(argument):
        values = [argument]
    else:
        invalid("Value of anything-but must be an array or single string/number value.", path)
    for value in values:
        if is_number(value):
            _number(path, value, "anything-but")
    return AnythingBut(keys=frozenset(value_key(value) for value in values))


def json_text(value: Json) -> str:
    """A value as it would read in the pattern's JSON."""
    return value if isinstance(value, str) else json.dumps(value)


_PARSERS: Final[dict[str, Callable[[str, Json], Matcher | None]]] = {
    "anything-but": _anything_but,
    "cidr": _cidr,
    _IGNORE_CASE: _equals_ignore_case,
    "exists": _exists,
    "numeric": _numeric,
    "prefix": _prefix,
    "suffix": _suffix,
    "wildcard": _wildcard,
}
