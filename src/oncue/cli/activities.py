"""Callbacks and activities: ``send-task-*`` and ``oncue activity``.

``send-task-success`` and friends complete a task by its token, whether the token came from a
``.waitForTaskToken`` task or from ``activity get-task``.
"""

from __future__ import annotations

import click

from oncue.cli.common import (
    api_errors,
    arn_for,
    database_option,
    json_option,
    json_text,
    open_control,
)
from oncue.cli.output import emit_json, format_time, next_token_hint, show_fields, show_table

__all__ = ["activity", "send_task_failure", "send_task_heartbeat", "send_task_success"]

#: GetActivityTask holds a poll open for up to 60 seconds (AWS API reference).
LONG_POLL_SECONDS = 60.0
#: How often a long poll asks the database again (on PostgreSQL a new task also wakes it).
POLL_SECONDS = 0.25


@click.command("send-task-success")
@click.argument("token")
@click.option("--output", "output_text", metavar="JSON", help="The task's result as JSON text.")
@click.option(
    "--output-file", type=click.Path(dir_okay=False), help="The task's result, from a file."
)
@database_option
@json_option
@api_errors
def send_task_success(
    token: str, output_text: str | None, output_file: str | None, database_url: str, as_json: bool
) -> None:
    """Complete the task that TOKEN belongs to with a result."""
    text = json_text(output_text, output_file, "output")
    if text is None:
        raise click.UsageError("give the task's result with --output or --output-file")
    response = open_control(database_url).send_task_success(token, text)
    if as_json:
        emit_json(response)


@click.command("send-task-failure")
@click.argument("token")
@click.option("--error", default=None, help="The error code.")
@click.option("--cause", default=None, help="A longer explanation.")
@database_option
@json_option
@api_errors
def send_task_failure(
    token: str, error: str | None, cause: str | None, database_url: str, as_json: bool
) -> None:
    """Fail the task that TOKEN belongs to."""
    response = open_control(database_url).send_task_failure(token, error, cause)
    if as_json:
        emit_json(response)


@click.command("send-task-heartbeat")
@click.argument("token")
@database_option
@json_option
@api_errors
def send_task_heartbeat(token: str, database_url: str, as_json: bool) -> None:
    """Report that the task TOKEN belongs to is still being worked on."""
    response = open_control(database_url).send_task_heartbeat(token)
    if as_json:
        emit_json(response)


@click.group("activity")
def activity() -> None:
    """Activities: tasks that workers outside oncue poll for."""


@activity.command("create")
@click.argument("name")
@database_option
@json_option
@api_errors
def create(name: str, database_url: str, as_json: bool) -> None:
    """Create the activity NAME (again with the same name: the same activity)."""
    response = open_control(database_url).create_activity(name)
    if as_json:
        emit_json(response)
    else:
        click.echo(str(response["activityArn"]))


@activity.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--next-token", default=None, help="Continue a previous listing.")
@database_option
@json_option
@api_errors
def list_activities(limit: int, next_token: str | None, database_url: str, as_json: bool) -> None:
    """List activities by name."""
    response = open_control(database_url).list_activities(max_results=limit, next_token=next_token)
    if as_json:
        emit_json(response)
        return
    items = response["activities"]
    assert isinstance(items, list)
    rows = [
        [a["name"], format_time(a["creationDate"], millis=False), a["activityArn"]] for a in items
    ]
    show_table(["NAME", "CREATED", "ARN"], rows)
    next_token_hint(response)


@activity.command("describe")
@click.argument("activity")
@database_option
@json_option
@api_errors
def describe(activity: str, database_url: str, as_json: bool) -> None:
    """Show an activity (by ARN or name)."""
    control = open_control(database_url)
    response = control.describe_activity(arn_for(control, "activity", activity))
    if as_json:
        emit_json(response)
        return
    fields = [
        ("activityArn", str(response["activityArn"])),
        ("name", str(response["name"])),
        ("creationDate", format_time(response["creationDate"])),
    ]
    show_fields(str(response["name"]), fields)


@activity.command("delete")
@click.argument("activity")
@database_option
@json_option
@api_errors
def delete(activity: str, database_url: str, as_json: bool) -> None:
    """Delete an activity (by ARN or name)."""
    control = open_control(database_url)
    arn = arn_for(control, "activity", activity)
    response = control.delete_activity(arn)
    if as_json:
        emit_json(response)
    else:
        click.echo(f"deleted {arn}")


@activity.command("get-task")
@click.argument("activity")
@click.option("--worker-name", default=None, help="Recorded in the ActivityStarted event.")
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(0, LONG_POLL_SECONDS),
    default=LONG_POLL_SECONDS,
    show_default=True,
    help="Seconds to wait for a task (0: ask once).",
)
@database_option
@json_option
@api_errors
def get_task(
    activity: str, worker_name: str | None, wait_seconds: float, database_url: str, as_json: bool
) -> None:
    """Take the next task of an activity: print its token and input.

    With no task within the wait, prints nothing (``{}`` with --json), as GetActivityTask
    answers an empty poll.
    """
    control = open_control(database_url)
    arn = arn_for(control, "activity", activity)
    response = control.wait_activity_task(
        arn, worker_name, wait_seconds=wait_seconds, poll_seconds=POLL_SECONDS
    )
    if as_json:
        emit_json(response)
    elif response:
        show_fields("Activity task", [(k, str(v)) for k, v in response.items()])
    else:
        click.echo(f"no task for {arn} within {wait_seconds:g} s", err=True)
