"""Registering task handlers, and loading the Python code that registers them.

A handler is a plain function, sync or async, registered under the name a Lambda ARN in a
definition uses (``arn:aws:lambda:...:function:NAME``)::

    import oncue

    @oncue.handler("notify-restaurant")
    def notify_restaurant(order, context):
        ...

``@oncue.handler`` with no name registers the function under its own name. A module that
registers nothing still works with ``--handlers``: its public module-level functions are
taken under their own names.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar, overload

from oncue.asl.jsonutil import dumps
from oncue.asl.loader import load_definition
from oncue.asl.validate import parse_definition
from oncue.engine.clock import Clock, SystemClock
from oncue.engine.control import Control
from oncue.engine.naming import arn_prefix
from oncue.engine.worker import Worker
from oncue.errors import (
    DefinitionError,
    HandlerError,
    InvalidInput,
    Problem,
    StateMachineNotFound,
)
from oncue.store import DEFAULT_DATABASE_URL, Store, open_store
from oncue.types import DEFAULT_ACCOUNT, DEFAULT_REGION, MAX_PAYLOAD_BYTES, Json

__all__ = [
    "App",
    "HandlerRegistry",
    "default_registry",
    "handler",
    "load_definition_file",
    "load_handlers",
]

F = TypeVar("F", bound=Callable[..., Any])


class HandlerRegistry(Mapping[str, Callable[..., Any]]):
    """Names to handler functions."""

    def __init__(self) -> None:
        self._handlers: dict[str, Callable[..., Any]] = {}

    def register(self, name: str, function: Callable[..., Any]) -> None:
        if not callable(function):
            raise HandlerError(f"handler '{name}' is not callable")
        self._handlers[name] = function

    @overload
    def handler(self, name_or_function: F) -> F: ...

    @overload
    def handler(self, name_or_function: str | None = None) -> Callable[[F], F]: ...

    def handler(self, name_or_function: str | F | None = None) -> F | Callable[[F], F]:
        """Decorator: ``@registry.handler`` or ``@registry.handler("name")``."""
        if callable(name_or_function):
            self.register(name_or_function.__name__, name_or_function)
            return name_or_function

        def decorate(function: F) -> F:
            self.register(name_or_function or function.__name__, function)
            return function

        return decorate

    def __getitem__(self, name: str) -> Callable[..., Any]:
        return self._handlers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)


#: The registry ``@oncue.handler`` writes to.
default_registry = HandlerRegistry()
handler = default_registry.handler


def load_handlers(module_or_file: str) -> dict[str, Callable[..., Any]]:
    """Import a module (dotted name) or a ``.py`` file and return the handlers it provides.

    Handlers registered with ``@oncue.handler`` during the import win; a module that
    registers none provides its public functions under their own names.
    """
    before = dict(default_registry)
    module = _import(module_or_file)
    registered = {name: fn for name, fn in default_registry.items() if before.get(name) is not fn}
    if registered:
        return registered
    return {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_")
        and inspect.isfunction(value)
        and value.__module__ == module.__name__
    }


def _import(module_or_file: str) -> Any:
    path = Path(module_or_file)
    try:
        if module_or_file.endswith(".py") or path.is_file():
            if not path.is_file():
                raise HandlerError(f"{module_or_file}: no such handler file")
            name = f"oncue_handlers_{abs(hash(str(path.resolve())))}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise HandlerError(f"{module_or_file}: cannot be imported as Python")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module
        return importlib.import_module(module_or_file)
    except HandlerError:
        raise
    except Exception as exc:  # any import-time failure of user code is reported, not raised
        raise HandlerError(
            f"{module_or_file}: the handler module failed to import: {type(exc).__name__}: {exc}"
        ) from exc


def load_definition_file(path: str | os.PathLike[str]) -> dict[str, Json]:
    """Read and parse a definition file (``.json``, ``.yaml`` or ``.yml`` alike)."""
    name = os.fspath(path)
    try:
        data = Path(name).read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        message = f"cannot read the definition file {name}: {reason}"
        raise DefinitionError([Problem(pointer="", message=message)], source=name) from None
    return load_definition(data, source=name)


class App:
    """An oncue application: state machines, task handlers and a durable engine, in-process.

    ::

        app = oncue.App()                      # ONCUE_DATABASE_URL, default sqlite:///oncue.db

        @app.handler("notify-restaurant")
        async def notify(order): ...

        app.state_machine("order-flow", "order_flow.asl.json")

        async with app:                        # deploys the machines, runs a worker
            arn = await app.start_execution("order-flow", {"order_id": "42"})
            result = await app.wait(arn)

    ``app.control`` is the synchronous Step Functions API over the same database (what the CLI
    and the HTTP API use).
    """

    def __init__(
        self,
        database_url: str | None = None,
        *,
        clock: Clock | None = None,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
        concurrency: int = 100,
        lease_seconds: float = 30.0,
        poll_seconds: float = 1.0,
        strict: bool = True,
        time_skipping: bool | None = None,
        grace_seconds: float = 5.0,
    ) -> None:
        self.database_url = (
            database_url or os.environ.get("ONCUE_DATABASE_URL") or (DEFAULT_DATABASE_URL)
        )
        self.clock: Clock = clock or SystemClock()
        self.region = region
        self.account = account
        self.handlers = HandlerRegistry()
        self._options = {
            "concurrency": concurrency,
            "lease_seconds": lease_seconds,
            "poll_seconds": poll_seconds,
            "strict": strict,
            "time_skipping": time_skipping,
            "grace_seconds": grace_seconds,
        }
        self._machines: dict[str, str | dict[str, Json]] = {}
        self._store: Store | None = None
        self._worker: Worker | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None

    def configure(self, **options: Any) -> None:
        """Change worker options (concurrency, lease_seconds, poll_seconds, strict,
        time_skipping, grace_seconds) before the app opens."""
        unknown = set(options) - set(self._options)
        if unknown:
            raise TypeError(f"unknown App options: {', '.join(sorted(unknown))}")
        if self._worker is not None:
            raise RuntimeError("the app's worker is already built; configure it before")
        self._options.update(options)

    @property
    def state_machine_names(self) -> list[str]:
        """The names of the registered state machines."""
        return list(self._machines)

    # --- registration ------------------------------------------------------------------

    def handler(self, name_or_function: Any = None) -> Any:
        """Register a task handler: ``@app.handler`` or ``@app.handler("name")``."""
        return self.handlers.handler(name_or_function)

    def add_handlers(self, handlers: Mapping[str, Callable[..., Any]]) -> None:
        for name, function in handlers.items():
            self.handlers.register(name, function)

    def state_machine(
        self, name: str, definition: str | os.PathLike[str] | Mapping[str, Json]
    ) -> str:
        """Register a state machine (a file path, JSON/YAML text or a dict); its ARN.

        It is created, or updated when its definition changed, when the app opens.
        """
        if isinstance(definition, Mapping):
            document: str | dict[str, Json] = dict(definition)
        elif isinstance(definition, os.PathLike) or (
            isinstance(definition, str)
            and not definition.lstrip().startswith(("{", "["))
            and Path(definition).suffix in (".json", ".yaml", ".yml")
        ):
            document = load_definition_file(definition)
        else:
            document = load_definition(definition)
        parse_definition(document)  # fail at registration, with JSON pointers
        self._machines[name] = document
        return self.arn(name)

    def arn(self, name: str) -> str:
        """The ARN of a state machine by name (an ARN passes through)."""
        if name.startswith("arn:"):
            return name
        return f"{arn_prefix(self.region, self.account)}:stateMachine:{name}"

    # --- the engine --------------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.database_url)
        return self._store

    @property
    def worker(self) -> Worker:
        if self._worker is None:
            self._worker = Worker(
                self.store,
                self.handlers,
                clock=self.clock,
                region=self.region,
                account=self.account,
                **self._options,  # type: ignore[arg-type]
            )
        return self._worker

    @property
    def control(self) -> Control:
        return self.worker.control

    def deploy(self) -> None:
        """Create or update every registered state machine."""
        for name, document in self._machines.items():
            arn = self.arn(name)
            try:
                current = self.control.describe_state_machine(arn)
            except StateMachineNotFound:
                self.control.create_state_machine(name, document)
                continue
            text = dumps(document) if not isinstance(document, str) else document
            if current["definition"] != text:
                self.control.update_state_machine(arn, definition=document)

    async def __aenter__(self) -> App:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Deploy and run the worker in the background of the running event loop."""
        worker = self.worker
        await worker.db(self.deploy)
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(worker.run(self._stop))

    @property
    def running(self) -> bool:
        """Whether the worker :meth:`start` launched is running (what readiness reports)."""
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        if self._task is not None and self._stop is not None:
            self._stop.set()
            await self._task
            self._task = None
        self.close()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Deploy and run the worker in the foreground until ``stop`` is set."""
        worker = self.worker
        await worker.db(self.deploy)
        try:
            await worker.run(stop)
        finally:
            self.close()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
            self._worker = None

    # --- executions --------------------------------------------------------------------

    async def start_execution(
        self, state_machine: str, input: Json = None, *, name: str | None = None
    ) -> str:
        """Start an execution of a state machine (name or ARN); its execution ARN."""
        text = dumps({} if input is None else input)
        if len(text.encode()) > MAX_PAYLOAD_BYTES:
            raise InvalidInput(
                f"Invalid execution input: larger than the {MAX_PAYLOAD_BYTES // 1024} KiB limit"
            )
        if self._task is None:
            # No worker loop runs: start in a transaction of its own.
            response = await self.worker.db(
                self.control.start_execution, self.arn(state_machine), text, name
            )
            arn = response["executionArn"]
            assert isinstance(arn, str)
            return arn
        return await self.worker.start_execution(self.arn(state_machine), text, name)

    async def wait(self, execution_arn: str) -> dict[str, Json]:
        """Until the execution finishes; its DescribeExecution."""
        await self.worker.wait_finished(execution_arn)
        return await self.worker.db(self.control.describe_execution, execution_arn)

    async def execute(
        self, state_machine: str, input: Json = None, *, name: str | None = None
    ) -> dict[str, Json]:
        """Start an execution and wait for it to finish."""
        return await self.wait(await self.start_execution(state_machine, input, name=name))

    async def get_activity_task(
        self, activity_arn: str, worker_name: str | None = None, *, wait_seconds: float = 60.0
    ) -> dict[str, Json]:
        """GetActivityTask with AWS's long poll: up to ``wait_seconds`` for a task, else ``{}``.

        Woken at once when this process schedules a task for the activity; otherwise polls.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        worker = self.worker
        while True:
            found = await worker.db(self.control.get_activity_task, activity_arn, worker_name)
            remaining = deadline - loop.time()
            if found or remaining <= 0:
                return found
            await worker.activity_scheduled(activity_arn, min(remaining, 1.0))
