"""The App: an application's state machines, handlers, event buses and rules, wired to a
durable engine worker and a bus dispatcher that share one database and one rule router.

Registering handlers and loading the code that registers them lives in
:mod:`oncue.engine.registry` (re-exported here); declaring buses and rules in
:mod:`oncue.bus.declare`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from oncue.asl.jsonutil import dumps
from oncue.asl.loader import load_definition
from oncue.asl.validate import parse_definition
from oncue.bus.declare import Declarations
from oncue.bus.dispatch import Dispatcher
from oncue.bus.naming import DEFAULT_BUS, bus_arn, rule_arn
from oncue.bus.router import Router
from oncue.bus.service import EventBus
from oncue.cycleloop import TimeSkip
from oncue.engine.clock import Clock, SystemClock
from oncue.engine.control import Control, start_in_tx
from oncue.engine.naming import arn_prefix
from oncue.engine.registry import (
    HandlerRegistry,
    default_registry,
    handler,
    load_definition_file,
    load_handlers,
)
from oncue.engine.worker import Worker
from oncue.errors import InvalidInput, StateMachineNotFound
from oncue.store import DEFAULT_DATABASE_URL, Store, open_store
from oncue.store.notifier import StoreNotifier
from oncue.store.sql import Tx
from oncue.tracing import current_trace
from oncue.types import DEFAULT_ACCOUNT, DEFAULT_REGION, MAX_PAYLOAD_BYTES, Json

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "App",
    "HandlerRegistry",
    "default_registry",
    "handler",
    "load_definition_file",
    "load_handlers",
]


class App:
    """An oncue application: state machines, handlers, event buses and rules, in-process, with
    a durable engine and a bus dispatcher.

    ::

        app = oncue.App()                      # ONCUE_DATABASE_URL, default sqlite:///oncue.db

        @app.handler("notify-restaurant")
        async def notify(order): ...

        app.state_machine("order-flow", "order_flow.asl.json")

        @app.on({"source": ["shop"], "detail-type": ["order_placed"]})
        async def notify_restaurant(event, context): ...

        async with app:                        # deploys, runs the worker and the dispatcher
            arn = await app.start_execution("order-flow", {"order_id": "42"})
            result = await app.wait(arn)
            await app.put_events([{"Source": "shop", "DetailType": "order_placed", ...}])

    ``app.control`` and ``app.events`` are the synchronous Step Functions and EventBridge APIs
    over the same database (what the CLI and the HTTP API use). Task handlers and event
    handlers share one registry, so one function can be both.
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
        self._options: dict[str, Any] = {
            "concurrency": concurrency,
            "lease_seconds": lease_seconds,
            "poll_seconds": poll_seconds,
            "strict": strict,
            "time_skipping": time_skipping,
            "grace_seconds": grace_seconds,
        }
        self._machines: dict[str, str | dict[str, Json]] = {}
        self._declared = Declarations()
        #: One router (and so one cache of rule indexes) for the API and the dispatcher.
        self.router = Router(region=region, account=account)
        self._store: Store | None = None
        self._worker: Worker | None = None
        self._dispatcher: Dispatcher | None = None
        self._events: EventBus | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stop: asyncio.Event | None = None

    def configure(self, **options: Any) -> None:
        """Change worker options (concurrency, lease_seconds, poll_seconds, strict,
        time_skipping, grace_seconds) before the app opens."""
        unknown = set(options) - set(self._options)
        if unknown:
            raise TypeError(f"unknown App options: {', '.join(sorted(unknown))}")
        if self._worker is not None or self._dispatcher is not None:
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

    # --- event buses and rules --------------------------------------------------------

    def event_bus(self, name: str, description: str | None = None) -> str:
        """Declare a custom event bus (the ``default`` bus always exists); its ARN. It is
        created, if missing, when the app opens."""
        self._declared.event_bus(name, description)
        return self.bus_arn(name)

    def rule(
        self,
        name: str,
        *,
        event_pattern: Mapping[str, Json] | str | None = None,
        schedule: str | None = None,
        bus: str = DEFAULT_BUS,
        targets: Sequence[Mapping[str, Json]] = (),
        description: str | None = None,
        state: str = "ENABLED",
    ) -> str:
        """Declare a rule with its targets (PutRule and PutTargets shapes); its ARN. It is
        created, or updated to match, when the app opens (:mod:`oncue.bus.declare`)."""
        declared = self._declared.rule(
            name,
            event_pattern=event_pattern,
            schedule=schedule,
            bus=bus,
            targets=targets,
            description=description,
            state=state,
        )
        return rule_arn(self.region, self.account, declared.bus, declared.name)

    def on(
        self,
        event_pattern: Mapping[str, Json] | str,
        *,
        bus: str = DEFAULT_BUS,
        name: str | None = None,
        retry_policy: Mapping[str, Json] | None = None,
        dead_letter_queue: str | None = None,
    ) -> Callable[[F], F]:
        """Decorator: register the function as a handler and declare a rule (named like the
        handler) that delivers the matching events of ``bus`` to it. ``dead_letter_queue`` is
        an internal queue's name or ARN."""

        def decorate(function: F) -> F:
            handler_name = name or function.__name__
            target: dict[str, Json] = {
                "Id": handler_name[:64],
                "Arn": self.handler_arn(handler_name),
            }
            if retry_policy is not None:
                target["RetryPolicy"] = dict(retry_policy)
            if dead_letter_queue is not None:
                queue = dead_letter_queue
                if not queue.startswith("arn:"):
                    queue = f"arn:aws:sqs:{self.region}:{self.account}:{queue}"
                target["DeadLetterConfig"] = {"Arn": queue}
            self.rule(handler_name, event_pattern=event_pattern, bus=bus, targets=[target])
            self.handlers.register(handler_name, function)
            return function

        return decorate

    def handler_arn(self, name: str) -> str:
        """The Lambda ARN a definition or a rule target uses for the handler ``name``."""
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"

    def bus_arn(self, name: str = DEFAULT_BUS) -> str:
        return bus_arn(self.region, self.account, name)

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
                on_outbox=self._wake_dispatcher,
                # Woken when another process commits work (PostgreSQL's LISTEN/NOTIFY).
                notifier=StoreNotifier(self.store, "engine"),
                **self._options,
            )
        return self._worker

    @property
    def dispatcher(self) -> Dispatcher:
        """The bus dispatcher: delivers events to their targets (built on first use)."""
        if self._dispatcher is None:
            options = self._options
            self._dispatcher = Dispatcher(
                self.store,
                self.handlers,
                _start_execution,
                router=self.router,
                clock=self.clock,
                concurrency=options["concurrency"],
                lease_seconds=options["lease_seconds"],
                poll_seconds=options["poll_seconds"],
                grace_seconds=options["grace_seconds"],
                time_skipping=self.worker.time_skipping,
                region=self.region,
                account=self.account,
                on_started=self.worker.wake,
                notifier=StoreNotifier(self.store, "bus"),
            )
        return self._dispatcher

    @property
    def events(self) -> EventBus:
        """The EventBridge API (buses, rules, targets, PutEvents, dead letters, queues)."""
        if self._events is None:
            self._events = EventBus(
                self.store,
                router=self.router,
                clock=self.clock,
                listener=self._wake_dispatcher,
            )
        return self._events

    def _wake_dispatcher(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.wake()

    @property
    def control(self) -> Control:
        return self.worker.control

    def deploy(self) -> None:
        """Create or update every registered state machine, event bus and rule."""
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
        self._declared.deploy(self.events)

    async def __aenter__(self) -> App:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Deploy, then run the worker and the dispatcher in the background of the running
        event loop."""
        worker, dispatcher = self._loops()
        await worker.db(self.deploy)
        self._stop = stop = asyncio.Event()
        self._tasks = [
            asyncio.create_task(worker.run(stop)),
            asyncio.create_task(dispatcher.run(stop)),
        ]

    @property
    def running(self) -> bool:
        """Whether the worker and the dispatcher :meth:`start` launched are both running
        (what the HTTP API's readiness reports)."""
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    def _loops(self) -> tuple[Worker, Dispatcher]:
        worker, dispatcher = self.worker, self.dispatcher
        if worker.time_skipping and worker.skip_group is None:
            # One virtual clock: time jumps only when neither loop holds work, to the earlier
            # of the next timer and the next delivery retry.
            TimeSkip().join(worker, dispatcher)
        return worker, dispatcher

    async def stop(self) -> None:
        if self._tasks and self._stop is not None:
            self._stop.set()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        self.close()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Deploy and run the worker and the dispatcher in the foreground until ``stop``."""
        worker, dispatcher = self._loops()
        await worker.db(self.deploy)
        stop = stop or asyncio.Event()
        try:
            await asyncio.gather(worker.run(stop), dispatcher.run(stop))
        finally:
            self.close()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
            self._worker = None
            self._dispatcher = None
            self._events = None

    # --- events ------------------------------------------------------------------------

    async def put_events(self, entries: Json) -> dict[str, Json]:
        """PutEvents: the response with a result per entry (bad entries are reported, the
        good ones accepted). While the app runs, committed with the dispatcher's next cycle
        and delivered right after it; ValidationException when the whole request is bad."""
        return await self.dispatcher.put_events(entries)

    # --- executions --------------------------------------------------------------------

    async def start_execution(
        self, state_machine: str, input: Json = None, *, name: str | None = None
    ) -> str:
        """Start an execution of a state machine (name or ARN); its execution ARN. Called
        while handling an event (or a task), the execution joins that trace."""
        text = dumps({} if input is None else input)
        trace = current_trace()
        header = trace.traceparent() if trace is not None else None
        if len(text.encode()) > MAX_PAYLOAD_BYTES:
            raise InvalidInput(
                f"Invalid execution input: larger than the {MAX_PAYLOAD_BYTES // 1024} KiB limit"
            )
        if not self._tasks:
            # No worker loop runs: start in a transaction of its own.
            response = await self.worker.db(
                self.control.start_execution, self.arn(state_machine), text, name, header
            )
            arn = response["executionArn"]
            assert isinstance(arn, str)
            return arn
        return await self.worker.start_execution(self.arn(state_machine), text, name, header)

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


def _start_execution(
    tx: Tx,
    state_machine_arn: str,
    input_text: str,
    name: str | None,
    now: datetime,
    *,
    trace_header: str | None = None,
) -> str:
    """A rule's state machine target: StartExecution in the dispatcher's transaction."""
    return start_in_tx(
        tx, state_machine_arn, input_text, name, now=now, trace_header=trace_header
    ).arn
