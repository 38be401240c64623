"""The in-memory runner: handlers, Lambda's error and result shapes, callbacks, clocks."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from oncue import InvalidInput, TaskContext, execute

T0 = datetime(2025, 1, 1, tzinfo=UTC)
ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def one_task(resource: str, **extra: Any) -> dict[str, Any]:
    return {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": resource, "End": True, **extra}},
    }


def test_sync_and_async_handlers_with_and_without_context() -> None:
    seen: list[TaskContext] = []

    def plain(event: Any) -> Any:
        return event["n"] + 1

    async def with_context(event: Any, context: TaskContext) -> Any:
        await asyncio.sleep(0)
        seen.append(context)
        return event + 1

    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "Resource": ARN + "plain", "Next": "B"},
            "B": {"Type": "Task", "Resource": ARN + "ctx", "End": True},
        },
    }
    result = execute(
        definition,
        {"n": 1},
        handlers={"plain": plain, "ctx": with_context},
        start_time=T0,
        name="run-1",
    )
    assert result.status == "SUCCEEDED" and result.output == 3
    (context,) = seen
    assert context.state_name == "B" and context.attempt == 0
    assert context.execution_arn.endswith(":execution:StateMachine:run-1")
    assert context.idempotency_key.startswith(context.execution_arn)


def test_a_raising_handler_fails_the_task_as_lambda_reports_it() -> None:
    class PaymentDeclined(Exception):
        pass

    def charge(event: Any) -> Any:
        raise PaymentDeclined("card expired")

    result = execute(one_task(ARN + "charge"), {}, handlers={"charge": charge}, start_time=T0)
    assert result.status == "FAILED" and result.error == "PaymentDeclined"
    document = json.loads(result.cause or "")
    assert document["errorMessage"] == "card expired"
    assert document["errorType"] == "PaymentDeclined"
    assert document["requestId"]
    assert any("in charge" in line for line in document["stackTrace"])


def test_lambda_invoke_wraps_the_result_and_resolves_function_arns() -> None:
    definition = one_task(
        "arn:aws:states:::lambda:invoke",
        Parameters={"FunctionName": ARN + "double:live", "Payload.$": "$"},
    )
    result = execute(definition, {"v": 2}, handlers={"double": lambda e: e["v"] * 2}, start_time=T0)
    assert result.status == "SUCCEEDED"
    assert result.output["Payload"] == 4
    assert result.output["StatusCode"] == 200
    assert result.output["ExecutedVersion"] == "$LATEST"
    assert result.output["SdkResponseMetadata"]["RequestId"]


def test_an_unknown_function_fails_with_resource_not_found() -> None:
    result = execute(one_task(ARN + "nobody"), {}, handlers={}, start_time=T0)
    assert result.error == "Lambda.ResourceNotFoundException"
    assert "nobody" in (result.cause or "")


def test_a_result_that_is_not_json_fails_the_task() -> None:
    result = execute(one_task(ARN + "bad"), {}, handlers={"bad": lambda e: object()}, start_time=T0)
    assert result.status == "FAILED" and result.error == "TypeError"


def test_task_token_callbacks_from_inside_the_handler() -> None:
    definition = one_task(
        "arn:aws:states:::lambda:invoke.waitForTaskToken",
        Parameters={"FunctionName": "ask", "Payload": {"token.$": "$$.Task.Token"}},
    )

    def ask(event: Any, context: TaskContext) -> Any:
        assert event["token"] == context.task_token
        context.send_task_success(event["token"], {"answer": 42})
        return "submitted"

    result = execute(definition, {}, handlers={"ask": ask}, start_time=T0)
    assert result.output == {"answer": 42}
    types = [e["type"] for e in result.history]
    assert types.index("TaskSubmitted") < types.index("TaskSucceeded")


def test_task_failure_callback() -> None:
    definition = one_task(
        "arn:aws:states:::lambda:invoke.waitForTaskToken", Parameters={"FunctionName": "ask"}
    )

    def ask(event: Any, context: TaskContext) -> Any:
        context.send_task_failure(context.task_token or "", "Rejected", "no capacity")
        return None

    result = execute(definition, {}, handlers={"ask": ask}, start_time=T0)
    assert (result.status, result.error, result.cause) == ("FAILED", "Rejected", "no capacity")


def test_a_token_nobody_answers_times_out_on_the_virtual_clock() -> None:
    definition = one_task(
        "arn:aws:states:::lambda:invoke.waitForTaskToken",
        Parameters={"FunctionName": "ask"},
        TimeoutSeconds=600,
    )
    started = time.monotonic()
    result = execute(definition, {}, handlers={"ask": lambda e: None}, start_time=T0)
    assert time.monotonic() - started < 5
    assert result.status == "FAILED" and result.error == "States.Timeout"
    last = datetime.fromisoformat(result.history[-1]["timestamp"])
    assert (last - T0).total_seconds() == 600


def test_a_token_nobody_can_answer_and_no_timeout_aborts_instead_of_hanging() -> None:
    definition = one_task(
        "arn:aws:states:::lambda:invoke.waitForTaskToken", Parameters={"FunctionName": "ask"}
    )
    result = execute(definition, {}, handlers={"ask": lambda e: None}, start_time=T0)
    assert result.status == "ABORTED" and result.error == "States.Runtime"


def test_real_time_wait_really_waits() -> None:
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}}
    started = time.monotonic()
    result = execute(definition, {"k": 1}, time_skipping=False)
    elapsed = time.monotonic() - started
    assert result.status == "SUCCEEDED" and result.output == {"k": 1}
    assert 0.9 <= elapsed < 5


def test_input_over_256_kib_is_refused() -> None:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    with pytest.raises(InvalidInput, match="256 KiB"):
        execute(definition, {"blob": "x" * (256 * 1024)})


def test_same_seed_same_history() -> None:
    definition = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Parameters": {"id.$": "States.UUID()"}, "End": True}},
    }
    first = execute(definition, {}, start_time=T0, seed=5)
    second = execute(definition, {}, start_time=T0, seed=5)
    other = execute(definition, {}, start_time=T0, seed=6)
    assert first.history == second.history
    assert first.output != other.output
