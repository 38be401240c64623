"""Task handlers that the golden ASL cases call by Lambda function name.

Each handler stands in for a Lambda function the AWS documentation's examples assume (an
adder, a function that always fails with ``HandledError``, one that fails a few times and
then succeeds, one that calls back a task token...). They never sleep: a "slow" function is
an awaitable that never completes, so only the virtual clock of a time-skipping run can end
it. Per-run state (call counters) lives in :data:`CALLS`; the runner calls :func:`reset`
before every case.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "CALLS",
    "HANDLERS",
    "CustomError",
    "HandledError",
    "ItemFailed",
    "TransientError",
    "reset",
]

#: How many times each handler ran in the current case (keyed by handler name and, where a
#: handler counts per key, by ``name:key``).
CALLS: Counter[str] = Counter()


def reset() -> None:
    """Forget every call counted so far (each case starts from nothing)."""
    CALLS.clear()


class HandledError(Exception):
    """The error name the AWS error-handling examples' ``FailFunction`` reports."""


class CustomError(Exception):
    """A function error with a user-chosen name (``Error`` = the class name)."""


class TransientError(Exception):
    """An error that goes away after a few attempts."""


class ItemFailed(Exception):
    """A Map item the processor rejects."""


def _named_error(name: str, message: str) -> Exception:
    # Lambda reports the exception's type name as the error name; build one on the fly so a
    # case can ask for ErrorA, ErrorB, ... as in the "Complex retry scenarios" example.
    cls: type[Exception] = type(name, (Exception,), {})
    return cls(message)


def echo(event: Any) -> Any:
    """Return the effective input unchanged."""
    CALLS["echo"] += 1
    return event


def add(event: Any) -> Any:
    """``{"val1": 3, "val2": 4}`` -> ``7`` (the "Numbers to add" example)."""
    CALLS["add"] += 1
    return event["val1"] + event["val2"]


def hello(event: Any) -> Any:
    """The documentation's HelloWorld function: a fixed greeting."""
    CALLS["hello"] += 1
    return "Hello, Step Functions!"


def constant(event: Any) -> Any:
    """Return ``event["value"]`` (lets a case choose the task result)."""
    CALLS["constant"] += 1
    return event["value"]


def fail_function(event: Any) -> Any:
    """Always fails with ``HandledError`` ("error"), like the docs' FailFunction."""
    CALLS["fail_function"] += 1
    raise HandledError("error")


def raise_custom(event: Any) -> Any:
    """Always fails with ``CustomError`` and the message ``something went wrong``."""
    CALLS["raise_custom"] += 1
    raise CustomError("something went wrong")


def raise_named(event: Any) -> Any:
    """Fail with the error name ``event["error"]`` and message ``event.get("message")``."""
    CALLS["raise_named"] += 1
    raise _named_error(event["error"], event.get("message", "named failure"))


def flaky(event: Any) -> Any:
    """Fail with ``TransientError`` the first ``event["fail_times"]`` calls, then succeed."""
    CALLS["flaky"] += 1
    if CALLS["flaky"] <= event["fail_times"]:
        raise TransientError(f"attempt {CALLS['flaky']} failed")
    return {"calls": CALLS["flaky"], "event": event}


def error_sequence(event: Any) -> Any:
    """Fail with the error names in ``event["errors"]`` one call after another, then succeed."""
    CALLS["error_sequence"] += 1
    errors = event["errors"]
    index = CALLS["error_sequence"] - 1
    if index < len(errors):
        raise _named_error(errors[index], f"call {index + 1}")
    return {"calls": CALLS["error_sequence"]}


def attempt_info(event: Any, context: Any) -> Any:
    """Report what the context says about this attempt (retry count, state name)."""
    CALLS["attempt_info"] += 1
    return {"attempt": context.attempt, "state": context.state_name, "event": event}


def context_info(event: Any, context: Any) -> Any:
    """Report the execution ARN and state name the handler context carries."""
    CALLS["context_info"] += 1
    return {"executionArn": context.execution_arn, "stateName": context.state_name}


def fail_item(event: Any) -> Any:
    """A Map item processor: fails with ``ItemFailed`` when ``event["fail"]`` is true."""
    CALLS["fail_item"] += 1
    if event.get("fail"):
        raise ItemFailed(f"item {event.get('id')} failed")
    return event


def double(event: Any) -> Any:
    """``n`` -> ``2 * n`` (a Map item processor)."""
    CALLS["double"] += 1
    return event * 2


def big_result(event: Any) -> Any:
    """A result larger than the 256 KiB payload quota."""
    CALLS["big_result"] += 1
    return "x" * (300 * 1024)


async def async_echo(event: Any) -> Any:
    """An ``async`` handler: returns its input."""
    CALLS["async_echo"] += 1
    await asyncio.sleep(0)
    return {"async": True, "input": event}


async def hang(event: Any) -> Any:
    """A function that never returns: only a task timeout ends it (virtual time, no sleep)."""
    CALLS["hang"] += 1
    await asyncio.Event().wait()
    return None  # pragma: no cover - never reached


def callback_success(event: Any, context: Any) -> Any:
    """Call back the task token (from the payload, else the context) with success."""
    CALLS["callback_success"] += 1
    token = event.get("token") if isinstance(event, Mapping) else None
    context.send_task_success(token or context.task_token, {"approved": True, "input": event})
    return None


def callback_failure(event: Any, context: Any) -> Any:
    """Call back the task token with a failure: error ``Rejected``."""
    CALLS["callback_failure"] += 1
    token = event.get("token") if isinstance(event, Mapping) else None
    context.send_task_failure(token or context.task_token, "Rejected", "the order was rejected")
    return None


def callback_heartbeat_then_success(event: Any, context: Any) -> Any:
    """Send a heartbeat, then succeed."""
    CALLS["callback_heartbeat_then_success"] += 1
    token = event["token"]
    context.send_task_heartbeat(token)
    context.send_task_success(token, {"done": True})
    return None


def token_echo(event: Any, context: Any) -> Any:
    """Succeed the token with whether the payload token equals the context's token."""
    CALLS["token_echo"] += 1
    same = event.get("token") == context.task_token
    context.send_task_success(context.task_token, {"same_token": same})
    return None


def never_calls_back(event: Any) -> Any:
    """Accept the task and never call its token back."""
    CALLS["never_calls_back"] += 1
    return None


def notify_restaurant(event: Any, context: Any) -> Any:
    """The article's restaurant: accepts, rejects (``reject``) or never answers (``silent``)."""
    CALLS["notify-restaurant"] += 1
    order = event["order"]
    if not order.get("silent"):
        decision = {"accepted": not order.get("reject"), "by": order["restaurant"]}
        context.send_task_success(event["taskToken"], decision)
    return {"notified": order["restaurant"]}


def notify_user(event: Any) -> Any:
    """The article's customer notification: reports what it would send."""
    CALLS["notify-user"] += 1
    return {"sent_to": event["email"], "message": event["message"]}


def await_delivery(event: Any, context: Any) -> Any:
    """The article's delivery: confirmed at once with a fixed time."""
    CALLS["await-delivery"] += 1
    context.send_task_success(event["taskToken"], {"deliveredAt": "2026-01-01T12:30:00Z"})
    return None


HANDLERS: Mapping[str, Callable[..., Any]] = {
    "notify-restaurant": notify_restaurant,
    "notify-user": notify_user,
    "await-delivery": await_delivery,
    "echo": echo,
    "add": add,
    "hello": hello,
    "constant": constant,
    "FailFunction": fail_function,
    "raise_custom": raise_custom,
    "raise_named": raise_named,
    "flaky": flaky,
    "error_sequence": error_sequence,
    "attempt_info": attempt_info,
    "context_info": context_info,
    "fail_item": fail_item,
    "double": double,
    "big_result": big_result,
    "async_echo": async_echo,
    "hang": hang,
    "callback_success": callback_success,
    "callback_failure": callback_failure,
    "callback_heartbeat_then_success": callback_heartbeat_then_success,
    "token_echo": token_echo,
    "never_calls_back": never_calls_back,
}
