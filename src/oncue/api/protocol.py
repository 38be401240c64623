"""The AWS JSON protocol as boto3 and the AWS CLI speak it: targets, bodies, errors. No I/O.

A request is ``POST /`` with ``X-Amz-Target: <ServicePrefix>.<Action>`` and a JSON object as
its body (``application/x-amz-json-1.0`` for Step Functions, ``1.1`` for EventBridge). A
success is 200 with the action's output object. An error is the error's HTTP status with the
body ``{"__type": "<ErrorName>", "message": "..."}``: botocore takes the error code from
``__type`` (after any ``#`` namespace) and the message from ``message`` or ``Message``, so a
client sees ``ClientError`` with ``Error.Code`` the AWS name. Timestamps travel as epoch
seconds (JSON numbers), the protocol's default timestamp format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

from oncue.api.operations import Action, Service
from oncue.asl.jsonutil import dumps, loads
from oncue.errors import (
    OncueError,
    RequestTooLarge,
    SerializationError,
    UnknownOperation,
)
from oncue.types import Json

__all__ = [
    "MAX_BODY_BYTES",
    "check_size",
    "decode_body",
    "encode",
    "error_document",
    "resolve",
]

#: Step Functions quota "Maximum request size: 1 MB per request" (the same bound suits
#: EventBridge, whose PutEvents entries total at most 256 KB).
MAX_BODY_BYTES: Final = 1024 * 1024
_LONG: Final = (-(2**63), 2**63 - 1)


def resolve(target: str | None, services: Mapping[str, Service]) -> tuple[Service, Action]:
    """The service and action an ``X-Amz-Target`` header names, or UnknownOperation."""
    expected = " or ".join(f"{prefix}.<Action>" for prefix in services)
    if not target:
        raise UnknownOperation(f"The X-Amz-Target header is missing: expected {expected}.")
    prefix, dot, name = target.partition(".")
    service = services.get(prefix)
    if not dot or service is None:
        raise UnknownOperation(
            f"The X-Amz-Target header {target!r} names no service served here: expected {expected}."
        )
    action = service.actions.get(name)
    if action is None:
        raise UnknownOperation(f"Operation {name!r} of {prefix} is not supported by oncue.")
    return service, action


def check_size(size: int, limit: int = MAX_BODY_BYTES) -> None:
    if size > limit:
        raise RequestTooLarge(
            f"The request body is larger than the {limit // 1024} KiB limit of the API."
        )


def _check_values(value: Json) -> None:
    """What JSON allows but the services cannot hold: integers beyond the 64 bits the AWS
    models give them, and strings with lone surrogates (not Unicode text)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                raise SerializationError(
                    "The request body has a string that is not valid Unicode (a lone "
                    "surrogate escape)."
                ) from None
        elif isinstance(item, int) and not _LONG[0] <= item <= _LONG[1]:
            raise SerializationError(f"The number {item} is out of range (64-bit integers).")


def decode_body(body: bytes) -> dict[str, Json]:
    """The request's JSON object; an empty body is an empty object (no parameters)."""
    if not body.strip():
        return {}
    try:
        value = loads(body)
    except ValueError as error:
        raise SerializationError(f"The request body is not valid JSON: {error}") from None
    except RecursionError:
        raise SerializationError("The request body nests JSON too deeply.") from None
    if not isinstance(value, dict):
        raise SerializationError("The request body must be a JSON object.")
    _check_values(value)
    return value


def encode(value: Json) -> bytes:
    try:
        return dumps(value).encode()
    except (TypeError, ValueError):  # text that is not UTF-8 (lone surrogates): escape it
        return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode()


def error_document(error: OncueError, service: Service | None) -> tuple[int, dict[str, Json]]:
    """The HTTP status and body of an error, with the service's name for it."""
    name = service.error_name(error.aws_name) if service is not None else error.aws_name
    return error.http_status, {"__type": name, "message": error.message}
