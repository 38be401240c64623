"""``oncue events rules`` (put, describe, list, enable, disable, delete) and ``oncue events
targets`` (put, list, remove)."""

from __future__ import annotations

import click

from oncue.asl.jsonutil import dumps, loads
from oncue.cli.common import api_errors, database_option, json_option, json_text
from oncue.cli.events_cmd import open_bus, page_options, show_page
from oncue.cli.output import emit_json, shorten, show_fields
from oncue.errors import ValidationException
from oncue.types import Json

__all__ = ["rules", "targets"]

bus_option = click.option("--bus", default=None, help="The event bus (default: default).")


@click.group("rules")
def rules() -> None:
    """Rules: put, describe, list, enable, disable, delete."""


@rules.command("put")
@click.argument("name")
@click.option("--pattern", "pattern_text", default=None, metavar="JSON", help="Event pattern.")
@click.option("--pattern-file", type=click.Path(dir_okay=False), help="Event pattern file.")
@click.option("--schedule", default=None, help="rate(...), cron(...) or at(...).")
@click.option("--disabled", is_flag=True, help="Create the rule DISABLED.")
@click.option("--description", default=None)
@bus_option
@database_option
@json_option
@api_errors
def put_rule(
    name: str,
    pattern_text: str | None,
    pattern_file: str | None,
    schedule: str | None,
    disabled: bool,
    description: str | None,
    bus: str | None,
    database_url: str,
    as_json: bool,
) -> None:
    """PutRule: create or replace the rule NAME; print its ARN."""
    pattern = json_text(pattern_text, pattern_file, "event pattern")
    response = open_bus(database_url).put_rule(
        name,
        event_pattern=pattern,
        schedule_expression=schedule,
        state="DISABLED" if disabled else "ENABLED",
        description=description,
        event_bus_name=bus,
    )
    emit_json(response) if as_json else click.echo(response["RuleArn"])


@rules.command("describe")
@click.argument("name")
@bus_option
@database_option
@json_option
@api_errors
def describe_rule(name: str, bus: str | None, database_url: str, as_json: bool) -> None:
    """Describe the rule NAME."""
    response = open_bus(database_url).describe_rule(name, bus)
    if as_json:
        emit_json(response)
        return
    keys = ("Arn", "EventBusName", "State", "EventPattern", "ScheduleExpression", "Description")
    show_fields(name, [(k, str(response.get(k, ""))) for k in keys])


@rules.command("list")
@click.option("--prefix", default=None, help="Only the rules whose name starts so.")
@bus_option
@page_options
@database_option
@json_option
@api_errors
def list_rules(
    prefix: str | None,
    bus: str | None,
    next_token: str | None,
    limit: int | None,
    database_url: str,
    as_json: bool,
) -> None:
    """List the rules of a bus."""
    response = open_bus(database_url).list_rules(prefix, bus, next_token, limit)
    show_page(
        response,
        as_json,
        "Rules",
        ("Name", "State", "Pattern or schedule"),
        lambda r: (
            str(r["Name"]),
            str(r["State"]),
            shorten(str(r.get("EventPattern") or r.get("ScheduleExpression", "")), 70),
        ),
    )


def _state_command(command: str, method: str) -> click.Command:
    @click.argument("name")
    @bus_option
    @database_option
    @api_errors
    def change(name: str, bus: str | None, database_url: str) -> None:
        getattr(open_bus(database_url), method)(name, bus)

    change.__doc__ = f"{command.capitalize()} the rule NAME."
    return click.command(command)(change)


rules.add_command(_state_command("enable", "enable_rule"))
rules.add_command(_state_command("disable", "disable_rule"))


@rules.command("delete")
@click.argument("name")
@click.option("--force", is_flag=True, help="Delete a managed rule too.")
@bus_option
@database_option
@api_errors
def delete_rule(name: str, force: bool, bus: str | None, database_url: str) -> None:
    """Delete the rule NAME (remove its targets first)."""
    open_bus(database_url).delete_rule(name, bus, force)


@click.group("targets")
def targets() -> None:
    """Targets of a rule: put, list, remove."""


@targets.command("put")
@click.argument("rule")
@click.option(
    "--target",
    "documents",
    multiple=True,
    metavar="JSON",
    help='A PutTargets entry, e.g. {"Id": "1", "Arn": "..."} (repeatable).',
)
@click.option("--id", "target_id", default=None, help="With --arn: a target without JSON.")
@click.option("--arn", default=None, help="The target's ARN.")
@click.option("--input", "input_text", default=None, metavar="JSON", help="Constant input.")
@bus_option
@database_option
@json_option
@api_errors
def put_targets(
    rule: str,
    documents: tuple[str, ...],
    target_id: str | None,
    arn: str | None,
    input_text: str | None,
    bus: str | None,
    database_url: str,
    as_json: bool,
) -> None:
    """PutTargets: add or replace targets of RULE. Exits 1 when some failed."""
    entries: list[Json] = []
    for text in documents:
        try:
            entries.append(loads(text))
        except ValueError as error:
            raise ValidationException(f"--target is not valid JSON: {error}") from None
    if arn is not None or target_id is not None:
        if arn is None or target_id is None:
            raise ValidationException("give --id and --arn together")
        entry: dict[str, Json] = {"Id": target_id, "Arn": arn}
        if input_text is not None:
            entry["Input"] = dumps(loads(json_text(input_text, None, "input") or "{}"))
        entries.append(entry)
    if not entries:
        raise ValidationException("give --target JSON, or --id and --arn")
    response = open_bus(database_url).put_targets(rule, entries, bus)
    if as_json:
        emit_json(response)
    failed = response["FailedEntries"]
    assert isinstance(failed, list)
    for item in failed:
        assert isinstance(item, dict)
        click.echo(
            f"error: target {item['TargetId']}: {item['ErrorCode']}: {item['ErrorMessage']}",
            err=True,
        )
    if failed:
        raise click.exceptions.Exit(1)


@targets.command("list")
@click.argument("rule")
@bus_option
@page_options
@database_option
@json_option
@api_errors
def list_targets(
    rule: str,
    bus: str | None,
    next_token: str | None,
    limit: int | None,
    database_url: str,
    as_json: bool,
) -> None:
    """List the targets of RULE."""
    response = open_bus(database_url).list_targets_by_rule(rule, bus, next_token, limit)
    show_page(response, as_json, "Targets", ("Id", "ARN"), lambda t: (str(t["Id"]), str(t["Arn"])))


@targets.command("remove")
@click.argument("rule")
@click.argument("ids", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Remove from a managed rule too.")
@bus_option
@database_option
@api_errors
def remove_targets(
    rule: str, ids: tuple[str, ...], force: bool, bus: str | None, database_url: str
) -> None:
    """RemoveTargets: remove the targets IDS from RULE."""
    open_bus(database_url).remove_targets(rule, list(ids), bus, force)
