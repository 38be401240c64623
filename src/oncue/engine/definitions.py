"""State machines and activities: create, update (publishing versions), describe, list, delete.

Responses are dictionaries in the shape of the Step Functions API's JSON responses
(camelCase keys, timestamps as epoch seconds), so the HTTP API returns them as they are and
the CLI prints them.
"""

from __future__ import annotations

from datetime import datetime

from oncue.asl.jsonutil import dumps
from oncue.asl.validate import parse_definition
from oncue.engine.naming import (
    arn_prefix,
    check_name,
    decode_page_token,
    encode_page_token,
    parse_arn,
    revision_of,
)
from oncue.errors import (
    ActivityNotFound,
    Conflict,
    StateMachineAlreadyExists,
    StateMachineNotFound,
)
from oncue.store.records import ActivityRecord, ExecutionRecord, StateMachineRecord, VersionRecord
from oncue.store.sql import Tx
from oncue.types import Json

__all__ = [
    "create_activity",
    "create_state_machine",
    "delete_activity",
    "delete_state_machine",
    "describe_activity",
    "describe_state_machine",
    "describe_state_machine_for_execution",
    "list_activities",
    "list_state_machine_versions",
    "list_state_machines",
    "publish_version",
    "require_activity",
    "resolve_definition",
    "update_state_machine",
]

DEFAULT_ROLE = "arn:aws:iam::{account}:role/oncue-execution"


def _definition_text(definition: str | dict[str, Json]) -> str:
    """Validate (raising DefinitionError with JSON pointers) and return the JSON text."""
    parse_definition(definition)
    return definition if isinstance(definition, str) else dumps(definition)


def create_state_machine(
    tx: Tx,
    *,
    name: str,
    definition: str | dict[str, Json],
    now: datetime,
    region: str,
    account: str,
    role_arn: str | None = None,
    type: str = "STANDARD",
    publish: bool = False,
    version_description: str = "",
) -> dict[str, Json]:
    check_name(name, "state machine")
    if type != "STANDARD":
        raise Conflict(f"Only STANDARD state machines are supported, not {type!r}")
    text = _definition_text(definition)
    role = role_arn or DEFAULT_ROLE.format(account=account)
    arn = f"{arn_prefix(region, account)}:stateMachine:{name}"
    revision = revision_of(text, role)
    existing = tx.get_state_machine(arn)
    if existing is not None:
        # CreateStateMachine is idempotent for an identical request (AWS API reference).
        if existing.revision_id == revision:
            return {"stateMachineArn": arn, "creationDate": existing.creation_date}
        raise StateMachineAlreadyExists(
            f"State Machine Already Exists: '{arn}' (with a different definition or role)"
        )
    tx.put_definition(revision, text)
    stamp = now.timestamp()
    tx.insert_state_machine(
        StateMachineRecord(
            arn=arn,
            name=name,
            definition=text,
            role_arn=role,
            type=type,
            revision_id=revision,
            creation_date=stamp,
        )
    )
    response: dict[str, Json] = {"stateMachineArn": arn, "creationDate": stamp}
    if publish:
        response["stateMachineVersionArn"] = _publish(tx, arn, version_description, stamp)
    return response


def _require(tx: Tx, arn: str) -> StateMachineRecord:
    parse_arn(arn, "stateMachine")
    record = tx.get_state_machine(arn)
    if record is None:
        raise StateMachineNotFound(f"State Machine Does Not Exist: '{arn}'")
    return record


def update_state_machine(
    tx: Tx,
    *,
    arn: str,
    now: datetime,
    definition: str | dict[str, Json] | None = None,
    role_arn: str | None = None,
    publish: bool = False,
    version_description: str = "",
) -> dict[str, Json]:
    record = _require(tx, arn)
    text = record.definition if definition is None else _definition_text(definition)
    role = role_arn or record.role_arn
    revision = revision_of(text, role)
    stamp = now.timestamp()
    tx.put_definition(revision, text)
    tx.update_state_machine(
        StateMachineRecord(
            arn=arn,
            name=record.name,
            definition=text,
            role_arn=role,
            type=record.type,
            revision_id=revision,
            creation_date=record.creation_date,
            update_date=stamp,
        )
    )
    response: dict[str, Json] = {"updateDate": stamp, "revisionId": revision}
    if publish:
        response["stateMachineVersionArn"] = _publish(tx, arn, version_description, stamp)
    return response


def _publish(tx: Tx, arn: str, description: str, stamp: float) -> str:
    record = _require(tx, arn)
    versions = tx.list_versions(arn)
    if versions and versions[0].revision_id == record.revision_id:
        # Publishing an unchanged revision returns the latest version (AWS behaviour).
        return versions[0].arn
    number = (versions[0].version if versions else 0) + 1
    version_arn = f"{arn}:{number}"
    tx.insert_version(
        VersionRecord(
            arn=version_arn,
            state_machine_arn=arn,
            version=number,
            definition=record.definition,
            role_arn=record.role_arn,
            description=description,
            revision_id=record.revision_id,
            creation_date=stamp,
        )
    )
    return version_arn


def publish_version(tx: Tx, *, arn: str, now: datetime, description: str = "") -> dict[str, Json]:
    version_arn = _publish(tx, arn, description, now.timestamp())
    version = tx.get_version(version_arn)
    assert version is not None
    return {"stateMachineVersionArn": version_arn, "creationDate": version.creation_date}


def resolve_definition(tx: Tx, arn: str) -> tuple[str, str, str | None]:
    """(state machine ARN, revision id, version ARN or None) for a machine or version ARN."""
    _, _, parts = parse_arn(arn, "stateMachine")
    if len(parts) == 2 and parts[1].isdigit():
        version = tx.get_version(arn)
        if version is None:
            raise StateMachineNotFound(f"State Machine Does Not Exist: '{arn}'")
        return version.state_machine_arn, version.revision_id, arn
    record = _require(tx, arn)
    return record.arn, record.revision_id, None


def describe_state_machine(tx: Tx, arn: str) -> dict[str, Json]:
    machine_arn, _, version_arn = resolve_definition(tx, arn)
    record = _require(tx, machine_arn)
    response: dict[str, Json] = {
        "stateMachineArn": arn,
        "name": record.name,
        "status": "ACTIVE",
        "definition": record.definition,
        "roleArn": record.role_arn,
        "type": record.type,
        "creationDate": record.creation_date,
        "revisionId": record.revision_id,
    }
    if version_arn is not None:
        version = tx.get_version(version_arn)
        assert version is not None
        response.update(
            definition=version.definition,
            roleArn=version.role_arn,
            creationDate=version.creation_date,
            revisionId=version.revision_id,
            description=version.description,
        )
    return response


def describe_state_machine_for_execution(tx: Tx, execution: ExecutionRecord) -> dict[str, Json]:
    """DescribeStateMachineForExecution: the definition the execution runs (its revision, which
    later updates of the state machine do not change)."""
    definition = tx.get_definition(execution.revision_id)
    assert definition is not None  # every revision's text is kept (put_definition)
    machine = tx.get_state_machine(execution.state_machine_arn)
    version = tx.get_version(execution.version_arn) if execution.version_arn else None
    _, _, parts = parse_arn(execution.state_machine_arn, "stateMachine")
    response: dict[str, Json] = {
        "stateMachineArn": execution.state_machine_arn,
        "name": parts[0],
        "definition": definition,
        "roleArn": version.role_arn if version else (machine.role_arn if machine else ""),
        "updateDate": (
            (machine.update_date or machine.creation_date) if machine else execution.start_date
        ),
        "revisionId": execution.revision_id,
    }
    return response


def list_state_machines(
    tx: Tx, *, max_results: int = 100, next_token: str | None = None
) -> dict[str, Json]:
    after = decode_page_token(next_token) if next_token else None
    limit = max(1, min(max_results or 100, 1000))
    rows = tx.list_state_machines(after if isinstance(after, str) else None, limit + 1)
    page = rows[:limit]
    response: dict[str, Json] = {
        "stateMachines": [
            {
                "stateMachineArn": r.arn,
                "name": r.name,
                "type": r.type,
                "creationDate": r.creation_date,
            }
            for r in page
        ]
    }
    if len(rows) > limit:
        response["nextToken"] = encode_page_token(page[-1].name)
    return response


def list_state_machine_versions(
    tx: Tx, arn: str, *, max_results: int = 100, next_token: str | None = None
) -> dict[str, Json]:
    """Newest first; a page ends at ``max_results`` and its token holds the last version."""
    _require(tx, arn)
    before = decode_page_token(next_token) if next_token else None
    limit = max(1, min(max_results or 100, 1000))
    versions = [
        v for v in tx.list_versions(arn) if not isinstance(before, int) or v.version < before
    ]
    page = versions[:limit]
    response: dict[str, Json] = {
        "stateMachineVersions": [
            {"stateMachineVersionArn": v.arn, "creationDate": v.creation_date} for v in page
        ]
    }
    if len(versions) > limit:
        response["nextToken"] = encode_page_token(page[-1].version)
    return response


def delete_state_machine(tx: Tx, arn: str) -> dict[str, Json]:
    """Delete a machine and its versions; running executions finish on their definition."""
    _, _, parts = parse_arn(arn, "stateMachine")
    if len(parts) == 2:
        tx.delete_version(arn)
    else:
        tx.delete_state_machine(arn)
    return {}


# --- activities ----------------------------------------------------------------------------


def create_activity(
    tx: Tx, *, name: str, now: datetime, region: str, account: str
) -> dict[str, Json]:
    check_name(name, "activity")
    arn = f"{arn_prefix(region, account)}:activity:{name}"
    existing = tx.get_activity(arn)
    if existing is not None:
        return {"activityArn": arn, "creationDate": existing.creation_date}
    stamp = now.timestamp()
    tx.insert_activity(ActivityRecord(arn=arn, name=name, creation_date=stamp))
    return {"activityArn": arn, "creationDate": stamp}


def require_activity(tx: Tx, arn: str) -> ActivityRecord:
    parse_arn(arn, "activity")
    record = tx.get_activity(arn)
    if record is None:
        raise ActivityNotFound(f"Activity Does Not Exist: '{arn}'")
    return record


def describe_activity(tx: Tx, arn: str) -> dict[str, Json]:
    record = require_activity(tx, arn)
    return {"activityArn": record.arn, "name": record.name, "creationDate": record.creation_date}


def list_activities(
    tx: Tx, *, max_results: int = 100, next_token: str | None = None
) -> dict[str, Json]:
    after = decode_page_token(next_token) if next_token else None
    limit = max(1, min(max_results or 100, 1000))
    rows = tx.list_activities(after if isinstance(after, str) else None, limit + 1)
    page = rows[:limit]
    response: dict[str, Json] = {
        "activities": [
            {"activityArn": r.arn, "name": r.name, "creationDate": r.creation_date} for r in page
        ]
    }
    if len(rows) > limit:
        response["nextToken"] = encode_page_token(page[-1].name)
    return response


def delete_activity(tx: Tx, arn: str) -> dict[str, Json]:
    parse_arn(arn, "activity")
    tx.delete_activity(arn)
    return {}
