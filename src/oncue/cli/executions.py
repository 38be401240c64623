"""Executions: ``start``, ``describe``, ``list``, ``history``, ``stop`` and ``redrive``.

The CLI applies each request in one transaction and runs no task handlers: tasks wait in the
database until a worker (``oncue worker``, or an application's own) picks them up.
"""

from __future__ import annotations

import time

import click

from oncue.cli.common import (
    api_errors,
    arn_for,
    database_option,
    json_option,
    json_text,
    moment_option,
    open_control,
)
from oncue.cli.output import (
    emit_json,
    event_summary,
    format_time,
    next_token_hint,
    show_fields,
    show_table,
)
from oncue.engine.control import STATUSES, Control
from oncue.types import Json

__all__ = ["describe", "history", "list_executions", "redrive", "start", "stop"]

#: How often ``start --wait`` looks at the execution again.
POLL_SECONDS = 0.2
_UNFINISHED = ("RUNNING", "PENDING_REDRIVE")


def show_execution(response: dict[str, Json]) -> None:
    """DescribeExecution as a key/value panel."""
    times = {"startDate", "stopDate", "redriveDate"}
    keys = (
        "executionArn",
        "name",
        "stateMachineArn",
        "stateMachineVersionArn",
        "parentExecutionArn",
        "status",
        "startDate",
        "stopDate",
        "redriveCount",
        "redriveDate",
        "input",
        "output",
        "error",
        "cause",
    )
    fields = [
        (k, format_time(response.get(k)) if k in times else str(response.get(k, ""))) for k in keys
    ]
    show_fields(str(response.get("name", "Execution")), fields)


@click.command("start")
@click.argument("state_machine")
@click.option("--input", "input_text", metavar="JSON", help="Execution input as JSON text.")
@click.option("--input-file", type=click.Path(dir_okay=False), help="Execution input file.")
@click.option("--name", default=None, help="Execution name (default: a new UUID).")
@click.option(
    "--wait", is_flag=True, help="Wait for the execution to finish; exit 1 unless it succeeded."
)
@click.option(
    "--timeout", type=click.FloatRange(min=0), default=None, help="Stop waiting after S seconds."
)
@database_option
@json_option
@api_errors
def start(
    state_machine: str,
    input_text: str | None,
    input_file: str | None,
    name: str | None,
    wait: bool,
    timeout: float | None,
    database_url: str,
    as_json: bool,
) -> None:
    """Start an execution of STATE_MACHINE (a name, NAME:VERSION or an ARN); print its ARN."""
    text = json_text(input_text, input_file, "input") or "{}"
    control = open_control(database_url)
    started = control.start_execution(arn_for(control, "stateMachine", state_machine), text, name)
    arn = started["executionArn"]
    assert isinstance(arn, str)
    if not wait:
        if as_json:
            emit_json(started)
        else:
            click.echo(arn)
        return
    if not as_json:
        click.echo(arn)
    response = _wait(control, arn, timeout)
    if as_json:
        emit_json(response)
    else:
        show_execution(response)
    if response["status"] in _UNFINISHED:
        click.echo(f"error: still {response['status']} after {timeout:g} s", err=True)
    raise click.exceptions.Exit(0 if response["status"] == "SUCCEEDED" else 1)


def _wait(control: Control, arn: str, timeout: float | None) -> dict[str, Json]:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        response = control.describe_execution(arn)
        if response["status"] not in _UNFINISHED:
            return response
        if deadline is not None and time.monotonic() >= deadline:
            return response
        time.sleep(POLL_SECONDS)


@click.command("describe")
@click.argument("execution_arn")
@database_option
@json_option
@api_errors
def describe(execution_arn: str, database_url: str, as_json: bool) -> None:
    """Show an execution: status, input, output, error."""
    response = open_control(database_url).describe_execution(execution_arn)
    if as_json:
        emit_json(response)
    else:
        show_execution(response)


@click.command("list")
@click.option(
    "--state-machine", default=None, help="Only executions of this state machine (name or ARN)."
)
@click.option("--status", type=click.Choice(STATUSES, case_sensitive=False), default=None)
@click.option(
    "--since",
    callback=moment_option,
    metavar="ISO|DURATION",
    help="Started at or after this time, or this long ago (e.g. 2h).",
)
@click.option(
    "--until", callback=moment_option, metavar="ISO|DURATION", help="Started before this time."
)
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--next-token", default=None, help="Continue a previous listing.")
@database_option
@json_option
@api_errors
def list_executions(
    state_machine: str | None,
    status: str | None,
    since: float | None,
    until: float | None,
    limit: int,
    next_token: str | None,
    database_url: str,
    as_json: bool,
) -> None:
    """List executions, newest first."""
    control = open_control(database_url)
    response = control.list_executions(
        state_machine_arn=arn_for(control, "stateMachine", state_machine)
        if state_machine
        else None,
        status_filter=status.upper() if status else None,
        max_results=limit,
        next_token=next_token,
        started_after=since,
        started_before=until,
    )
    if as_json:
        emit_json(response)
        return
    executions = response["executions"]
    assert isinstance(executions, list)
    rows = [
        [
            e["executionArn"],
            e["status"],
            format_time(e["startDate"], millis=False),
            format_time(e.get("stopDate"), millis=False),
        ]
        for e in executions
    ]
    show_table(["EXECUTION ARN", "STATUS", "STARTED", "STOPPED"], rows, fold=["EXECUTION ARN"])
    next_token_hint(response)


@click.command("history")
@click.argument("execution_arn")
@click.option("--reverse", is_flag=True, help="Newest event first.")
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=None,
    help="One page of N events (default: all).",
)
@click.option("--next-token", default=None, help="Continue a previous page.")
@click.option("--no-data", is_flag=True, help="Leave out inputs, outputs and parameters.")
@database_option
@json_option
@api_errors
def history(
    execution_arn: str,
    reverse: bool,
    limit: int | None,
    next_token: str | None,
    no_data: bool,
    database_url: str,
    as_json: bool,
) -> None:
    """Show an execution's history events (GetExecutionHistory)."""
    control = open_control(database_url)
    events: list[Json] = []
    token = next_token
    while True:
        page = control.get_execution_history(
            execution_arn,
            max_results=limit or 1000,
            next_token=token,
            reverse_order=reverse,
            include_execution_data=not no_data,
        )
        batch = page["events"]
        assert isinstance(batch, list)
        events.extend(batch)
        token = page.get("nextToken") if isinstance(page.get("nextToken"), str) else None
        if limit is not None or token is None:
            break
    response: dict[str, Json] = {"events": events}
    if token is not None:
        response["nextToken"] = token
    if as_json:
        emit_json(response)
        return
    rows = [
        [
            str(e["id"]),
            format_time(e["timestamp"]),
            e["type"],
            str(e.get("previousEventId", "")),
            event_summary(e),
        ]
        for e in events
    ]
    show_table(["ID", "TIMESTAMP", "TYPE", "PREVIOUS", "DETAILS"], rows, fold=["DETAILS"])
    next_token_hint(response)


@click.command("stop")
@click.argument("execution_arn")
@click.option("--error", default=None, help="The error code to record.")
@click.option("--cause", default=None, help="A longer explanation.")
@database_option
@json_option
@api_errors
def stop(
    execution_arn: str, error: str | None, cause: str | None, database_url: str, as_json: bool
) -> None:
    """Stop a running execution (it ends ABORTED)."""
    response = open_control(database_url).stop_execution(execution_arn, error, cause)
    if as_json:
        emit_json(response)
    else:
        click.echo(f"stopped {execution_arn} at {format_time(response['stopDate'])}")


@click.command("redrive")
@click.argument("execution_arn")
@database_option
@json_option
@api_errors
def redrive(execution_arn: str, database_url: str, as_json: bool) -> None:
    """Restart a failed, timed-out or aborted execution from where it stopped."""
    response = open_control(database_url).redrive_execution(execution_arn)
    if as_json:
        emit_json(response)
    else:
        click.echo(f"redriven {execution_arn} at {format_time(response['redriveDate'])}")
