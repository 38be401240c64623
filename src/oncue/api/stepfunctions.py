"""The Step Functions actions (``X-Amz-Target: AWSStepFunctions.<Action>``, awsJson1_0).

Every action :class:`~oncue.engine.control.Control` implements, with the request members of
the Step Functions API reference. Control answers in the API's shapes already (camelCase,
timestamps as epoch seconds) and raises errors that carry the API's names, so most rows call a
Control method directly; the few functions below fill the gaps between the API and Control.
"""

from __future__ import annotations

from typing import Final

from oncue.api.operations import Action, Param, Service, table
from oncue.asl.validate import validate_definition
from oncue.engine.control import Control
from oncue.engine.naming import parse_arn
from oncue.errors import Conflict, InvalidArn
from oncue.types import Json

__all__ = ["CONTENT_TYPE", "STEP_FUNCTIONS"]

CONTENT_TYPE: Final = "application/x-amz-json-1.0"
#: GetActivityTask: "the service holds the HTTP connection open and responds as soon as a task
#: becomes available ... up to 60 seconds" (API reference).
ACTIVITY_LONG_POLL_SECONDS: Final = 60.0


def publish_state_machine_version(
    control: Control, arn: str, description: str = "", revision_id: str | None = None
) -> dict[str, Json]:
    """PublishStateMachineVersion; with ``revisionId``, only if the machine is at that
    revision ("ConflictException ... if the revisionId ... does not match")."""
    if revision_id is not None:
        current = control.describe_state_machine(arn)["revisionId"]
        if current != revision_id:
            raise Conflict(
                f"Failed to publish the state machine version: the revisionId {revision_id} "
                f"does not match the current revision {current}"
            )
    return control.publish_state_machine_version(arn, description)


def delete_state_machine_version(control: Control, arn: str) -> dict[str, Json]:
    """DeleteStateMachineVersion takes a version ARN only (``...:stateMachine:NAME:N``)."""
    _, _, parts = parse_arn(arn, "stateMachine")
    if len(parts) != 2 or not parts[1].isdigit():
        raise InvalidArn(f"Invalid Arn: 'not a state machine version ARN: {arn}'")
    return control.delete_state_machine(arn)


def validate_state_machine_definition(
    control: Control, definition: str, type: str = "STANDARD"
) -> dict[str, Json]:
    """ValidateStateMachineDefinition: every problem as a diagnostic with its JSON pointer."""
    diagnostics: list[Json] = []
    for problem in validate_definition(definition):
        code, sep, message = problem.message.partition(": ")
        if not sep or not code.isupper():
            code, message = "SCHEMA_VALIDATION_FAILED", problem.message
        diagnostics.append(
            {"severity": "ERROR", "code": code, "message": message, "location": problem.pointer}
        )
    return {
        "result": "FAIL" if diagnostics else "OK",
        "diagnostics": diagnostics,
        "truncated": False,
    }


def _arn(aws: str) -> Param:
    return Param(aws=aws, name="arn", required=True)


_PAGE = (
    Param(aws="maxResults", name="max_results", kind="integer"),
    Param(aws="nextToken", name="next_token"),
)
_MACHINE = _arn("stateMachineArn")
_EXECUTION = _arn("executionArn")
_ACTIVITY = _arn("activityArn")
_TOKEN = Param(aws="taskToken", name="token", required=True)
_ERROR = (Param(aws="error", name="error"), Param(aws="cause", name="cause"))
_PUBLISH = (
    Param(aws="publish", name="publish", kind="boolean"),
    Param(aws="versionDescription", name="version_description"),
)

STEP_FUNCTIONS: Final = Service(
    prefix="AWSStepFunctions",
    content_type=CONTENT_TYPE,
    actions=table(
        # --- state machines and versions ---------------------------------------------
        Action(
            name="CreateStateMachine",
            call=Control.create_state_machine,
            params=(
                Param(aws="name", name="name", required=True),
                Param(aws="definition", name="definition", required=True),
                Param(aws="roleArn", name="role_arn"),
                Param(aws="type", name="type"),
                *_PUBLISH,
            ),
        ),
        Action(
            name="UpdateStateMachine",
            call=Control.update_state_machine,
            params=(
                _MACHINE,
                Param(aws="definition", name="definition"),
                Param(aws="roleArn", name="role_arn"),
                *_PUBLISH,
            ),
        ),
        Action(
            name="DescribeStateMachine",
            reads=True,
            call=Control.describe_state_machine,
            params=(_MACHINE,),
        ),
        Action(
            name="ListStateMachines", reads=True, call=Control.list_state_machines, params=_PAGE
        ),
        Action(name="DeleteStateMachine", call=Control.delete_state_machine, params=(_MACHINE,)),
        Action(
            name="PublishStateMachineVersion",
            call=publish_state_machine_version,
            params=(
                _MACHINE,
                Param(aws="description", name="description"),
                Param(aws="revisionId", name="revision_id"),
            ),
        ),
        Action(
            name="ListStateMachineVersions",
            reads=True,
            call=Control.list_state_machine_versions,
            params=(_MACHINE, *_PAGE),
        ),
        Action(
            name="DeleteStateMachineVersion",
            call=delete_state_machine_version,
            params=(_arn("stateMachineVersionArn"),),
        ),
        Action(
            name="ValidateStateMachineDefinition",
            reads=True,
            call=validate_state_machine_definition,
            params=(
                Param(aws="definition", name="definition", required=True),
                Param(aws="type", name="type"),
            ),
        ),
        # --- activities --------------------------------------------------------------
        Action(
            name="CreateActivity",
            call=Control.create_activity,
            params=(Param(aws="name", name="name", required=True),),
        ),
        Action(
            name="DescribeActivity", reads=True, call=Control.describe_activity, params=(_ACTIVITY,)
        ),
        Action(name="ListActivities", reads=True, call=Control.list_activities, params=_PAGE),
        Action(name="DeleteActivity", call=Control.delete_activity, params=(_ACTIVITY,)),
        Action(
            name="GetActivityTask",
            call=Control.get_activity_task,
            params=(
                Param(aws="activityArn", name="activity_arn", required=True),
                Param(aws="workerName", name="worker_name"),
            ),
            long_poll=ACTIVITY_LONG_POLL_SECONDS,
        ),
        # --- executions --------------------------------------------------------------
        Action(
            name="StartExecution",
            call=Control.start_execution,
            params=(
                Param(aws="stateMachineArn", name="state_machine_arn", required=True),
                Param(aws="name", name="name"),
                Param(aws="input", name="input"),
                Param(aws="traceHeader", name="trace_header"),
            ),
        ),
        Action(
            name="DescribeExecution",
            reads=True,
            call=Control.describe_execution,
            params=(_EXECUTION,),
        ),
        Action(
            name="DescribeStateMachineForExecution",
            reads=True,
            call=Control.describe_state_machine_for_execution,
            params=(_EXECUTION,),
        ),
        Action(
            name="ListExecutions",
            reads=True,
            call=Control.list_executions,
            params=(
                Param(aws="stateMachineArn", name="state_machine_arn"),
                Param(aws="statusFilter", name="status_filter"),
                *_PAGE,
            ),
        ),
        Action(
            name="GetExecutionHistory",
            reads=True,
            call=Control.get_execution_history,
            params=(
                _EXECUTION,
                *_PAGE,
                Param(aws="reverseOrder", name="reverse_order", kind="boolean"),
                Param(aws="includeExecutionData", name="include_execution_data", kind="boolean"),
            ),
        ),
        Action(name="StopExecution", call=Control.stop_execution, params=(_EXECUTION, *_ERROR)),
        Action(name="RedriveExecution", call=Control.redrive_execution, params=(_EXECUTION,)),
        # --- callbacks ---------------------------------------------------------------
        Action(
            name="SendTaskSuccess",
            call=Control.send_task_success,
            params=(_TOKEN, Param(aws="output", name="output", required=True)),
        ),
        Action(name="SendTaskFailure", call=Control.send_task_failure, params=(_TOKEN, *_ERROR)),
        Action(name="SendTaskHeartbeat", call=Control.send_task_heartbeat, params=(_TOKEN,)),
    ),
)
