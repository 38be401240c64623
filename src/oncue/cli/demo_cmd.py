"""``oncue demo``: the article's food-ordering system, live in the browser or measured.

The reference application lives in the ``food_delivery`` package (``examples/food_delivery``
in the repository, installed with oncue). It is imported when the command runs, not when the
CLI starts, so the other commands do not pay for its web stack.

- ``oncue demo`` starts the live demo: pages, mail sink, workers and simulator, until Ctrl-C.
- ``oncue demo --exit`` runs the orders headlessly and prints the report of one style;
  ``--compare`` runs all three styles on the same traffic (the same seed) side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
from pathlib import Path
from typing import Any

import click

__all__ = ["demo"]

_STYLES = ("choreography", "orchestration", "hybrid")


def _progress_printer(enabled: bool) -> Any:
    """A function that rewrites one status line on a terminal (and prints nothing elsewhere)."""
    width = [0]

    def show(line: str) -> None:
        if not enabled:
            return
        padded = line.ljust(width[0])
        width[0] = len(line)
        sys.stderr.write("\r" + padded)
        sys.stderr.flush()

    return show


def _positive(name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        click.echo(f"oncue demo: {name} must be positive, got {value:g}", err=True)
        raise click.exceptions.Exit(2)


@click.command("demo")
@click.option(
    "--style",
    type=click.Choice(_STYLES),
    default="hybrid",
    show_default=True,
    help="Which implementation of the order flow to run.",
)
@click.option(
    "--orders",
    "orders",
    type=click.IntRange(min=1),
    default=None,
    help="Orders to simulate [default: 30 with --exit, 1000 live].",
)
@click.option(
    "--exit",
    "headless",
    is_flag=True,
    help="Run headlessly: simulate the orders, print the report, exit.",
)
@click.option(
    "--compare",
    is_flag=True,
    help="Run all three styles on the same traffic and print them side by side.",
)
@click.option(
    "--speed",
    type=float,
    default=None,
    help="Time compression: simulated seconds per real second "
    "[default: 1000 with --exit, 60 live].",
)
@click.option(
    "--pace",
    type=float,
    default=60.0,
    show_default=True,
    help="Mean simulated seconds between two orders.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="The traffic's seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Live: the web address.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8000,
    show_default=True,
    help="Live: the web port.",
)
@click.option(
    "--smtp",
    "smtp_url",
    default=None,
    metavar="smtp://HOST:PORT",
    help="Live: send mail to this server instead of the built-in sink.",
)
@click.option(
    "--duration", type=float, default=None, help="Live: stop after this many real seconds."
)
@click.option(
    "--dir",
    "directory",
    default=None,
    type=click.Path(file_okay=False),
    help="Keep the databases and the archive here (default: a temporary folder).",
)
def demo(
    style: str, orders: int | None, headless: bool, compare: bool, speed: float | None,
    pace: float, seed: int, as_json: bool, host: str, port: int, smtp_url: str | None,
    duration: float | None, directory: str | None,
) -> None:  # fmt: skip
    """The article's food-ordering system: live in the browser, or measured with --exit."""
    for name, value in (("--speed", speed), ("--pace", pace), ("--duration", duration)):
        _positive(name, value)
    try:
        from food_delivery import render
        from food_delivery.run import run_style
        from food_delivery.traffic import generate
    except ImportError as error:  # the web stack is the 'demo' extra
        click.echo(
            f"oncue demo: {error}; install the demo's dependencies: pip install 'oncue[demo]'",
            err=True,
        )
        raise click.exceptions.Exit(2) from None
    progress = _progress_printer(sys.stderr.isatty() and not as_json)
    if headless or compare:
        if directory is not None and Path(directory).exists() and any(Path(directory).iterdir()):
            click.echo(
                f"oncue demo: --dir {directory} is not empty; a measured run needs a fresh folder",
                err=True,
            )
            raise click.exceptions.Exit(2)
        plan = generate(orders or 30, seed=seed, pace=pace)
        styles = _STYLES if compare else (style,)

        async def measure() -> list[Any]:
            return [
                await run_style(
                    s, plan, speed=speed or 1000.0,
                    directory=None if directory is None else Path(directory) / s,
                    progress=lambda st, info: progress(render.progress_line(st, info)),
                )
                for s in styles
            ]  # fmt: skip

        reports = asyncio.run(measure())
        progress("")
        if as_json:
            click.echo(json.dumps([r.json() for r in reports] if compare else reports[0].json(),
                                  indent=2))  # fmt: skip
        elif compare:
            click.echo(render.compare_table(reports))
        else:
            click.echo(render.single_report(reports[0]))
        return
    _live(style, orders or 1000, speed or 60.0, pace, seed, host, port, smtp_url, duration,
          directory, progress)  # fmt: skip


def _live(
    style: str, orders: int, speed: float, pace: float, seed: int, host: str, port: int,
    smtp_url: str | None, duration: float | None, directory: str | None, progress: Any,
) -> None:  # fmt: skip
    from food_delivery.live import live_demo

    if smtp_url is not None and not smtp_url.startswith("smtp://"):
        click.echo(f"oncue demo: --smtp must look like smtp://host:port, got {smtp_url}", err=True)
        raise click.exceptions.Exit(2)
    with socket.socket() as probe:  # say so plainly rather than through the server's log
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind((host, port))
        except OSError as error:
            click.echo(
                f"oncue demo: cannot serve on {host}:{port}: {error.strerror}; "
                "choose another with --port",
                err=True,
            )
            raise click.exceptions.Exit(2) from None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            live_demo(
                style=style, orders=orders, speed=speed, pace=pace, seed=seed, host=host,
                port=port, smtp_url=smtp_url, duration=duration, directory=directory,
                say=click.echo, progress=progress,
            )
        )  # fmt: skip
    progress("")
    click.echo("\noncue demo: stopped.")
