"""The one error tree of oncue.

Every exception oncue raises on purpose derives from :class:`OncueError` and knows the HTTP
status an API answers with, the exit code the CLI ends with, and the AWS error name (the
``__type`` of an AWS JSON-protocol error) where AWS defines one::

    OncueError                         500 / exit 1
    ├── DefinitionError (ValueError)   400 / exit 2   InvalidDefinition; .problems: JSON pointers
    ├── InvalidInput (ValueError)      400 / exit 2   InvalidExecutionInput: not JSON, too large
    │   ├── ValidationException                       ValidationException (EventBridge)
    │   └── InvalidAddress                            InvalidAddress: not a queue URL (SQS)
    ├── PatternError (ValueError)      400 / exit 2   InvalidEventPatternException
    │                                                 (alias InvalidEventPatternException)
    ├── HandlerError                   400 / exit 2   a handler module that does not import
    ├── InvalidName (ValueError)       400 / exit 2   InvalidName
    ├── InvalidArn (ValueError)        400 / exit 2   InvalidArn
    ├── InvalidToken (ValueError)      400 / exit 2   InvalidToken: not a task token at all
    ├── NotFound                       400 / exit 2
    │   ├── ExecutionNotFound                         ExecutionDoesNotExist
    │   ├── StateMachineNotFound                      StateMachineDoesNotExist
    │   ├── ActivityNotFound                          ActivityDoesNotExist
    │   ├── TaskDoesNotExist                          TaskDoesNotExist
    │   └── ResourceNotFoundException                 ResourceNotFoundException (EventBridge)
    ├── Conflict                       400 / exit 2
    │   ├── ExecutionAlreadyExists                    ExecutionAlreadyExists
    │   ├── StateMachineAlreadyExists                 StateMachineAlreadyExists
    │   ├── ExecutionNotRedrivable                    ExecutionNotRedrivable
    │   ├── TaskTimedOut                              TaskTimedOut: the task is closed
    │   ├── ResourceAlreadyExistsException            ResourceAlreadyExistsException (EventBridge)
    │   ├── ManagedRuleException                      ManagedRuleException (EventBridge)
    │   ├── ConcurrentModificationException           ConcurrentModificationException (EventBridge)
    │   ├── LimitExceededException                    LimitExceededException (EventBridge)
    │   └── IllegalStatusException                    IllegalStatusException (EventBridge)
    ├── RequestError                   400 / exit 2   an HTTP request the API cannot read
    │   ├── UnknownOperation                          UnknownOperationException
    │   ├── SerializationError                        SerializationException: not the JSON
    │   │                                             the operation takes
    │   └── RequestTooLarge            413            RequestEntityTooLargeException
    ├── AuthError                      403 / exit 2   a request not signed by a known key
    │   ├── MissingAuthenticationToken                MissingAuthenticationToken: unsigned
    │   ├── IncompleteSignature        400            IncompleteSignature: malformed
    │   ├── RequestExpired             400            RequestExpired: over 15 minutes off
    │   ├── InvalidClientTokenId                      InvalidClientTokenId: unknown key
    │   └── InvalidSignature                          InvalidSignatureException
    └── StoreError                     500 / exit 1   the database failed us

The HTTP API (:mod:`oncue.api`) answers an error with its ``http_status`` and the AWS JSON
protocol's body ``{"__type": aws_name, "message": ...}``.

EventBridge answers every one of its client errors with HTTP 400 (the *Errors* section of
each action in the EventBridge API reference), so the EventBridge classes keep their parent's
400.

ASL's ``States.*`` errors are *data*, not Python exceptions: a workflow that fails is a result
(status ``FAILED`` with an error and a cause), never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "ActivityNotFound",
    "AuthError",
    "ConcurrentModificationException",
    "Conflict",
    "DefinitionError",
    "ExecutionAlreadyExists",
    "ExecutionNotFound",
    "ExecutionNotRedrivable",
    "HandlerError",
    "IllegalStatusException",
    "IncompleteSignature",
    "InvalidAddress",
    "InvalidArn",
    "InvalidClientTokenId",
    "InvalidEventPatternException",
    "InvalidInput",
    "InvalidName",
    "InvalidSignature",
    "InvalidToken",
    "LimitExceededException",
    "ManagedRuleException",
    "MissingAuthenticationToken",
    "NotFound",
    "OncueError",
    "PatternError",
    "Problem",
    "RequestError",
    "RequestExpired",
    "RequestTooLarge",
    "ResourceAlreadyExistsException",
    "ResourceNotFoundException",
    "SerializationError",
    "StateMachineAlreadyExists",
    "StateMachineNotFound",
    "StoreError",
    "TaskDoesNotExist",
    "TaskTimedOut",
    "UnknownOperation",
    "ValidationException",
]


class OncueError(Exception):
    """Root of every error oncue raises on purpose."""

    http_status: int = 500
    exit_code: int = 1
    aws_name: str = "InternalFailure"

    @property
    def message(self) -> str:
        return str(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One fault in a document: where (an RFC 6901 JSON pointer) and what."""

    pointer: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


class DefinitionError(OncueError, ValueError):
    """A state machine definition that does not validate. Carries every problem found."""

    http_status = 400
    exit_code = 2
    aws_name = "InvalidDefinition"

    def __init__(self, problems: Iterable[Problem], *, source: str | None = None) -> None:
        self.problems: Sequence[Problem] = tuple(problems)
        self.source = source
        prefix = f"{source}: " if source else ""
        lines = [f"{prefix}{p}" for p in self.problems] or [f"{prefix}invalid definition"]
        super().__init__("\n".join(lines))


class InvalidInput(OncueError, ValueError):
    """Execution input (or a payload) that is not JSON, or is larger than allowed."""

    http_status = 400
    exit_code = 2
    aws_name = "InvalidExecutionInput"


class PatternError(OncueError, ValueError):
    """An event pattern that does not validate (EventBridge's InvalidEventPatternException)."""

    http_status = 400
    exit_code = 2
    aws_name = "InvalidEventPatternException"


#: EventBridge's name for the same error: the bus and the API raise :class:`PatternError`.
InvalidEventPatternException = PatternError


class ValidationException(InvalidInput):
    """An EventBridge request that fails validation (a name, a limit, a parameter)."""

    aws_name = "ValidationException"


class InvalidAddress(InvalidInput):
    """A queue URL that names no queue this server could hold (SQS's InvalidAddress)."""

    aws_name = "InvalidAddress"


class HandlerError(OncueError):
    """Task handler code that cannot be loaded."""

    http_status = 400
    exit_code = 2
    aws_name = "InvalidArn"


class NotFound(OncueError):
    http_status = 400
    exit_code = 2
    aws_name = "ResourceNotFound"


class ExecutionNotFound(NotFound):
    aws_name = "ExecutionDoesNotExist"


class StateMachineNotFound(NotFound):
    aws_name = "StateMachineDoesNotExist"


class ActivityNotFound(NotFound):
    aws_name = "ActivityDoesNotExist"


class TaskDoesNotExist(NotFound):
    aws_name = "TaskDoesNotExist"


class ResourceNotFoundException(NotFound):
    """An event bus, rule, target, archive or replay that does not exist (EventBridge)."""

    aws_name = "ResourceNotFoundException"


class InvalidName(OncueError, ValueError):
    """A state machine, execution or activity name AWS would refuse."""

    http_status = 400
    exit_code = 2
    aws_name = "InvalidName"


class InvalidArn(OncueError, ValueError):
    http_status = 400
    exit_code = 2
    aws_name = "InvalidArn"


class InvalidToken(OncueError, ValueError):
    """A string that is not a task token at all."""

    http_status = 400
    exit_code = 2
    aws_name = "InvalidToken"


class Conflict(OncueError):
    """The request is well formed but the resource is not in a state that allows it."""

    http_status = 400
    exit_code = 2
    aws_name = "ConflictException"


class ExecutionAlreadyExists(Conflict):
    aws_name = "ExecutionAlreadyExists"


class StateMachineAlreadyExists(Conflict):
    aws_name = "StateMachineAlreadyExists"


class ExecutionNotRedrivable(Conflict):
    aws_name = "ExecutionNotRedrivable"


class TaskTimedOut(Conflict):
    """The task token's task has already been closed (completed, timed out or stopped)."""

    aws_name = "TaskTimedOut"


class ResourceAlreadyExistsException(Conflict):
    """CreateEventBus (or an archive) with a name already taken (EventBridge)."""

    aws_name = "ResourceAlreadyExistsException"


class ManagedRuleException(Conflict):
    """A rule managed by a service, changed without its manager or Force (EventBridge)."""

    aws_name = "ManagedRuleException"


class ConcurrentModificationException(Conflict):
    """Another request changed the same rule, target, archive or replay first (EventBridge)."""

    aws_name = "ConcurrentModificationException"


class LimitExceededException(Conflict):
    """A request that would create more than a quota allows, e.g. a sixth target (EventBridge)."""

    aws_name = "LimitExceededException"


class RequestError(OncueError):
    """An HTTP request the API cannot read: no operation, not JSON, too large."""

    http_status = 400
    exit_code = 2
    aws_name = "SerializationException"


class UnknownOperation(RequestError):
    """The ``X-Amz-Target`` header is missing or names an operation oncue does not serve."""

    aws_name = "UnknownOperationException"


class SerializationError(RequestError):
    """The body is not a JSON object, or a parameter has the wrong JSON type."""

    aws_name = "SerializationException"


class RequestTooLarge(RequestError):
    """The request body is larger than the API accepts (Step Functions: 1 MB a request)."""

    http_status = 413
    aws_name = "RequestEntityTooLargeException"


class AuthError(OncueError):
    """A request the API refuses because no known access key signed it (``--api-keys``)."""

    http_status = 403
    exit_code = 2
    aws_name = "AccessDeniedException"


class MissingAuthenticationToken(AuthError):
    aws_name = "MissingAuthenticationToken"


class IncompleteSignature(AuthError):
    """An Authorization header that is not a well-formed AWS Signature Version 4."""

    http_status = 400
    aws_name = "IncompleteSignature"


class RequestExpired(AuthError):
    """A signed request dated more than 15 minutes away from the server's clock."""

    http_status = 400
    aws_name = "RequestExpired"


class InvalidClientTokenId(AuthError):
    """An access key id the server does not know."""

    aws_name = "InvalidClientTokenId"


class InvalidSignature(AuthError):
    """A signature that does not match the request and the key's secret."""

    aws_name = "InvalidSignatureException"


class StoreError(OncueError):
    http_status = 500
    exit_code = 1
    aws_name = "InternalFailure"


class IllegalStatusException(Conflict):
    """A replay that cannot be cancelled in its state (EventBridge's CancelReplay)."""

    aws_name = "IllegalStatusException"
