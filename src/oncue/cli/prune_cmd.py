"""``oncue prune``: retention for finished executions.

With ``--archive FILE.jsonl`` each execution is first appended to the file as one JSON line,
``{"execution": <DescribeExecution>, "history": [<every event>]}``, and the file is synced to
disk before the execution is deleted, so a crash never loses an execution that is not in the
archive. Running executions are never deleted. Trace records (events and delivery attempts,
:mod:`oncue.tracing`) older than the same cut-off are forgotten too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO

import click

from oncue.cli.common import api_errors, database_option, duration_option, json_option, open_control
from oncue.cli.output import emit_json
from oncue.engine.control import Control
from oncue.errors import ExecutionNotFound
from oncue.store.trace_sql import TraceTx
from oncue.types import Json

__all__ = ["full_history", "prune"]

#: Executions archived and deleted per transaction.
BATCH = 200


def full_history(control: Control, arn: str) -> list[Json]:
    """Every history event of an execution, oldest first."""
    events: list[Json] = []
    token: str | None = None
    while True:
        page = control.get_execution_history(arn, max_results=1000, next_token=token)
        batch = page["events"]
        assert isinstance(batch, list)
        events.extend(batch)
        next_token = page.get("nextToken")
        if not isinstance(next_token, str):
            return events
        token = next_token


def _archive(control: Control, arns: list[str], out: IO[str]) -> list[str]:
    """Append each execution to the archive; the ARNs archived (gone ones are skipped)."""
    archived: list[str] = []
    for arn in arns:
        try:
            record = {
                "execution": control.describe_execution(arn),
                "history": full_history(control, arn),
            }
        except ExecutionNotFound:
            continue  # deleted meanwhile by another prune
        out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        archived.append(arn)
    out.flush()
    os.fsync(out.fileno())
    return archived


@click.command("prune")
@click.option(
    "--older-than",
    "seconds",
    required=True,
    callback=duration_option,
    metavar="DURATION",
    help="Delete executions that finished longer ago than this (e.g. 30d, 12h, 90m).",
)
@click.option(
    "--archive",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Append each execution with its history to this JSON Lines file first.",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@database_option
@json_option
@api_errors
def prune(
    seconds: float, archive: str | None, dry_run: bool, database_url: str, as_json: bool
) -> None:
    """Delete finished executions (and their history) older than a duration."""
    control = open_control(database_url)
    if dry_run:
        count = len(control.finished_before(seconds, limit=2**31))
        if as_json:
            emit_json({"wouldDelete": count})
        else:
            click.echo(f"would delete {count} execution(s) finished more than {seconds:g} s ago")
        return
    if archive is None:
        archived, deleted = _prune(control, seconds, None)
    else:
        try:
            out = Path(archive).open("a", encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as error:
            raise click.FileError(archive, error.strerror) from None
        with out:
            archived, deleted = _prune(control, seconds, out)
    with control.store.transaction() as tx:
        traced = TraceTx(tx).prune(control.clock.now().timestamp() - seconds)
    if as_json:
        summary: dict[str, Json] = {"deleted": deleted, "traceRecordsDeleted": traced}
        if archive:
            summary["archived"] = archived
        emit_json(summary)
        return
    forgot = f"; forgot {traced} trace record(s)" if traced else ""
    if archive:
        click.echo(f"archived {archived} execution(s) to {archive}; deleted {deleted}{forgot}")
    else:
        click.echo(f"deleted {deleted} execution(s){forgot}")


def _prune(control: Control, seconds: float, out: IO[str] | None) -> tuple[int, int]:
    """(archived, deleted), in batches of one transaction each."""
    archived = deleted = 0
    while True:
        found = control.finished_before(seconds, BATCH)
        arns = found if out is None else _archive(control, found, out)
        archived += len(arns) if out is not None else 0
        removed = control.delete_executions(arns)
        deleted += removed
        if len(found) < BATCH or removed == 0:
            return archived, deleted
