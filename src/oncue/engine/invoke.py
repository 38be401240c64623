"""Calling Python task handlers the way Step Functions calls Lambda functions.

A handler is a plain function, sync or async, taking ``(event)`` or ``(event, context)``.
Task resources resolve to handlers by name:

* ``arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`` calls ``NAME`` with the
  effective input and uses its return value as the result;
* ``arn:aws:states:::lambda:invoke[.waitForTaskToken]`` calls the function named by the
  ``FunctionName`` parameter with ``Payload``, and wraps the return value the way the Lambda
  integration does (``{"ExecutedVersion", "Payload", "SdkHttpMetadata", ...}``);
* ``arn:aws:states:REGION:ACCOUNT:activity:NAME`` calls a handler registered as ``NAME``,
  standing in for an activity worker.

An exception fails the task as Lambda reports an unhandled error: the error is the exception
class name and the cause is Lambda's JSON error document (errorMessage, errorType, requestId,
stackTrace).
"""

from __future__ import annotations

import os
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from oncue import calling
from oncue.asl.jsonutil import dumps
from oncue.asl.resources import lambda_function_name, parse_resource
from oncue.calling import Handler, call
from oncue.types import Json

__all__ = [
    "Handler",
    "HandlerOutcome",
    "Resolved",
    "TaskContext",
    "call_handler",
    "lambda_error",
    "request_id_for",
    "resolve_handler",
]


@dataclass(slots=True, kw_only=True)
class TaskContext:
    """What a handler may want to know about the task it runs for.

    ``idempotency_key`` is the same for every delivery of one task attempt and different for
    each retry: delivery to handlers is at least once, so a handler with side effects should
    deduplicate on it. The ``send_task_*`` methods complete a ``.waitForTaskToken`` task.
    """

    execution_arn: str
    state_name: str
    attempt: int
    idempotency_key: str
    task_token: str | None
    request_id: str
    _callbacks: Any = field(default=None, repr=False)

    def send_task_success(self, token: str, output: Json) -> None:
        self._callbacks.send_task_success(token, output)

    def send_task_failure(
        self, token: str, error: str | None = None, cause: str | None = None
    ) -> None:
        self._callbacks.send_task_failure(token, error, cause)

    def send_task_heartbeat(self, token: str) -> None:
        self._callbacks.send_task_heartbeat(token)


@dataclass(frozen=True, slots=True, kw_only=True)
class HandlerOutcome:
    """What became of one call: an output, or an error and cause."""

    output: Json = None
    error: str | None = None
    cause: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolved:
    handler: Handler | None
    name: str
    payload: Json
    wrap: bool
    missing: HandlerOutcome | None = None


def resolve_handler(
    resource: str, payload: Json, handlers: Mapping[str, Handler], region: str, account: str
) -> Resolved:
    ref = parse_resource(resource)
    if ref is not None and ref.kind in ("lambda", "activity"):
        name = ref.name or ""
        return _found(name, handlers, payload, wrap=False, region=region, account=account)
    if ref is not None and ref.service == "lambda" and (ref.action or "").startswith("invoke"):
        params = payload if isinstance(payload, dict) else {}
        function = params.get("FunctionName")
        if not isinstance(function, str):
            return Resolved(
                handler=None,
                name="",
                payload=None,
                wrap=True,
                missing=HandlerOutcome(
                    error="Lambda.InvalidParameterValueException",
                    cause="The lambda:invoke parameters must include a FunctionName string.",
                ),
            )
        body = params.get("Payload", {})
        return _found(
            lambda_function_name(function),
            handlers,
            body,
            wrap=True,
            region=region,
            account=account,
        )
    return Resolved(
        handler=None,
        name="",
        payload=None,
        wrap=False,
        missing=HandlerOutcome(
            error="States.Runtime",
            cause=f"The resource '{resource}' is not available in this runner: register a "
            f"handler for a Lambda function or activity, or run it under the engine.",
        ),
    )


def _found(
    name: str,
    handlers: Mapping[str, Handler],
    payload: Json,
    *,
    wrap: bool,
    region: str,
    account: str,
) -> Resolved:
    handler = handlers.get(name)
    if handler is None:
        arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        return Resolved(
            handler=None,
            name=name,
            payload=payload,
            wrap=wrap,
            missing=HandlerOutcome(
                error="Lambda.ResourceNotFoundException",
                cause=f"Function not found: {arn} (no handler is registered as '{name}')",
            ),
        )
    return Resolved(handler=handler, name=name, payload=payload, wrap=wrap)


async def call_handler(
    resolved: Resolved, context: TaskContext, *, offload: bool = False
) -> HandlerOutcome:
    """Call the handler; never raises for what the handler does.

    With ``offload`` a plain (sync) handler runs in a worker thread, so a handler that blocks
    on I/O does not stall the event loop and the other handlers.
    """
    if resolved.missing is not None:
        return resolved.missing
    handler = resolved.handler
    assert handler is not None
    try:
        result = await call(handler, resolved.payload, context, offload=offload)
        dumps(result)  # the result must be JSON: fail the task here, not the engine later
    except Exception as exc:  # a handler's failure is the task's failure, by design
        return lambda_error(exc, context.request_id)
    if resolved.wrap:
        result = _invoke_response(result, context.request_id)
    return HandlerOutcome(output=result)


#: oncue's own frames, left out of a handler's stack trace.
_OWN_FILES = frozenset({__file__, calling.__file__})


def lambda_error(exc: BaseException, request_id: str) -> HandlerOutcome:
    """The error and cause Lambda reports for an unhandled Python exception."""
    # Only the handler's own frames: not this module's, asyncio's or the thread pool's.
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename not in _OWN_FILES
        and f"{os.sep}asyncio{os.sep}" not in frame.filename
        and f"{os.sep}concurrent{os.sep}" not in frame.filename
        and not frame.filename.endswith(f"{os.sep}threading.py")
    ]
    document = {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }
    return HandlerOutcome(error=type(exc).__name__, cause=dumps(document))


def _invoke_response(payload: Json, request_id: str) -> dict[str, Json]:
    headers = {
        "Connection": "keep-alive",
        "Content-Type": "application/json",
        "X-Amz-Executed-Version": "$LATEST",
        "x-amzn-RequestId": request_id,
    }
    return {
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {key: [value] for key, value in headers.items()},
            "HttpHeaders": headers,
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200,
    }


def request_id_for(execution_arn: str, task_id: str) -> str:
    """A stable request id per task attempt, so reruns of a test print the same history."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{execution_arn}/{task_id}"))
