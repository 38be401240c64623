"""A target's ``HttpParameters`` and how an API destination request is built from them (pure).

*API destinations* and the ``HttpParameters`` reference: ``PathParameterValues`` fill the ``*``
wildcards of the destination's ``InvocationEndpoint`` in order ("The path parameter values to
be used to populate API Gateway API or EventBridge ApiDestination path wildcards ("*")"),
``HeaderParameters`` and ``QueryStringParameters`` are added to the request. Values are sent as
given (a value starting with ``$.`` is a JSON path into the event on AWS; oncue resolves it
against the event as well).

The target's parameters are "merged with any InvocationParameters specified on the Connection,
with any values from the Connection taking precedence" (``HttpParameters``): :func:`set_header`
replaces a header whatever the case of its name, and :func:`merge_body` adds a connection's
``BodyParameters`` to a JSON object body, over the body's own keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote

from oncue.asl.jsonutil import dumps, loads
from oncue.bus.jsonpath import compile_event_path
from oncue.errors import ValidationException
from oncue.types import Json

__all__ = [
    "HEADER_NAME",
    "HEADER_VALUE",
    "HttpParameters",
    "build_url",
    "check_text",
    "merge_body",
    "set_header",
]

#: The HttpParameters (and connection parameter) constraints of the API reference: keys and
#: values of at most 512 characters, and these patterns.
MAX_PARAMETER_TEXT: Final = 512
HEADER_NAME: Final = re.compile(r"[!#$%&'*+-.^_`|~0-9a-zA-Z]+")
HEADER_VALUE: Final = re.compile(r"[ \t]*[\x20-\x7E]+([ \t]+[\x20-\x7E]+)*[ \t]*")
_QUERY_NAME: Final = re.compile(r"[^\x00-\x1F\x7F]+")
_QUERY_VALUE: Final = re.compile(r"[^\x00-\x09\x0B\x0C\x0E-\x1F\x7F]+")
_PATH_VALUE: Final = re.compile(r"(?!\s*$).+", re.DOTALL)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpParameters:
    path: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_api(cls, document: Json) -> HttpParameters | None:
        if document is None:
            return None
        if not isinstance(document, Mapping):
            raise ValidationException("HttpParameters must be an object.")
        unknown = set(document) - {
            "PathParameterValues",
            "HeaderParameters",
            "QueryStringParameters",
        }
        if unknown:
            raise ValidationException(f"HttpParameters has unknown fields: {sorted(unknown)}.")
        path = document.get("PathParameterValues", [])
        if not isinstance(path, list) or not all(isinstance(v, str) for v in path):
            raise ValidationException("HttpParameters.PathParameterValues must be strings.")
        for n, value in enumerate(path):
            if not _PATH_VALUE.fullmatch(value):
                raise ValidationException(
                    f"HttpParameters.PathParameterValues[{n}] must not be empty or blank."
                )
        headers = _strings(document.get("HeaderParameters"), "HeaderParameters")
        query = _strings(document.get("QueryStringParameters"), "QueryStringParameters")
        for name, value in headers.items():
            check_text(name, HEADER_NAME, "HttpParameters.HeaderParameters key", "a header name")
            check_text(
                value,
                HEADER_VALUE,
                f"HttpParameters.HeaderParameters[{name!r}]",
                "printable ASCII text",
            )
        for name, value in query.items():
            check_text(name, _QUERY_NAME, "HttpParameters.QueryStringParameters key", "text")
            check_text(
                value, _QUERY_VALUE, f"HttpParameters.QueryStringParameters[{name!r}]", "text"
            )
        return cls(path=tuple(path), headers=headers, query=query)

    def resolved(self, event: dict[str, Json]) -> HttpParameters:
        """The parameters with ``$.`` paths replaced by what they select in the event."""
        return HttpParameters(
            path=tuple(_value(v, event) for v in self.path),
            headers={k: _value(v, event) for k, v in self.headers.items()},
            query={k: _value(v, event) for k, v in self.query.items()},
        )


def check_text(text: str, pattern: re.Pattern[str], where: str, kind: str) -> None:
    """Raise a ValidationException naming ``where`` unless ``text`` is 1 to 512 characters of
    ``pattern`` (printable ASCII for header values, no control characters elsewhere)."""
    if not 0 < len(text) <= MAX_PARAMETER_TEXT or not pattern.fullmatch(text):
        raise ValidationException(
            f"{where} {text[:64]!r} is not valid: it must be {kind} of 1 to "
            f"{MAX_PARAMETER_TEXT} characters, without control characters."
        )


def _strings(value: Json, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ValidationException(f"HttpParameters.{where} must map names to strings.")
    return {str(k): str(v) for k, v in value.items()}


def _value(text: str, event: dict[str, Json]) -> str:
    if not text.startswith("$."):
        return text
    path = compile_event_path(text)
    if path is None:
        return text
    _, found = path.find(event)
    return found if isinstance(found, str) else "" if found is None else str(found)


def build_url(endpoint: str, path: tuple[str, ...]) -> str:
    """The endpoint with each ``*`` replaced by the next path parameter value."""
    parts = endpoint.split("*")
    if len(parts) - 1 != len(path):
        raise ValidationException(
            f"The endpoint {endpoint} has {len(parts) - 1} path wildcards but the target gives "
            f"{len(path)} PathParameterValues."
        )
    url = parts[0]
    for value, rest in zip(path, parts[1:], strict=True):
        url += quote(value, safe="") + rest
    return url


def set_header(headers: dict[str, str], name: str, value: str) -> None:
    """Set ``name`` in ``headers``, replacing a header of that name in any case (HTTP header
    names are case-insensitive, so ``x-key`` and ``X-Key`` are one header)."""
    folded = name.lower()
    for key in [k for k in headers if k.lower() == folded]:
        del headers[key]
    headers[name] = value


def merge_body(text: str, parameters: Mapping[str, str]) -> str:
    """The request body with a connection's ``BodyParameters`` added as keys.

    A body that is a JSON object gets each parameter as a string member; a parameter named
    like one of the body's members replaces it (the connection takes precedence). EventBridge
    does not say what happens to other bodies: a JSON string, number or array (an
    ``InputPath`` or ``InputTransformer`` can make one) has no keys to add, so it is sent as
    it is rather than rewritten into something the endpoint did not ask for.
    """
    if not parameters:
        return text
    try:
        document = loads(text)
    except ValueError:
        return text
    if not isinstance(document, dict):
        return text
    return dumps({**document, **parameters})
