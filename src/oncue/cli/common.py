"""What every command over the database shares: options, the API, names, times and errors.

Every :class:`~oncue.errors.OncueError` becomes one line on stderr,
``error: <AwsName>: message``, and the exit code the error carries (2 for bad input or a
resource that does not exist), never a traceback.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from oncue.asl.jsonutil import loads
from oncue.engine.control import Control
from oncue.engine.naming import arn_prefix
from oncue.errors import InvalidInput, OncueError
from oncue.store import DEFAULT_DATABASE_URL, open_store

__all__ = [
    "api_errors",
    "arn_for",
    "database_option",
    "duration_option",
    "fail",
    "json_option",
    "json_text",
    "moment_option",
    "open_control",
    "parse_duration",
    "parse_moment",
]

F = TypeVar("F", bound=Callable[..., Any])


def fail(error: OncueError) -> click.exceptions.Exit:
    """Report an error on one line (per problem) and give the exit to raise."""
    click.echo(f"error: {error.aws_name}: {error.message}", err=True)
    return click.exceptions.Exit(error.exit_code)


def api_errors(function: F) -> F:
    """Turn the OncueErrors a command raises into a message and an exit code."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except OncueError as error:
            raise fail(error) from None

    return wrapper  # type: ignore[return-value]


database_option = click.option(
    "--database-url",
    envvar="ONCUE_DATABASE_URL",
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    show_envvar=True,
    help="The database: sqlite:///PATH, or postgresql://USER@HOST/DATABASE to share it.",
)
json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the API response as JSON, as AWS returns it."
)


def open_control(database_url: str) -> Control:
    """The Step Functions API over the database; the store closes when the command ends.

    The CLI runs no handlers: tasks an operation schedules wait in the store for a worker.
    """
    store = open_store(database_url)
    click.get_current_context().call_on_close(store.close)
    return Control(store)


def arn_for(control: Control, kind: str, name_or_arn: str) -> str:
    """An ARN for a bare name (``order-flow``, or ``order-flow:3`` for a version)."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    return f"{arn_prefix(control.region, control.account)}:{kind}:{name_or_arn}"


def json_text(text: str | None, path: str | None, what: str) -> str | None:
    """JSON text from an option or a file, checked, or None when neither was given."""
    if text is not None and path is not None:
        raise click.UsageError(f"give the {what} as text or as a file, not both")
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise InvalidInput(f"{path}: cannot read the {what} file: {error.strerror}") from None
    if text is not None:
        try:
            loads(text)
        except ValueError as error:
            raise InvalidInput(f"the {what} is not valid JSON: {error}") from None
    return text


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """Seconds in ``90s``, ``90m``, ``12h``, ``30d``, ``2w`` or a sum such as ``1h30m``.

    A malformed duration is a usage error (exit 2), reported by click with the option's name.
    """
    compact = text.strip().lower()
    parts = _DURATION_PART.findall(compact)
    if not compact or _DURATION_PART.sub("", compact).strip():
        raise click.BadParameter(
            f"invalid duration {text!r}: expected a number and a unit s, m, h, d or w (e.g. 30d)"
        )
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def parse_moment(text: str, now: datetime) -> float:
    """Epoch seconds of an ISO 8601 time (UTC unless it says otherwise) or ``now - DURATION``.

    Either way it goes, a malformed value raises :class:`click.BadParameter`.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return now.timestamp() - parse_duration(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def duration_option(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """A click callback: the option's duration in seconds."""
    return None if value is None else parse_duration(value)


def moment_option(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """A click callback: the option's moment (ISO 8601 or a duration ago) in epoch seconds."""
    return None if value is None else parse_moment(value, datetime.now(UTC))
