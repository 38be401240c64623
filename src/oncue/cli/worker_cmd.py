"""``oncue worker``: run task handlers, advance executions and deliver the bus's events until
told to stop (the app's engine worker and bus dispatcher, :meth:`oncue.App.run`).

The worker serves an :class:`oncue.App` named ``module:attribute`` or
``path/to/file.py:attribute``, or one built from ``--handlers`` and ``--state-machine``
(both may also add to a named app). ``--state-machine`` makes a task queue: the worker
serves only the state machines it names (``NAME=FILE`` also creates or updates one), and
refuses to start (exit 2) when one of them does not exist. SIGINT or SIGTERM shuts down
gracefully: the worker takes no new work, lets running handlers finish within
``--grace-seconds`` (recording each result and running the transitions it leads to as it
comes), hands the tasks and deliveries still running back to the database (another worker
takes them at once) and exits 0. A second signal exits at once, leaving what is held to its
leases.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import re
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click

from oncue.app import App, load_handlers
from oncue.cli.common import api_errors, database_option
from oncue.engine.naming import arn_prefix
from oncue.errors import HandlerError
from oncue.shutdown import exit_at_once, exit_if_threads_busy

__all__ = ["load_app", "worker"]


def load_app(spec: str) -> App:
    """The :class:`App` that ``module:attribute`` or ``path/file.py:attribute`` names."""
    target, sep, attribute = spec.rpartition(":")
    if not sep or not target or not attribute:
        raise HandlerError(f"{spec}: expected MODULE:ATTRIBUTE or path/to/file.py:ATTRIBUTE")
    try:
        if target.endswith(".py") or Path(target).is_file():
            path = Path(target)
            if not path.is_file():
                raise HandlerError(f"{target}: no such file")
            name = f"oncue_app_{abs(hash(str(path.resolve())))}"
            module_spec = importlib.util.spec_from_file_location(name, path)
            if module_spec is None or module_spec.loader is None:
                raise HandlerError(f"{target}: cannot be imported as Python")
            module: Any = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except HandlerError:
        raise
    except Exception as error:  # user code failing at import is reported, not raised
        raise HandlerError(
            f"{target}: the module failed to import: {type(error).__name__}: {error}"
        ) from error
    app = getattr(module, attribute, None)
    if not isinstance(app, App):
        raise HandlerError(f"{spec}: {attribute!r} is not an oncue.App")
    return app


def _machine(value: str) -> tuple[str, str | None]:
    """``NAME``, ``ARN`` or ``NAME=FILE``: the state machine and the file to deploy, if any."""
    if value.startswith("arn:"):
        return value, None
    name, sep, path = value.partition("=")
    if not name or (sep and not path):
        raise click.BadParameter(
            f"{value!r}: expected NAME, ARN or NAME=FILE", param_hint="--state-machine"
        )
    return name, path or None


@click.command("worker")
@click.argument("app_spec", metavar="[APP]", required=False)
@click.option(
    "--handlers",
    "handlers_specs",
    metavar="MODULE_OR_FILE",
    multiple=True,
    help="Python module or file that provides task handlers (repeatable).",
)
@click.option(
    "--state-machine",
    "machines",
    metavar="NAME|ARN|NAME=FILE",
    multiple=True,
    help="Serve only this state machine's executions and tasks (repeatable; it must exist). "
    "NAME=FILE also creates or updates it from FILE at start.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Handlers running at once (default: the APP's, else 100).",
)
@click.option(
    "--lease-seconds", type=click.FloatRange(min=1), default=None, help="Task lease (default 30)."
)
@click.option(
    "--poll-seconds",
    type=click.FloatRange(min=0.01),
    default=None,
    help="How often to look for work other processes created (default 1).",
)
@click.option(
    "--grace-seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="On SIGTERM/SIGINT, how long running handlers may finish before their tasks are "
    "handed back (default: the app's, 5).",
)
@click.option(
    "--strict/--no-strict",
    default=True,
    show_default=True,
    help="Without APP: fail a task no handler here serves (--no-strict: leave it for others).",
)
@database_option
@api_errors
def worker(
    app_spec: str | None,
    handlers_specs: tuple[str, ...],
    machines: tuple[str, ...],
    concurrency: int | None,
    lease_seconds: float | None,
    poll_seconds: float | None,
    grace_seconds: float | None,
    strict: bool,
    database_url: str,
) -> None:
    """Run a worker until SIGINT or SIGTERM.

    APP is MODULE:ATTRIBUTE or path/to/file.py:ATTRIBUTE naming an oncue.App; without it the
    worker serves the handlers of --handlers. With --state-machine it serves only the
    executions (and tasks) of those state machines; without, every state machine's.
    """
    ctx = click.get_current_context()
    explicit_url = (
        ctx.get_parameter_source("database_url") is click.core.ParameterSource.COMMANDLINE
    )
    if app_spec is not None:
        app = load_app(app_spec)
        if explicit_url:
            app.database_url = database_url
        # An operator's settings win over the ones the APP was built with.
        tuning = {
            "concurrency": concurrency,
            "lease_seconds": lease_seconds,
            "poll_seconds": poll_seconds,
        }
        app.configure(**{key: value for key, value in tuning.items() if value is not None})
    else:
        if not handlers_specs and not machines:
            raise click.UsageError("give an APP, or --handlers and/or --state-machine")
        app = App(
            database_url,
            concurrency=concurrency or 100,
            lease_seconds=lease_seconds or 30.0,
            poll_seconds=poll_seconds or 1.0,
            strict=strict,
        )
    if grace_seconds is not None:
        app.configure(grace_seconds=grace_seconds)  # an operator's choice, with an APP too
    served_machines = [_machine(value) for value in machines]
    for spec in handlers_specs:
        app.add_handlers(load_handlers(spec))
    for name, path in served_machines:
        if path is not None:
            app.state_machine(name, path)
    if served_machines:
        app.configure(state_machines=[name for name, _ in served_machines])
    # Before the line below, so that once it shows the state machines exist (and, for a
    # limited worker, that the ones it serves do).
    app.deploy()
    handlers = ", ".join(sorted(app.handlers)) or "none"
    prefix = f"{arn_prefix(app.region, app.account)}:stateMachine:"
    names = ", ".join(sorted(arn.removeprefix(prefix) for arn in app.worker.served or ()))
    served = f"; state machines: {names}" if names else "; state machines: all"
    where = re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", app.database_url)  # no passwords
    click.echo(f"oncue worker on {where}: handlers: {handlers}{served}")
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(_serve(app))


async def _serve(app: App) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Plain handlers run in this pool: at the end, threads still running one are not waited for.
    handlers = ThreadPoolExecutor(thread_name_prefix="oncue-handler")
    loop.set_default_executor(handlers)

    def signalled(number: int) -> None:
        if stop.is_set():
            exit_at_once(number)
        # The first signal only sets the event: the worker then shuts down in its own time.
        stop.set()

    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, signalled, number)
    try:
        await app.run(stop)
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
    exit_if_threads_busy(handlers)
