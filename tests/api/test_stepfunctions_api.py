"""boto3's Step Functions client against ``oncue serve``: real HTTP, SigV4-signed requests."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import DOUBLE, FLAKY, PARK, PASS, ROLE, Served, client, finished


def error_code(info: pytest.ExceptionInfo[ClientError]) -> str:
    code: str = info.value.response["Error"]["Code"]
    return code


def test_an_execution_started_over_http_runs_its_handler_to_success(served: Served) -> None:
    sfn = served.sfn
    arn = served.machine("double", DOUBLE)
    started = sfn.start_execution(stateMachineArn=arn, name="first", input='{"value": 21}')
    assert started["executionArn"].endswith(":execution:double:first")
    assert isinstance(started["startDate"], datetime)  # epoch seconds, parsed by botocore
    result = finished(sfn, started["executionArn"])
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"value": 42}
    assert result["stopDate"] >= result["startDate"]
    machine = sfn.describe_state_machine(stateMachineArn=arn)
    assert json.loads(machine["definition"]) == DOUBLE
    assert machine["roleArn"] == ROLE
    assert [m["name"] for m in sfn.list_state_machines()["stateMachines"]] == ["double"]


def test_list_executions_pages_with_next_token(served: Served) -> None:
    sfn = served.sfn
    arn = served.machine("pass", PASS)
    arns = {
        sfn.start_execution(stateMachineArn=arn, name=f"e{i}")["executionArn"] for i in range(5)
    }
    first = sfn.list_executions(stateMachineArn=arn, maxResults=2)
    assert len(first["executions"]) == 2 and "nextToken" in first
    pages = sfn.get_paginator("list_executions").paginate(
        stateMachineArn=arn, PaginationConfig={"PageSize": 2}
    )
    sizes, seen = [], []
    for page in pages:
        sizes.append(len(page["executions"]))
        seen.extend(e["executionArn"] for e in page["executions"])
    assert sizes == [2, 2, 1]
    assert set(seen) == arns and len(seen) == 5
    succeeded = sfn.list_executions(stateMachineArn=arn, statusFilter="SUCCEEDED")["executions"]
    assert {e["executionArn"] for e in succeeded} == arns


def test_history_in_order_reversed_and_paged(served: Served) -> None:
    sfn = served.sfn
    arn = served.machine("double", DOUBLE)
    execution = sfn.start_execution(stateMachineArn=arn, input='{"value": 1}')["executionArn"]
    finished(sfn, execution)
    events = sfn.get_execution_history(executionArn=execution)["events"]
    types = [e["type"] for e in events]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert "LambdaFunctionSucceeded" in types
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert all(isinstance(e["timestamp"], datetime) for e in events)
    backwards = sfn.get_execution_history(executionArn=execution, reverseOrder=True)["events"]
    assert [e["id"] for e in backwards] == [e["id"] for e in reversed(events)]
    paged = [
        e["id"]
        for page in sfn.get_paginator("get_execution_history").paginate(
            executionArn=execution, PaginationConfig={"PageSize": 2}
        )
        for e in page["events"]
    ]
    assert paged == [e["id"] for e in events]


def test_callbacks_succeed_fail_and_refuse_closed_or_bad_tokens(served: Served) -> None:
    sfn = served.sfn
    arn = served.machine("park", PARK)
    good = sfn.start_execution(stateMachineArn=arn, name="good")["executionArn"]
    token = served.token()
    sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output='{"accepted": true}')
    result = finished(sfn, good)
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"accepted": True}

    with pytest.raises(ClientError) as closed:
        sfn.send_task_success(taskToken=token, output="{}")
    assert error_code(closed) == "TaskTimedOut"
    with pytest.raises(ClientError) as bad:
        sfn.send_task_failure(taskToken="not-a-token")
    assert error_code(bad) == "InvalidToken"

    bad_run = sfn.start_execution(stateMachineArn=arn, name="bad")["executionArn"]
    sfn.send_task_failure(taskToken=served.token(), error="Rejected", cause="closed today")
    failed = finished(sfn, bad_run)
    assert (failed["status"], failed["error"], failed["cause"]) == (
        "FAILED",
        "Rejected",
        "closed today",
    )


def test_stop_execution_aborts_a_waiting_execution(served: Served) -> None:
    sfn = served.sfn
    arn = served.machine("park", PARK)
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    served.token()
    stopped = sfn.stop_execution(executionArn=execution, error="Cancelled", cause="by the test")
    assert isinstance(stopped["stopDate"], datetime)
    result = sfn.describe_execution(executionArn=execution)
    assert (result["status"], result["error"]) == ("ABORTED", "Cancelled")
    history = sfn.get_execution_history(executionArn=execution, reverseOrder=True)["events"]
    assert history[0]["type"] == "ExecutionAborted"


def test_redrive_runs_the_failed_state_again(served: Served) -> None:
    sfn = served.sfn
    arn = served.machine("flaky", FLAKY)
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert finished(sfn, execution)["status"] == "FAILED"
    served.flaky_fails[0] = False
    assert isinstance(sfn.redrive_execution(executionArn=execution)["redriveDate"], datetime)
    result = finished(sfn, execution)
    assert (result["status"], result["redriveCount"]) == ("SUCCEEDED", 1)
    with pytest.raises(ClientError) as refused:
        sfn.redrive_execution(executionArn=execution)
    assert error_code(refused) == "ExecutionNotRedrivable"


def test_activity_worker_long_polls_for_its_task(served: Served) -> None:
    sfn = served.sfn
    activity = sfn.create_activity(name="approve")["activityArn"]
    assert sfn.describe_activity(activityArn=activity)["name"] == "approve"
    arn = served.machine(
        "approval",
        {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": activity, "End": True}}},
    )
    polled: dict[str, Any] = {}
    poller = threading.Thread(
        target=lambda: polled.update(sfn.get_activity_task(activityArn=activity, workerName="w1"))
    )
    poller.start()  # waits on the server until a task is scheduled
    execution = sfn.start_execution(stateMachineArn=arn, input='{"amount": 5}')["executionArn"]
    poller.join(30)
    assert json.loads(polled["input"]) == {"amount": 5}
    sfn.send_task_success(taskToken=polled["taskToken"], output='{"approved": true}')
    assert json.loads(finished(sfn, execution)["output"]) == {"approved": True}
    assert [a["name"] for a in sfn.list_activities()["activities"]] == ["approve"]
    sfn.delete_activity(activityArn=activity)
    with pytest.raises(ClientError) as gone:
        sfn.describe_activity(activityArn=activity)
    assert error_code(gone) == "ActivityDoesNotExist"


def test_versions_publish_list_conflict_and_delete(served: Served) -> None:
    sfn = served.sfn
    created = sfn.create_state_machine(
        name="v", definition=json.dumps(PASS), roleArn=ROLE, publish=True
    )
    arn, version = created["stateMachineArn"], created["stateMachineVersionArn"]
    assert version == f"{arn}:1"
    revision = sfn.describe_state_machine(stateMachineArn=arn)["revisionId"]
    updated = sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(DOUBLE))
    with pytest.raises(ClientError) as stale:
        sfn.publish_state_machine_version(stateMachineArn=arn, revisionId=revision)
    assert error_code(stale) == "ConflictException"
    second = sfn.publish_state_machine_version(
        stateMachineArn=arn, revisionId=updated["revisionId"], description="doubles"
    )
    assert second["stateMachineVersionArn"] == f"{arn}:2"
    listed = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in listed] == [f"{arn}:2", f"{arn}:1"]
    first = sfn.list_state_machine_versions(stateMachineArn=arn, maxResults=1)
    assert [v["stateMachineVersionArn"] for v in first["stateMachineVersions"]] == [f"{arn}:2"]
    rest = sfn.list_state_machine_versions(
        stateMachineArn=arn, maxResults=1, nextToken=first["nextToken"]
    )
    assert [v["stateMachineVersionArn"] for v in rest["stateMachineVersions"]] == [f"{arn}:1"]
    assert "nextToken" not in rest
    sfn.delete_state_machine_version(stateMachineVersionArn=f"{arn}:1")
    with pytest.raises(ClientError) as not_a_version:
        sfn.delete_state_machine_version(stateMachineVersionArn=arn)
    assert error_code(not_a_version) == "InvalidArn"
    listed = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in listed] == [f"{arn}:2"]
    sfn.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(ClientError) as deleted:
        sfn.describe_state_machine(stateMachineArn=arn)
    assert error_code(deleted) == "StateMachineDoesNotExist"


def test_validate_state_machine_definition_reports_json_pointers(served: Served) -> None:
    sfn = served.sfn
    assert sfn.validate_state_machine_definition(definition=json.dumps(PASS))["result"] == "OK"
    broken = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Next": "Nowhere"}}}
    report = sfn.validate_state_machine_definition(definition=json.dumps(broken))
    assert report["result"] == "FAIL"
    assert any(d["location"].startswith("/States/P") for d in report["diagnostics"])
    assert all(d["severity"] == "ERROR" and d["code"] for d in report["diagnostics"])


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (
            lambda sfn: sfn.describe_execution(
                executionArn="arn:aws:states:us-east-1:123456789012:execution:pass:nope"
            ),
            "ExecutionDoesNotExist",
        ),
        (
            lambda sfn: sfn.start_execution(
                stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:nope"
            ),
            "StateMachineDoesNotExist",
        ),
        (
            lambda sfn: sfn.create_state_machine(
                name="broken", definition='{"StartAt": "X", "States": {}}', roleArn=ROLE
            ),
            "InvalidDefinition",
        ),
        (
            lambda sfn: sfn.create_state_machine(
                name="bad name!", definition=json.dumps(PASS), roleArn=ROLE
            ),
            "InvalidName",
        ),
        (lambda sfn: sfn.describe_execution(executionArn="not-an-arn"), "InvalidArn"),
        (
            lambda sfn: sfn.start_execution(
                stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:pass",
                input="{not json",
            ),
            "InvalidExecutionInput",
        ),
        (
            lambda sfn: sfn.start_execution(
                stateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:pass",
                input="",
            ),
            "InvalidExecutionInput",
        ),
    ],
)
def test_errors_surface_as_client_errors_with_aws_codes(
    shared: Served, call: Any, code: str
) -> None:
    shared.machine("pass", PASS)  # idempotent: the same request again answers the same
    with pytest.raises(ClientError) as info:
        call(shared.sfn)
    assert error_code(info) == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert info.value.response["Error"]["Message"]
    assert info.value.response["ResponseMetadata"]["RequestId"]


def test_execution_and_state_machine_already_exist(served: Served) -> None:
    sfn = served.sfn
    arn = served.machine("park", PARK)
    sfn.start_execution(stateMachineArn=arn, name="once", input='{"a": 1}')
    # The same name and input while running: idempotent, the same execution.
    again = sfn.start_execution(stateMachineArn=arn, name="once", input='{"a": 1}')
    assert again["executionArn"].endswith(":once")
    with pytest.raises(ClientError) as exists:
        sfn.start_execution(stateMachineArn=arn, name="once", input='{"a": 2}')
    assert error_code(exists) == "ExecutionAlreadyExists"
    with pytest.raises(ClientError) as machine_exists:
        sfn.create_state_machine(name="park", definition=json.dumps(PASS), roleArn=ROLE)
    assert error_code(machine_exists) == "StateMachineAlreadyExists"


def test_concurrent_starts_share_commits_and_keep_their_own_answers(served: Served) -> None:
    sfn = served.sfn
    arn = served.machine("double", DOUBLE)
    answers: dict[int, dict[str, Any]] = {}

    def start(n: int) -> None:
        answers[n] = client("stepfunctions", served.url).start_execution(
            stateMachineArn=arn, name=f"n{n}", input=json.dumps({"value": n})
        )

    threads = [threading.Thread(target=start, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for n, answer in answers.items():
        assert answer["executionArn"].endswith(f":n{n}")
        result = finished(sfn, answer["executionArn"])
        assert result["startDate"] == answer["startDate"]
        assert json.loads(result["output"]) == {"value": 2 * n}
    assert len(answers) == 8
    # A trace header is kept (X-Ray's header passes through untouched).
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
    traced = sfn.start_execution(stateMachineArn=arn, input='{"value": 0}', traceHeader=header)
    assert sfn.describe_execution(executionArn=traced["executionArn"])["traceHeader"] == header


def test_describe_state_machine_for_execution_keeps_the_definition_it_ran(served: Served) -> None:
    sfn = served.sfn
    arn = served.machine("park", PARK)
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    served.token()
    sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(PASS))
    ran = sfn.describe_state_machine_for_execution(executionArn=execution)
    assert json.loads(ran["definition"]) == PARK
    assert (ran["stateMachineArn"], ran["name"], ran["roleArn"]) == (arn, "park", ROLE)
    assert isinstance(ran["updateDate"], datetime)
    assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"]) == PASS
    with pytest.raises(ClientError) as missing:
        sfn.describe_state_machine_for_execution(executionArn=execution + "-nope")
    assert error_code(missing) == "ExecutionDoesNotExist"
