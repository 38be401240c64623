"""``oncue test-event-pattern``: EventBridge's TestEventPattern on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import click

from oncue.errors import PatternError
from oncue.patterns import compile_pattern, matches, parse_test_event

__all__ = ["test_event_pattern"]


def _read(value: str, option: str) -> str:
    """The option's JSON text: the value itself, or the content of the file after ``@``."""
    if not value.startswith("@"):
        return value
    try:
        return Path(value[1:]).read_text(encoding="utf-8")
    except OSError as error:
        click.echo(f"{option}: cannot read {value[1:]}: {error.strerror}", err=True)
        raise click.exceptions.Exit(2) from None


@click.command("test-event-pattern")
@click.option(
    "--pattern",
    "pattern_arg",
    required=True,
    metavar="JSON|@FILE",
    help="The event pattern, as JSON or @file.",
)
@click.option(
    "--event",
    "event_arg",
    required=True,
    metavar="JSON|@FILE",
    help="The event (a full EventBridge envelope), as JSON or @file.",
)
def test_event_pattern(pattern_arg: str, event_arg: str) -> None:
    """Print true if the event matches the pattern, false if not."""
    pattern_text = _read(pattern_arg, "--pattern")
    event_text = _read(event_arg, "--event")
    try:
        compiled = compile_pattern(pattern_text)
        event = parse_test_event(event_text)
    except PatternError as error:
        click.echo(str(error), err=True)
        raise click.exceptions.Exit(error.exit_code) from None
    click.echo(json.dumps(matches(compiled, event)))
