"""Operations as data: which parameters an AWS action takes and which Python call answers it.

Each service (Step Functions, EventBridge) is a :class:`Service`: its ``X-Amz-Target`` prefix,
its content type and a table of :class:`Action` rows. An action names the AWS parameters it
reads (the JSON member names of the API reference), the keyword argument each becomes, its
JSON type and whether it is required. :func:`bind` turns a request body into keyword arguments
or raises the error AWS raises for that fault:

- a member of the wrong JSON type (a number where a string belongs) cannot be deserialized:
  ``SerializationException``;
- a required member that is missing or null breaks a constraint: ``ValidationException``,
  with AWS's message ("1 validation error detected: Value null at 'name' failed to satisfy
  constraint: Member must not be null").

Members an action does not read are ignored, as AWS ignores members it does not model (so
``tags`` or ``loggingConfiguration`` sent by a client are accepted and have no effect).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from oncue.errors import SerializationError, ValidationException
from oncue.types import Json

__all__ = ["KINDS", "Action", "Param", "Service", "bind", "table"]

#: JSON types by the name the API references use for a member's shape.
KINDS: Final[Mapping[str, tuple[type, ...]]] = {
    "string": (str,),
    "integer": (int,),
    "boolean": (bool,),
    "list": (list,),
    "structure": (dict,),
    "timestamp": (int, float),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """One request member: its AWS JSON name, the keyword it becomes, its type.

    ``from_request`` takes the value from the HTTP request instead of the body (``endpoint``:
    the URL the client reached the server at, for SQS queue URLs).
    """

    aws: str
    name: str
    kind: str = "string"
    required: bool = False
    from_request: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown parameter kind {self.kind!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """An AWS action: the call that answers it, given the service's facade first.

    ``long_poll`` (seconds) marks an action that AWS holds open while its answer is empty
    (every member empty): GetActivityTask for up to 60 seconds; ReceiveMessage for as long as
    its ``wait`` parameter asks, at most ``long_poll``. The ``wait`` keyword is the service's,
    not the call's.
    """

    name: str
    call: Callable[..., dict[str, Json]]
    params: tuple[Param, ...] = ()
    long_poll: float | None = None
    wait: str | None = None
    #: Only reads the database (Describe*, List*, Get*History): may run beside the writers.
    reads: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Service:
    """An AWS JSON-protocol service as ``X-Amz-Target: <prefix>.<Action>`` addresses it.

    ``renames`` maps the AWS name an oncue error carries to the name this service uses for
    the same fault (EventBridge says ``ValidationException`` where Step Functions says
    ``InvalidExecutionInput``, ``ResourceNotFoundException`` for ``ResourceNotFound``).
    """

    prefix: str
    content_type: str
    actions: Mapping[str, Action]
    renames: Mapping[str, str] = field(default_factory=dict)

    def error_name(self, aws_name: str) -> str:
        return self.renames.get(aws_name, aws_name)


def table(*actions: Action) -> dict[str, Action]:
    """A service's actions by name."""
    return {action.name: action for action in actions}


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def bind(
    action: Action, body: Mapping[str, Json], request: Mapping[str, Json] | None = None
) -> dict[str, Any]:
    """The keyword arguments of ``action.call`` from a request body (a JSON object) and, for
    ``from_request`` parameters, facts of the HTTP request."""
    arguments: dict[str, Any] = {}
    for param in action.params:
        value = (request or {}).get(param.aws) if param.from_request else body.get(param.aws)
        if value is None:
            if param.required:
                raise ValidationException(
                    f"1 validation error detected: Value null at '{param.aws}' failed to "
                    "satisfy constraint: Member must not be null"
                )
            continue
        allowed = KINDS[param.kind]
        # JSON true/false are not numbers, though Python's bool is an int.
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            article = "an" if param.kind[0] in "aeiou" else "a"
            raise SerializationError(
                f"{action.name}: the member '{param.aws}' must be {article} {param.kind}, "
                f"not {_json_type(value)}"
            )
        arguments[param.name] = value
    return arguments
