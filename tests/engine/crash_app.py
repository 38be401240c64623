"""The workflow and handlers of the crash tests, and the worker process they kill.

Run as a script (``python crash_app.py DB_PATH_OR_URL EFFECTS_PATH [LATENCY]``) it opens the
SQLite file (or the database a ``postgresql://`` URL names), runs an :class:`oncue.app.App`
worker with short leases and prints ``READY`` once the worker loop runs; SIGTERM stops it
gracefully (exit 0), SIGKILL is what the tests send.

Every handler appends ``TIME PID IDEMPOTENCY_KEY`` to the effects file (one ``os.write`` on
an ``O_APPEND`` descriptor, then ``fsync``) before it returns, so the file is the record of
every delivery a handler saw, including the ones whose results a crash lost. The returned
values are pure functions of the input, so an uninterrupted in-memory run
(:func:`oncue.execute`) gives the outputs every durable run must end with.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from oncue import TaskContext
from oncue.app import App
from oncue.errors import StoreError
from oncue.types import Json

__all__ = [
    "CALLBACK",
    "FLOW",
    "HANDLER_LATENCY",
    "LEASE_SECONDS",
    "MACHINES",
    "POLL_SECONDS",
    "WAIT",
    "WAIT_SECONDS",
    "FlakyError",
    "file_recorder",
    "flow_input",
    "make_app",
    "make_handlers",
]

LEASE_SECONDS = 1.0
POLL_SECONDS = 0.1
#: How long each handler call of the worker process takes.
HANDLER_LATENCY = 0.05
#: How long the Wait state of the ``WAIT`` machine sleeps (a durable timer).
WAIT_SECONDS = 3

_FN = "arn:aws:lambda:us-east-1:123456789012:function:"

#: Task, Wait, Choice, Pass, Parallel, Map, .waitForTaskToken, Retry, Task.
FLOW: dict[str, Json] = {
    "Comment": "Every kind of step a crash can interrupt",
    "StartAt": "Add",
    "States": {
        "Add": {
            "Type": "Task",
            "Resource": _FN + "add",
            "Parameters": {"x.$": "$.n", "y": 3},
            "ResultPath": "$.sum",
            "Next": "Pause",
        },
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Size"},
        "Size": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.sum", "NumericLessThan": 20, "Next": "Small"}],
            "Default": "Large",
        },
        "Small": {"Type": "Pass", "Result": "small", "ResultPath": "$.size", "Next": "Fanout"},
        "Large": {"Type": "Pass", "Result": "large", "ResultPath": "$.size", "Next": "Fanout"},
        # Two branches of the same shape (one Task each) and a Map whose iterations are one
        # Task: whichever finishes first, the history has the same sequence of event types.
        "Fanout": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Seven",
                    "States": {
                        "Seven": {
                            "Type": "Task",
                            "Resource": _FN + "mul",
                            "Parameters": {"x.$": "$.sum", "k": 7},
                            "End": True,
                        }
                    },
                },
                {
                    "StartAt": "Eleven",
                    "States": {
                        "Eleven": {
                            "Type": "Task",
                            "Resource": _FN + "mul",
                            "Parameters": {"x.$": "$.n", "k": 11},
                            "End": True,
                        }
                    },
                },
            ],
            "ResultPath": "$.products",
            "Next": "Each",
        },
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Square",
                "States": {"Square": {"Type": "Task", "Resource": _FN + "square", "End": True}},
            },
            "ResultPath": "$.squares",
            "Next": "Callback",
        },
        "Callback": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {
                "FunctionName": _FN + "callback",
                "Payload": {"token.$": "$$.Task.Token", "n.$": "$.n"},
            },
            "ResultPath": "$.callback",
            "Next": "Flaky",
        },
        "Flaky": {
            "Type": "Task",
            "Resource": _FN + "flaky",
            "Parameters": {"n.$": "$.n"},
            "Retry": [
                {
                    "ErrorEquals": ["FlakyError"],
                    "IntervalSeconds": 1,
                    "MaxAttempts": 3,
                    "BackoffRate": 1.5,
                }
            ],
            "ResultPath": "$.flaky",
            "Next": "Total",
        },
        "Total": {"Type": "Task", "Resource": _FN + "total", "End": True},
    },
}

#: Task, a long durable Wait, Task: the executions the overdue-timer test kills mid-wait.
WAIT: dict[str, Json] = {
    "StartAt": "Before",
    "States": {
        "Before": {
            "Type": "Task",
            "Resource": _FN + "add",
            "Parameters": {"x.$": "$.n", "y": 1},
            "ResultPath": "$.sum",
            "Next": "Sleep",
        },
        "Sleep": {"Type": "Wait", "Seconds": WAIT_SECONDS, "Next": "After"},
        "After": {
            "Type": "Task",
            "Resource": _FN + "mul",
            "Parameters": {"x.$": "$.sum", "k": 2},
            "End": True,
        },
    },
}

#: One .waitForTaskToken task whose handler completes its own token.
CALLBACK: dict[str, Json] = {
    "StartAt": "Callback",
    "States": {
        "Callback": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {
                "FunctionName": _FN + "callback",
                "Payload": {"token.$": "$$.Task.Token", "n.$": "$.n"},
            },
            "End": True,
        }
    },
}

MACHINES: dict[str, dict[str, Json]] = {
    "crash-flow": FLOW,
    "crash-wait": WAIT,
    "crash-callback": CALLBACK,
}


def flow_input(n: int) -> dict[str, Json]:
    return {"n": n, "items": [n, n + 1, n + 2]}


class FlakyError(Exception):
    """What ``flaky`` raises on its first two attempts (retried after 1 s, then 1.5 s)."""


def make_handlers(
    record: Callable[[str], None], latency: float = 0.0
) -> dict[str, Callable[..., Any]]:
    """The task handlers; ``record`` is called with the idempotency key of every delivery.

    With ``latency`` each call blocks that long after recording, like a remote call: a kill
    then often lands while handlers run, after their side effect and before their result
    is committed, which is what makes the engine deliver a task again.
    """

    def record_and_work(key: str) -> None:
        record(key)
        if latency:
            time.sleep(latency)

    def add(event: Any, context: TaskContext) -> Any:
        record_and_work(context.idempotency_key)
        return event["x"] + event["y"]

    def mul(event: Any, context: TaskContext) -> Any:
        record_and_work(context.idempotency_key)
        return event["x"] * event["k"]

    def square(event: Any, context: TaskContext) -> Any:
        record_and_work(context.idempotency_key)
        return event * event

    def callback(event: Any, context: TaskContext) -> Any:
        # Completes its own .waitForTaskToken task; the engine records this after the
        # handler's own result (TaskSubmitted), as on AWS.
        record_and_work(context.idempotency_key)
        context.send_task_success(event["token"], {"echo": event["n"] * 5})
        return {"accepted": True}

    def flaky(event: Any, context: TaskContext) -> Any:
        record_and_work(context.idempotency_key)
        if context.attempt < 2:
            raise FlakyError(f"attempt {context.attempt} of n={event['n']} fails")
        return {"n": event["n"], "attempt": context.attempt}

    def total(event: Any, context: TaskContext) -> Any:
        record_and_work(context.idempotency_key)
        parts = [
            event["sum"],
            *event["products"],
            *event["squares"],
            event["callback"]["echo"],
            event["flaky"]["attempt"],
        ]
        return {"n": event["n"], "size": event["size"], "parts": parts, "total": sum(parts)}

    return {
        "add": add,
        "mul": mul,
        "square": square,
        "callback": callback,
        "flaky": flaky,
        "total": total,
    }


def file_recorder(path: str) -> Callable[[str], None]:
    """Durably append ``TIME PID KEY`` lines: one write per line, fsync before returning."""
    lock = threading.Lock()
    pid = os.getpid()

    def record(key: str) -> None:
        line = f"{time.time():.6f} {pid} {key}\n".encode()
        with lock:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    return record


def make_app(
    database_path: str, record: Callable[[str], None] | None = None, *, latency: float = 0.0
) -> App:
    """An App over the file (or a database URL); without ``record`` it has no handlers
    (a pure client)."""
    url = database_path
    if "://" not in url:
        url = f"sqlite:///{os.path.abspath(database_path)}"
    app = App(
        url,
        lease_seconds=LEASE_SECONDS,
        poll_seconds=POLL_SECONDS,
        # A client without handlers must leave tasks for the worker process, not fail them.
        strict=record is not None,
    )
    if record is not None:
        app.add_handlers(make_handlers(record, latency))
    for name, definition in MACHINES.items():
        app.state_machine(name, definition)
    return app


async def _serve(database_path: str, effects_path: str, latency: float) -> None:
    app = make_app(database_path, file_recorder(effects_path), latency=latency)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    for _ in range(300):  # a worker started while PostgreSQL restarts waits for it
        try:
            await app.start()
            break
        except StoreError:
            await app.stop()
            await asyncio.sleep(0.2)
    else:
        raise StoreError("the database did not come back within a minute")
    try:
        print("READY", flush=True)
        await stop.wait()
    finally:
        await app.stop()


def main(argv: list[str]) -> int:
    database_path, effects_path, *rest = argv
    latency = float(rest[0]) if rest else HANDLER_LATENCY
    asyncio.run(_serve(database_path, effects_path, latency))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
