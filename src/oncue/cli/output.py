"""Printing API responses: raw JSON with ``--json``, otherwise tables and key/value panels.

On a terminal the tables and panels are drawn with rich; when stdout is a pipe or a file they
are plain aligned text with nothing cut short, so ``grep`` and ``awk`` see whole ARNs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import click
from rich import box
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from oncue.types import Json

__all__ = [
    "emit_json",
    "event_summary",
    "format_time",
    "next_token_hint",
    "shorten",
    "show_fields",
    "show_table",
]

#: Colours for execution statuses on a terminal.
_STATUS_STYLES = {
    "RUNNING": "cyan",
    "SUCCEEDED": "green",
    "FAILED": "red",
    "TIMED_OUT": "red",
    "ABORTED": "yellow",
    "PENDING_REDRIVE": "magenta",
}


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def emit_json(data: Json) -> None:
    """The API response as it is, indented."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def format_time(value: Json, *, millis: bool = True) -> str:
    """Epoch seconds (the API's timestamps) or ISO text as ``YYYY-MM-DD HH:MM:SS.mmmZ``."""
    if value is None or value == "":
        return ""
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, UTC)
    else:
        try:
            moment = datetime.fromisoformat(str(value)).astimezone(UTC)
        except ValueError:
            return str(value)
    if not millis:
        return moment.strftime("%Y-%m-%d %H:%M:%SZ")
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def shorten(text: str, limit: int = 60) -> str:
    """One line of at most ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _cell(value: str, column: str, styled: bool) -> Text | str:
    if styled and column.lower() == "status" and value in _STATUS_STYLES:
        return Text(value, style=_STATUS_STYLES[value])
    return value


def show_table(
    columns: Sequence[str], rows: Sequence[Sequence[str]], fold: Sequence[str] = ("ARN",)
) -> None:
    """A table; on a narrow terminal only the ``fold`` columns wrap, the rest stay whole."""
    console = _console()
    if console.is_terminal:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for column in columns:
            if column in fold:
                table.add_column(column, overflow="fold", min_width=min(20, len(column) + 8))
            else:
                table.add_column(column, no_wrap=True)
        for row in rows:
            table.add_row(*(_cell(v, c, True) for v, c in zip(row, columns, strict=True)))
        console.print(table)
        return
    widths = [len(c) for c in columns]
    for row in rows:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    for line in [list(columns), *[list(r) for r in rows]]:
        click.echo("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def show_fields(title: str, fields: Sequence[tuple[str, str]]) -> None:
    """A key/value panel; empty values are left out."""
    present = [(k, v) for k, v in fields if v != ""]
    console = _console()
    if console.is_terminal:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column(overflow="fold")
        for key, value in present:
            grid.add_row(key, _cell(value, key, True))
        console.print(Panel(grid, title=title, title_align="left", expand=False))
        return
    width = max((len(k) for k, _ in present), default=0)
    for key, value in present:
        click.echo(f"{(key + ':').ljust(width + 1)} {value}")


def next_token_hint(response: dict[str, Json]) -> None:
    token = response.get("nextToken")
    if isinstance(token, str):
        click.echo(f"more results: --next-token {token}")


def event_summary(event: dict[str, Json]) -> str:
    """A short description of a history event: what it is about, then its error or payload."""
    details = next(
        (v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {}
    )
    parts: list[str] = []
    if isinstance(details.get("name"), str):
        parts.append(details["name"])
    if isinstance(details.get("resource"), str):
        kind = details.get("resourceType")
        resource = details["resource"]
        parts.append(f"{kind}:{resource}" if isinstance(kind, str) else resource)
    failure = [details[k] for k in ("error", "cause") if isinstance(details.get(k), str)]
    if failure:
        parts.extend(failure)
    else:
        keys = ("output", "input", "parameters")
        payload = next((details[k] for k in keys if isinstance(details.get(k), str)), None)
        if payload is not None:
            parts.append(payload)
    return shorten(" ".join(parts), 100)
