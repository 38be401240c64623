"""``oncue events``: the event bus from the command line — ``put`` and ``buses`` here; rules,
targets, archives, replays, dead letters, connections and API destinations in the other
``events_*`` modules.

Each command is one EventBridge action in one transaction over the database; the CLI delivers
nothing itself: a running worker (``oncue worker``, or an application) delivers what the
events match. Output is a table, or the raw EventBridge response with ``--json``; errors are
one line ``error: <AwsName>: message`` with exit code 2 (bad input, unknown resource).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import click

from oncue.bus.service import EventBus
from oncue.cli.common import api_errors, database_option, json_option, json_text
from oncue.cli.output import emit_json, format_time, show_fields, show_table
from oncue.errors import ValidationException
from oncue.store import open_store
from oncue.types import Json

__all__ = ["buses", "events", "open_bus", "page_options", "print_next", "put", "show_page"]


def open_bus(database_url: str) -> EventBus:
    """The EventBridge API over the database; the store closes when the command ends."""
    store = open_store(database_url)
    click.get_current_context().call_on_close(store.close)
    return EventBus(store)


def page_options(function: click.decorators.FC) -> click.decorators.FC:
    function = click.option("--next-token", default=None, help="Continue a listing.")(function)
    return click.option(
        "--limit", type=click.IntRange(1, 100), default=None, help="At most N results."
    )(function)


def print_next(response: dict[str, Json]) -> None:
    token = response.get("NextToken")
    if isinstance(token, str):
        click.echo(f"more results: --next-token {token}")


def show_page(
    response: dict[str, Json],
    as_json: bool,
    key: str,
    columns: Sequence[str],
    row: Callable[[dict[str, Json]], Sequence[str]],
    fold: Sequence[str] = ("ARN",),
) -> None:
    """A List* response: raw with ``--json``, else its ``key`` items as a table and the token."""
    if as_json:
        emit_json(response)
        return
    found = response[key]
    assert isinstance(found, list)
    show_table(columns, [row(item) for item in found if isinstance(item, dict)], fold)
    print_next(response)


@click.group("events")
def events() -> None:
    """The event bus: publish events; manage buses, rules, targets, archives, replays, dead
    letters, connections and API destinations."""


@click.command("put")
@click.option("--source", default=None, help="The event's source.")
@click.option("--detail-type", default=None, help="The event's detail-type.")
@click.option("--detail", default=None, metavar="JSON", help="The event's detail (an object).")
@click.option("--resource", "resources", multiple=True, help="A resource ARN (repeatable).")
@click.option("--bus", default=None, help="The event bus (default: default).")
@click.option(
    "--entries",
    "entries_text",
    default=None,
    metavar="JSON",
    help="Instead of the options: the PutEvents Entries array as JSON text.",
)
@click.option("--entries-file", type=click.Path(dir_okay=False), help="The Entries, from a file.")
@database_option
@json_option
@api_errors
def put(
    source: str | None,
    detail_type: str | None,
    detail: str | None,
    resources: tuple[str, ...],
    bus: str | None,
    entries_text: str | None,
    entries_file: str | None,
    database_url: str,
    as_json: bool,
) -> None:
    """PutEvents: publish one event (from the options) or many (--entries); print each event
    id. Exits 1 when some entries failed, each reported on stderr."""
    from oncue.asl.jsonutil import loads

    text = json_text(entries_text, entries_file, "entries")
    entries: Json
    if text is not None:
        entries = loads(text)
    else:
        if source is None or detail_type is None:
            raise ValidationException("give --source and --detail-type (or --entries)")
        entry: dict[str, Json] = {
            "Source": source,
            "DetailType": detail_type,
            "Detail": detail if detail is not None else "{}",
        }
        if resources:
            entry["Resources"] = list(resources)
        if bus is not None:
            entry["EventBusName"] = bus
        entries = [entry]
    response = open_bus(database_url).put_events(entries)
    if as_json:
        emit_json(response)
    results = response["Entries"]
    assert isinstance(results, list)
    for number, result in enumerate(results):
        assert isinstance(result, dict)
        if "EventId" in result:
            if not as_json:
                click.echo(result["EventId"])
        else:
            click.echo(
                f"error: entry {number}: {result['ErrorCode']}: {result['ErrorMessage']}",
                err=True,
            )
    if response["FailedEntryCount"]:
        raise click.exceptions.Exit(1)


@click.group("buses")
def buses() -> None:
    """Event buses: create, describe, list, delete."""


@buses.command("create")
@click.argument("name")
@click.option("--description", default=None)
@database_option
@json_option
@api_errors
def create_bus(name: str, description: str | None, database_url: str, as_json: bool) -> None:
    """Create the event bus NAME; print its ARN."""
    response = open_bus(database_url).create_event_bus(name, description)
    emit_json(response) if as_json else click.echo(response["EventBusArn"])


@buses.command("describe")
@click.argument("name", default="default")
@database_option
@json_option
@api_errors
def describe_bus(name: str, database_url: str, as_json: bool) -> None:
    """Describe the event bus NAME (default: default)."""
    response = open_bus(database_url).describe_event_bus(name)
    if as_json:
        emit_json(response)
        return
    show_fields(
        name,
        [
            ("Arn", str(response["Arn"])),
            ("Description", str(response.get("Description", ""))),
            ("Created", format_time(response["CreationTime"])),
            ("Modified", format_time(response["LastModifiedTime"])),
        ],
    )


@buses.command("list")
@click.option("--prefix", default=None, help="Only the buses whose name starts so.")
@page_options
@database_option
@json_option
@api_errors
def list_buses(
    prefix: str | None, next_token: str | None, limit: int | None, database_url: str, as_json: bool
) -> None:
    """List the event buses."""
    response = open_bus(database_url).list_event_buses(prefix, next_token, limit)
    show_page(
        response,
        as_json,
        "EventBuses",
        ("Name", "Created", "Description"),
        lambda b: (str(b["Name"]), format_time(b["CreationTime"]), str(b.get("Description", ""))),
    )


@buses.command("delete")
@click.argument("name")
@database_option
@api_errors
def delete_bus(name: str, database_url: str) -> None:
    """Delete the event bus NAME with its rules."""
    open_bus(database_url).delete_event_bus(name)
