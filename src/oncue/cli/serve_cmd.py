"""``oncue serve``: the AWS-compatible HTTP API, with a worker in the same process by default.

boto3 and the AWS CLI talk to it with ``endpoint_url`` (Step Functions: ``AWSStepFunctions.*``,
EventBridge: ``AWSEvents.*``). ``--no-worker`` serves the API only, for deployments where
``oncue worker`` processes do the work against the same database. SIGINT or SIGTERM shuts
down gracefully and exits 0: readiness fails at once, in-flight requests get
``--graceful-seconds``, running handlers ``--grace-seconds`` (see ``oncue worker``); a second
signal exits at once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from concurrent.futures import ThreadPoolExecutor

import click

from oncue.api import ApiServer
from oncue.app import App, load_handlers
from oncue.cli.common import api_errors, database_option
from oncue.cli.worker_cmd import load_app
from oncue.shutdown import exit_if_threads_busy

__all__ = ["serve"]


def _machine_pair(value: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise click.BadParameter(f"{value!r}: expected NAME=FILE", param_hint="--state-machine")
    return name, path


def _parse_keys(text: str | None) -> dict[str, str] | None:
    """``ID:SECRET,ID:SECRET`` as a mapping (None: no authentication)."""
    if text is None or not text.strip():
        return None
    keys: dict[str, str] = {}
    for item in text.split(","):
        key_id, sep, secret = item.strip().partition(":")
        if not sep or not key_id or not secret:
            raise click.BadParameter(
                "expected ACCESS_KEY_ID:SECRET pairs separated by commas", param_hint="--api-keys"
            )
        keys[key_id] = secret
    return keys


@click.command("serve")
@click.argument("app_spec", metavar="[APP]", required=False)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port."
)
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
    metavar="NAME=FILE",
    multiple=True,
    help="Create or update this state machine at start (repeatable). Unlike "
    "`oncue worker --state-machine`, this does not limit the built-in worker.",
)
@click.option(
    "--worker/--no-worker",
    "run_worker",
    default=True,
    show_default=True,
    help="Run a worker in this process (--no-worker: the API only; run `oncue worker` apart).",
)
@click.option(
    "--strict/--no-strict",
    default=True,
    show_default=True,
    help="Without APP: fail a task no handler here serves (--no-strict: leave it for others).",
)
@click.option(
    "--graceful-seconds",
    type=click.IntRange(min=0),
    default=30,
    show_default=True,
    help="On shutdown, how long in-flight requests may take.",
)
@click.option(
    "--grace-seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="On shutdown, how long running handlers may finish before their tasks are handed "
    "back (default: the app's, 5).",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
@click.option(
    "--api-keys",
    "api_keys",
    envvar="ONCUE_API_KEYS",
    show_envvar=True,
    metavar="ID:SECRET[,ID:SECRET...]",
    default=None,
    help="Serve only requests signed (SigV4) with one of these access keys "
    "(default: accept any credentials).",
)
@database_option
@api_errors
def serve(
    app_spec: str | None,
    host: str,
    port: int,
    handlers_specs: tuple[str, ...],
    machines: tuple[str, ...],
    run_worker: bool,
    strict: bool,
    graceful_seconds: int,
    grace_seconds: float | None,
    log_level: str,
    api_keys: str | None,
    database_url: str,
) -> None:
    """Serve the Step Functions and EventBridge APIs over HTTP until SIGINT or SIGTERM.

    APP is MODULE:ATTRIBUTE or path/to/file.py:ATTRIBUTE naming an oncue.App; without it the
    server serves the handlers of --handlers and the state machines of --state-machine.
    Without --api-keys any AWS credentials are accepted: requests are not authenticated.
    """
    keys = _parse_keys(api_keys)
    if not run_worker and handlers_specs:
        raise click.UsageError(
            "--handlers needs a worker: drop --no-worker, or run them in "
            "`oncue worker --handlers ...`"
        )
    ctx = click.get_current_context()
    explicit_url = (
        ctx.get_parameter_source("database_url") is click.core.ParameterSource.COMMANDLINE
    )
    if app_spec is not None:
        app = load_app(app_spec)
        if explicit_url:
            app.database_url = database_url
    else:
        app = App(database_url, strict=strict)
    if grace_seconds is not None:
        app.configure(grace_seconds=grace_seconds)
    for spec in handlers_specs:
        app.add_handlers(load_handlers(spec))
    for pair in machines:
        name, path = _machine_pair(pair)
        app.state_machine(name, path)
    # Deploy first, so that a bad definition is one clear error before the server starts.
    app.deploy()
    app.close()
    where = re.sub(r"://([^:/@]*):[^@]*@", r"://\1:***@", app.database_url)  # no passwords
    worker = f"handlers: {', '.join(sorted(app.handlers)) or 'none'}" if run_worker else "none"
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    server = ApiServer(
        app,
        host=host,
        port=port,
        worker=run_worker,
        keys=keys,
        log_level=log_level,
        graceful_seconds=graceful_seconds,
        on_listening=lambda bound: click.echo(
            f"oncue serve on http://{host}:{bound} ({where}; worker: {worker})"
        ),
    )
    server.exit_on_second_signal = True
    try:
        with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
            runner.run(_serve(server))
    except SystemExit as stop:
        # uvicorn exits when it cannot listen (the port is taken...) after logging why.
        raise click.exceptions.Exit(1 if stop.code else 0) from None
    if not server.started:
        raise click.exceptions.Exit(1)


async def _serve(server: ApiServer) -> None:
    """``server.run()``, with plain handlers in a pool of ours: at the end, threads still
    running a handler past the grace period are not waited for."""
    handlers = ThreadPoolExecutor(thread_name_prefix="oncue-handler")
    asyncio.get_running_loop().set_default_executor(handlers)
    await server.serve()
    if server.started:
        exit_if_threads_busy(handlers)
