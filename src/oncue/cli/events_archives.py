"""``oncue events archives`` (create, describe, list, update, delete, export), ``oncue events
replay`` (start, describe, list, cancel) and ``oncue events dlq`` (list, redrive).

``archives export NAME --since T --until T`` writes the archived events as JSON Lines (one
EventBridge envelope per line, oldest first) to stdout: the file a data lake or a report
loads. Times are ISO 8601 (UTC unless they say otherwise) or a duration ago (``7d``).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from oncue.asl.jsonutil import dumps
from oncue.cli.common import api_errors, database_option, json_option, json_text, moment_option
from oncue.cli.events_cmd import open_bus, page_options, show_page
from oncue.cli.output import emit_json, format_time, shorten, show_fields
from oncue.types import Json

__all__ = ["archive_alias", "archives", "dlq", "replay"]


def _archive_arn(region: str, account: str, name: str) -> str:
    return name if name.startswith("arn:") else f"arn:aws:events:{region}:{account}:archive/{name}"


@click.group("archives")
def archives() -> None:
    """Archives of a bus's events: create, describe, list, update, delete, export."""


@archives.command("create")
@click.argument("name")
@click.option("--bus", default="default", show_default=True, help="The bus to archive.")
@click.option("--pattern", "pattern_text", default=None, metavar="JSON", help="Keep only these.")
@click.option("--retention-days", type=click.IntRange(min=0), default=None, help="0: forever.")
@click.option("--description", default=None)
@database_option
@json_option
@api_errors
def create_archive(
    name: str,
    bus: str,
    pattern_text: str | None,
    retention_days: int | None,
    description: str | None,
    database_url: str,
    as_json: bool,
) -> None:
    """CreateArchive: keep the events of a bus (that match the pattern); print its ARN."""
    pattern = json_text(pattern_text, None, "event pattern")
    response = open_bus(database_url).create_archive(
        name, bus, description, pattern, retention_days
    )
    emit_json(response) if as_json else click.echo(response["ArchiveArn"])


@archives.command("describe")
@click.argument("name")
@database_option
@json_option
@api_errors
def describe_archive(name: str, database_url: str, as_json: bool) -> None:
    """Describe the archive NAME: its bus, pattern, retention, event count and size."""
    response = open_bus(database_url).describe_archive(name)
    if as_json:
        emit_json(response)
        return
    keys = (
        "ArchiveArn",
        "EventSourceArn",
        "State",
        "EventPattern",
        "RetentionDays",
        "EventCount",
        "SizeBytes",
        "Description",
    )
    fields = [(k, str(response.get(k, ""))) for k in keys]
    show_fields(name, [*fields, ("CreationTime", format_time(response["CreationTime"]))])


@archives.command("list")
@click.option("--prefix", default=None)
@click.option("--bus", default=None, help="Only the archives of this bus.")
@page_options
@database_option
@json_option
@api_errors
def list_archives(
    prefix: str | None,
    bus: str | None,
    next_token: str | None,
    limit: int | None,
    database_url: str,
    as_json: bool,
) -> None:
    """List the archives."""
    response = open_bus(database_url).list_archives(prefix, bus, None, next_token, limit)
    show_page(
        response,
        as_json,
        "Archives",
        ("Name", "State", "Events", "Bytes", "Retention days", "Source"),
        lambda a: (
            str(a["ArchiveName"]),
            str(a["State"]),
            str(a["EventCount"]),
            str(a["SizeBytes"]),
            str(a["RetentionDays"]),
            str(a["EventSourceArn"]),
        ),
        fold=("Source",),
    )


@archives.command("update")
@click.argument("name")
@click.option("--pattern", "pattern_text", default=None, metavar="JSON")
@click.option("--retention-days", type=click.IntRange(min=0), default=None)
@click.option("--description", default=None)
@database_option
@json_option
@api_errors
def update_archive(
    name: str,
    pattern_text: str | None,
    retention_days: int | None,
    description: str | None,
    database_url: str,
    as_json: bool,
) -> None:
    """UpdateArchive: change what is given, keep the rest."""
    pattern = json_text(pattern_text, None, "event pattern")
    response = open_bus(database_url).update_archive(name, description, pattern, retention_days)
    if as_json:
        emit_json(response)


@archives.command("delete")
@click.argument("name")
@database_option
@api_errors
def delete_archive(name: str, database_url: str) -> None:
    """Delete the archive NAME and the events it holds."""
    open_bus(database_url).delete_archive(name)


@archives.command("export")
@click.argument("name")
@click.option("--since", callback=moment_option, help="From this time (ISO 8601 or 7d ago).")
@click.option("--until", callback=moment_option, help="Before this time.")
@database_option
@api_errors
def export_archive(name: str, since: float | None, until: float | None, database_url: str) -> None:
    """Write the archived events as JSON Lines to stdout, oldest first."""
    found = open_bus(database_url).export_archive(
        name,
        since=None if since is None else datetime.fromtimestamp(since, UTC),
        until=None if until is None else datetime.fromtimestamp(until, UTC),
    )
    for event in found:
        sys.stdout.write(dumps(event) + "\n")


@click.group("replay")
def replay() -> None:
    """Replays of archived events: start, describe, list, cancel."""


@replay.command("start")
@click.argument("name")
@click.option("--archive", required=True, help="The archive (name or ARN).")
@click.option("--start", "start", required=True, callback=moment_option, help="Window start.")
@click.option("--end", "end", required=True, callback=moment_option, help="Window end.")
@click.option("--rule", "rules", multiple=True, help="Only to this rule (name or ARN; repeat).")
@click.option("--description", default=None)
@database_option
@json_option
@api_errors
def start_replay(
    name: str,
    archive: str,
    start: float,
    end: float,
    rules: tuple[str, ...],
    description: str | None,
    database_url: str,
    as_json: bool,
) -> None:
    """StartReplay: send the archive's events of [START, END) back to its bus; a running
    worker replays them. Prints the replay's ARN."""
    bus = open_bus(database_url)
    # The replay goes back to the archive's own bus: read it from the archive.
    source = bus.describe_archive(archive.rsplit("/", 1)[-1])["EventSourceArn"]
    assert isinstance(source, str)
    bus_name = source.split(":event-bus/", 1)[1]
    destination: dict[str, Json] = {"Arn": source}
    if rules:
        destination["FilterArns"] = [
            r if r.startswith("arn:") else bus.router.rule_arn(bus_name, r) for r in rules
        ]
    response = bus.start_replay(
        name,
        _archive_arn(bus.region, bus.account, archive),
        start,
        end,
        destination,
        description,
    )
    emit_json(response) if as_json else click.echo(response["ReplayArn"])


@replay.command("describe")
@click.argument("name")
@database_option
@json_option
@api_errors
def describe_replay(name: str, database_url: str, as_json: bool) -> None:
    """Describe the replay NAME: its state and progress."""
    response = open_bus(database_url).describe_replay(name)
    if as_json:
        emit_json(response)
        return
    times = (
        "EventStartTime",
        "EventEndTime",
        "EventLastReplayedTime",
        "ReplayStartTime",
        "ReplayEndTime",
    )
    fields = [(k, str(response.get(k, ""))) for k in ("State", "StateReason", "EventSourceArn")]
    fields += [(k, format_time(response.get(k))) for k in times]
    show_fields(name, fields)


@replay.command("list")
@click.option("--prefix", default=None)
@click.option("--state", default=None, help="Only replays in this state.")
@page_options
@database_option
@json_option
@api_errors
def list_replays(
    prefix: str | None,
    state: str | None,
    next_token: str | None,
    limit: int | None,
    database_url: str,
    as_json: bool,
) -> None:
    """List the replays."""
    response = open_bus(database_url).list_replays(prefix, state, None, next_token, limit)
    show_page(
        response,
        as_json,
        "Replays",
        ("Name", "State", "Last replayed", "Started", "Ended"),
        lambda r: (
            str(r["ReplayName"]),
            str(r["State"]),
            format_time(r.get("EventLastReplayedTime")),
            format_time(r.get("ReplayStartTime")),
            format_time(r.get("ReplayEndTime")),
        ),
    )


@replay.command("cancel")
@click.argument("name")
@database_option
@json_option
@api_errors
def cancel_replay(name: str, database_url: str, as_json: bool) -> None:
    """CancelReplay: stop the replay NAME after its current batch."""
    response = open_bus(database_url).cancel_replay(name)
    emit_json(response) if as_json else click.echo(response["State"])


@click.group("dlq")
def dlq() -> None:
    """Dead letters: list, redrive."""


@dlq.command("list")
@click.option("--bus", default=None, help="Only the dead letters of this bus.")
@page_options
@database_option
@json_option
@api_errors
def list_dead_letters(
    bus: str | None, next_token: str | None, limit: int | None, database_url: str, as_json: bool
) -> None:
    """List the events whose delivery to a target was given up, with the last error."""
    response = open_bus(database_url).list_dead_letters(bus, next_token, limit)
    show_page(
        response,
        as_json,
        "DeadLetters",
        ("Id", "Rule", "Target", "Retries", "Error"),
        lambda d: (
            str(d["Id"]),
            str(d["RuleName"]),
            str(d["TargetId"]),
            str(d["RetryAttempts"]),
            shorten(f"{d['ErrorCode']}: {d['ErrorMessage']}", 70),
        ),
        fold=("Error",),
    )


@dlq.command("redrive")
@click.argument("ids", nargs=-1, required=True, type=int)
@database_option
@json_option
@api_errors
def redrive(ids: tuple[int, ...], database_url: str, as_json: bool) -> None:
    """Deliver the dead letters IDS again (a running worker delivers them)."""
    response = open_bus(database_url).redrive_dead_letters(list(ids))
    if as_json:
        emit_json(response)
    failed = response["FailedEntries"]
    assert isinstance(failed, list)
    for item in failed:
        assert isinstance(item, dict)
        click.echo(f"error: {item['Id']}: {item['ErrorCode']}: {item['ErrorMessage']}", err=True)
    if not as_json:
        click.echo(f"redriven: {response['RedrivenCount']}")
    if failed:
        raise click.exceptions.Exit(2 if not response["RedrivenCount"] else 1)


#: ``oncue events archive ...`` works too: the same commands, hidden from the help.
archive_alias = click.Group("archive", commands=archives.commands, hidden=True, help=archives.help)
