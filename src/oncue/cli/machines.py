"""``oncue state-machine``: create, update, describe, list, versions and delete.

A bare NAME stands for the state machine's ARN in the default region and account, and
``NAME:N`` for its version N.
"""

from __future__ import annotations

import json

import click

from oncue.app import load_definition_file
from oncue.cli.common import api_errors, arn_for, database_option, json_option, open_control
from oncue.cli.output import emit_json, format_time, next_token_hint, show_fields, show_table
from oncue.types import Json

__all__ = ["state_machine"]


@click.group("state-machine")
def state_machine() -> None:
    """Create, update, inspect and delete state machines."""


def _created(response: dict[str, Json], as_json: bool) -> None:
    if as_json:
        emit_json(response)
        return
    fields = [
        ("stateMachineArn", str(response.get("stateMachineArn", ""))),
        ("creationDate", format_time(response.get("creationDate"))),
        ("updateDate", format_time(response.get("updateDate"))),
        ("revisionId", str(response.get("revisionId", ""))),
        ("stateMachineVersionArn", str(response.get("stateMachineVersionArn", ""))),
    ]
    show_fields("State machine", fields)


@state_machine.command("create")
@click.argument("name")
@click.argument("definition_file", type=click.Path(dir_okay=False))
@click.option("--role-arn", default=None, help="The execution role ARN (recorded, not used).")
@click.option("--publish", is_flag=True, help="Also publish version 1.")
@click.option("--version-description", default="", help="Description of the published version.")
@database_option
@json_option
@api_errors
def create(
    name: str,
    definition_file: str,
    role_arn: str | None,
    publish: bool,
    version_description: str,
    database_url: str,
    as_json: bool,
) -> None:
    """Create the state machine NAME from DEFINITION_FILE (JSON or YAML)."""
    definition = load_definition_file(definition_file)
    control = open_control(database_url)
    response = control.create_state_machine(
        name,
        definition,
        role_arn=role_arn,
        publish=publish,
        version_description=version_description,
    )
    _created(response, as_json)


@state_machine.command("update")
@click.argument("name_or_arn")
@click.argument("definition_file", type=click.Path(dir_okay=False), required=False)
@click.option("--role-arn", default=None, help="A new execution role ARN.")
@click.option("--publish", is_flag=True, help="Publish the updated revision as a new version.")
@click.option("--version-description", default="", help="Description of the published version.")
@database_option
@json_option
@api_errors
def update(
    name_or_arn: str,
    definition_file: str | None,
    role_arn: str | None,
    publish: bool,
    version_description: str,
    database_url: str,
    as_json: bool,
) -> None:
    """Give a state machine a new definition (and/or role); optionally publish a version."""
    definition = load_definition_file(definition_file) if definition_file else None
    control = open_control(database_url)
    response = control.update_state_machine(
        arn_for(control, "stateMachine", name_or_arn),
        definition=definition,
        role_arn=role_arn,
        publish=publish,
        version_description=version_description,
    )
    _created(response, as_json)


@state_machine.command("describe")
@click.argument("name_or_arn")
@database_option
@json_option
@api_errors
def describe(name_or_arn: str, database_url: str, as_json: bool) -> None:
    """Show a state machine (or a version, NAME:N) with its definition."""
    control = open_control(database_url)
    response = control.describe_state_machine(arn_for(control, "stateMachine", name_or_arn))
    if as_json:
        emit_json(response)
        return
    keys = ("stateMachineArn", "name", "status", "type", "roleArn", "revisionId", "description")
    fields = [(k, str(response.get(k, ""))) for k in keys]
    fields.insert(5, ("creationDate", format_time(response.get("creationDate"))))
    show_fields(str(response.get("name", "State machine")), fields)
    definition = response.get("definition")
    if isinstance(definition, str):
        click.echo(json.dumps(json.loads(definition), indent=2, ensure_ascii=False))


@state_machine.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--next-token", default=None, help="Continue a previous listing.")
@database_option
@json_option
@api_errors
def list_machines(limit: int, next_token: str | None, database_url: str, as_json: bool) -> None:
    """List state machines by name."""
    control = open_control(database_url)
    response = control.list_state_machines(max_results=limit, next_token=next_token)
    if as_json:
        emit_json(response)
        return
    machines = response["stateMachines"]
    assert isinstance(machines, list)
    rows = [
        [m["name"], m["type"], format_time(m["creationDate"], millis=False), m["stateMachineArn"]]
        for m in machines
    ]
    show_table(["NAME", "TYPE", "CREATED", "ARN"], rows)
    next_token_hint(response)


@state_machine.command("versions")
@click.argument("name_or_arn")
@database_option
@json_option
@api_errors
def versions(name_or_arn: str, database_url: str, as_json: bool) -> None:
    """List the published versions of a state machine, newest first."""
    control = open_control(database_url)
    response = control.list_state_machine_versions(arn_for(control, "stateMachine", name_or_arn))
    if as_json:
        emit_json(response)
        return
    items = response["stateMachineVersions"]
    assert isinstance(items, list)
    rows = [
        [
            v["stateMachineVersionArn"].rsplit(":", 1)[1],
            format_time(v["creationDate"], millis=False),
            v["stateMachineVersionArn"],
        ]
        for v in items
    ]
    show_table(["VERSION", "CREATED", "ARN"], rows)


@state_machine.command("delete")
@click.argument("name_or_arn")
@database_option
@json_option
@api_errors
def delete(name_or_arn: str, database_url: str, as_json: bool) -> None:
    """Delete a state machine with its versions (or one version, NAME:N).

    Running executions finish on the definition they started with.
    """
    control = open_control(database_url)
    arn = arn_for(control, "stateMachine", name_or_arn)
    response = control.delete_state_machine(arn)
    if as_json:
        emit_json(response)
    else:
        click.echo(f"deleted {arn}")
