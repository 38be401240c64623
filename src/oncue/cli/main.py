"""The ``oncue`` command: a thin shell over the library.

Exit codes (ARCHITECTURE.md §5): 0 success, 1 the execution failed or timed out (or was
aborted), 2 bad definition, input or arguments, with one clear message on stderr.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from oncue.app import load_definition_file, load_handlers
from oncue.asl.jsonutil import loads
from oncue.asl.validate import parse_definition, validate_definition
from oncue.engine.runner import execute
from oncue.errors import InvalidInput, OncueError
from oncue.types import MAX_PAYLOAD_BYTES, Json

__all__ = ["cli", "main"]


def _fail(error: OncueError | str, code: int = 2) -> NoReturn:
    message = error.message if isinstance(error, OncueError) else error
    click.echo(f"oncue: {message}", err=True)
    if isinstance(error, OncueError):
        code = error.exit_code
    raise click.exceptions.Exit(code)


def _read_input(input_text: str | None, input_file: str | None) -> Json:
    if input_text is not None and input_file is not None:
        _fail("give --input or --input-file, not both")
    source = "--input"
    if input_file is not None:
        source = input_file
        try:
            input_text = Path(input_file).read_text(encoding="utf-8")
        except OSError as exc:
            _fail(f"{input_file}: cannot read the input file: {exc.strerror}")
    if input_text is None:
        return {}
    if len(input_text.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        _fail(InvalidInput(f"{source}: the input is larger than 256 KiB"))
    try:
        return loads(input_text)
    except ValueError as exc:
        _fail(InvalidInput(f"{source}: the input is not valid JSON: {exc}"))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="oncue")
def cli() -> None:
    """oncue: Amazon States Language workflows and EventBridge-style events, anywhere."""


@cli.command("execute")
@click.argument("definition", type=click.Path(dir_okay=False))
@click.option("--input", "input_text", metavar="JSON", help="Execution input as JSON text.")
@click.option("--input-file", type=click.Path(dir_okay=False), help="Execution input file.")
@click.option(
    "--handlers",
    "handlers_spec",
    metavar="MODULE_OR_FILE",
    multiple=True,
    help="Python module or file that registers task handlers (repeatable).",
)
@click.option(
    "--time-skipping",
    is_flag=True,
    help="Wait states, retry back-offs and timeouts advance a virtual clock at once.",
)
@click.option(
    "--history",
    "with_history",
    is_flag=True,
    help="Include the execution history (GetExecutionHistory events).",
)
@click.option("--name", default=None, help="Execution name (default: a new UUID).")
def execute_command(
    definition: str,
    input_text: str | None,
    input_file: str | None,
    handlers_spec: tuple[str, ...],
    time_skipping: bool,
    with_history: bool,
    name: str | None,
) -> None:
    """Run a state machine DEFINITION (JSON or YAML) to completion and print the result."""
    import uuid

    try:
        raw = load_definition_file(definition)
        machine = parse_definition(raw, source=definition)
        payload = _read_input(input_text, input_file)
        handlers: dict[str, Any] = {}
        for spec in handlers_spec:
            handlers.update(load_handlers(spec))
        result = execute(
            machine,
            payload,
            handlers=handlers,
            time_skipping=time_skipping,
            name=name or str(uuid.uuid4()),
            state_machine_name=_machine_name(definition),
        )
    except OncueError as exc:
        _fail(exc)
    click.echo(json.dumps(result.to_json(history=with_history), ensure_ascii=False))
    raise click.exceptions.Exit(0 if result.status == "SUCCEEDED" else 1)


def _machine_name(path: str) -> str:
    stem = Path(path).stem.split(".")[0] or "StateMachine"
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in stem)[:80]


@cli.command("validate")
@click.argument("definition", type=click.Path(dir_okay=False))
def validate_command(definition: str) -> None:
    """Check a state machine DEFINITION; print every problem with its JSON pointer."""
    try:
        raw = load_definition_file(definition)
    except OncueError as exc:
        _fail(exc)
    problems = validate_definition(raw)
    if problems:
        for problem in problems:
            click.echo(f"{definition}: {problem}", err=True)
        raise click.exceptions.Exit(2)
    click.echo(f"{definition}: valid")


def _register_optional_commands() -> None:
    from oncue.cli import activities, executions, machines, prune_cmd, serve_cmd, worker_cmd
    from oncue.cli.pattern_cmd import test_event_pattern

    cli.add_command(test_event_pattern)
    cli.add_command(serve_cmd.serve)
    from oncue.cli.trace_cmd import trace

    cli.add_command(trace)
    for command in (
        machines.state_machine,
        executions.start,
        executions.describe,
        executions.list_executions,
        executions.history,
        executions.stop,
        executions.redrive,
        activities.send_task_success,
        activities.send_task_failure,
        activities.send_task_heartbeat,
        activities.activity,
        worker_cmd.worker,
        prune_cmd.prune,
    ):
        cli.add_command(command)
    cli.add_command(importlib.import_module("oncue.cli.demo_cmd").demo)
    _register_event_commands()


def _register_event_commands() -> None:
    """``oncue events ...``: one line per command group."""
    from oncue.cli import events_archives, events_cmd, events_http, events_rules

    events = events_cmd.events
    cli.add_command(events)
    events.add_command(events_cmd.put)
    events.add_command(events_cmd.buses)
    events.add_command(events_rules.rules)
    events.add_command(events_rules.targets)
    events.add_command(events_archives.archives)
    events.add_command(events_archives.archive_alias)
    events.add_command(events_archives.replay)
    events.add_command(events_archives.dlq)
    events.add_command(events_http.connections)
    events.add_command(events_http.api_destinations)


_register_optional_commands()


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="oncue", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.exit(130)
