"""The App: an application's declarations (:mod:`.declaring`) wired to a durable engine worker
and a bus dispatcher that share one database and one rule router; its lifecycle (deploy, start,
run, stop) and its calls into the running engine and bus.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from oncue.app.declaring import Declaring
from oncue.asl.jsonutil import dumps
from oncue.bus.declare import Declarations
from oncue.bus.dispatch import Dispatcher
from oncue.bus.jetstream import JetStreamBus
from oncue.bus.router import Router
from oncue.bus.service import EventBus
from oncue.bus.streams import layout_from_environment
from oncue.cycleloop import TimeSkip
from oncue.engine.clock import Clock, SystemClock
from oncue.engine.control import Control
from oncue.engine.registry import HandlerRegistry
from oncue.engine.starting import start_in_tx
from oncue.engine.worker import Worker
from oncue.errors import InvalidInput, StateMachineNotFound
from oncue.store import DEFAULT_DATABASE_URL, Store, open_store
from oncue.store.notifier import StoreNotifier
from oncue.store.sql import Tx
from oncue.tracing import current_trace
from oncue.transport import open_transport, transport_url
from oncue.types import DEFAULT_ACCOUNT, DEFAULT_REGION, MAX_PAYLOAD_BYTES, Json

__all__ = ["App"]


class App(Declaring):
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
        nats_url: str | None = None,
        state_machines: Sequence[str] | None = None,
    ) -> None:
        """``state_machines`` (names or ARNs) limits this app's worker to the executions of
        those state machines and their tasks (a task queue, docs/scale-out.md); they must
        exist once the app deployed. None (the default) serves every state machine."""
        #: With a NATS URL (``ONCUE_NATS_URL``), handler targets are delivered over JetStream.
        self.nats_url = nats_url or transport_url()
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
            "state_machines": None if state_machines is None else tuple(state_machines),
        }
        self._machines: dict[str, str | dict[str, Json]] = {}
        self._declared = Declarations()
        #: One router (and so one cache of rule indexes) for the API and the dispatcher.
        self.router = Router(region=region, account=account)
        self._store: Store | None = None
        self._worker: Worker | None = None
        self._dispatcher: Dispatcher | None = None
        self._jetstream: JetStreamBus | None = None
        self._events: EventBus | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stop: asyncio.Event | None = None

    def configure(self, **options: Any) -> None:
        """Change worker options (concurrency, lease_seconds, poll_seconds, strict,
        time_skipping, grace_seconds, state_machines) before the app opens."""
        unknown = set(options) - set(self._options)
        if unknown:
            raise TypeError(f"unknown App options: {', '.join(sorted(unknown))}")
        if self._worker is not None or self._dispatcher is not None:
            raise RuntimeError("the app's worker is already built; configure it before")
        if options.get("state_machines") is not None:
            options["state_machines"] = tuple(options["state_machines"])
        self._options.update(options)

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
                # With NATS the dispatcher keeps the inline targets; JetStream the handlers.
                {} if self.nats_url else self.handlers,
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

    @property
    def jetstream(self) -> JetStreamBus | None:
        """The bus over NATS JetStream when ``nats_url`` is set (see docs/nats.md)."""
        if self._jetstream is None and self.nats_url:
            options = self._options
            self._jetstream = JetStreamBus(
                self.store,
                self.handlers,
                open_transport(self.nats_url),
                router=self.router,
                clock=self.clock,
                layout=layout_from_environment(os.environ),
                concurrency=options["concurrency"],
                lease_seconds=options["lease_seconds"],
                poll_seconds=options["poll_seconds"],
                grace_seconds=options["grace_seconds"],
                region=self.region,
                account=self.account,
                on_inline=self._wake_dispatcher,
            )
        return self._jetstream

    async def _run_jetstream(self, jetstream: JetStreamBus, stop: asyncio.Event) -> None:
        try:
            await jetstream.run(stop)
        finally:
            await jetstream.transport.close()

    def _wake_dispatcher(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.wake()
        if self._jetstream is not None:
            self._jetstream.wake()

    @property
    def control(self) -> Control:
        return self.worker.control

    def deploy(self) -> None:
        """Create or update every registered state machine, event bus and rule; then check
        that the state machines the worker is limited to exist (StateMachineNotFound)."""
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
        missing = self.worker.missing_state_machines()
        if missing:
            # Refused rather than waited for: a misspelt name would otherwise serve nothing,
            # silently, while that machine's executions wait for a worker that never comes.
            names = ", ".join(f"'{arn}'" for arn in missing)
            raise StateMachineNotFound(
                f"State Machine Does Not Exist: {names} (a worker limited to state machines "
                "serves existing ones: create it first, or correct the name)"
            )

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
        if self.jetstream is not None:
            self._tasks.append(asyncio.create_task(self._run_jetstream(self.jetstream, stop)))

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
            jetstream = self.jetstream
            await asyncio.gather(
                worker.run(stop),
                dispatcher.run(stop),
                *([self._run_jetstream(jetstream, stop)] if jetstream is not None else []),
            )
        finally:
            self.close()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
            self._worker = None
            self._dispatcher = None
            self._jetstream = None
            self._events = None

    # --- events ------------------------------------------------------------------------

    async def put_events(self, entries: Json) -> dict[str, Json]:
        """PutEvents: the response with a result per entry (bad entries are reported, the
        good ones accepted). While the app runs, committed with the dispatcher's next cycle
        and delivered right after it; ValidationException when the whole request is bad."""
        if self.jetstream is not None:
            return await self.jetstream.put_events(entries)
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

    async def describe_execution(self, execution_arn: str) -> dict[str, Json]:
        """DescribeExecution (ExecutionDoesNotExist for an unknown ARN)."""
        return await self.worker.db(self.control.describe_execution, execution_arn)

    async def stop_execution(
        self, execution_arn: str, *, error: str | None = None, cause: str | None = None
    ) -> dict[str, Json]:
        """StopExecution: the execution ends ABORTED (a finished one is left as it is)."""
        return await self.worker.db(self.control.stop_execution, execution_arn, error, cause)

    # --- callbacks (``.waitForTaskToken`` and activities) ------------------------------

    async def send_task_success(self, task_token: str, output: Json) -> None:
        """SendTaskSuccess from outside a handler (a web request, a rule target): the waiting
        state goes on with ``output``. TaskDoesNotExist for an unknown token, TaskTimedOut
        for one whose task has ended (timed out, failed or already answered)."""
        await self.worker.db(self.control.send_task_success, task_token, output)

    async def send_task_failure(
        self, task_token: str, *, error: str | None = None, cause: str | None = None
    ) -> None:
        """SendTaskFailure: the waiting state fails with ``error`` (its Retry and Catch apply)."""
        await self.worker.db(self.control.send_task_failure, task_token, error, cause)

    async def send_task_heartbeat(self, task_token: str) -> None:
        """SendTaskHeartbeat: restarts the waiting state's HeartbeatSeconds."""
        await self.worker.db(self.control.send_task_heartbeat, task_token)

    async def execute(
        self, state_machine: str, input: Json = None, *, name: str | None = None
    ) -> dict[str, Json]:
        """Start an execution and wait for it to finish."""
        return await self.wait(await self.start_execution(state_machine, input, name=name))

    async def get_activity_task(
        self, activity_arn: str, worker_name: str | None = None, *, wait_seconds: float = 60.0
    ) -> dict[str, Json]:
        """GetActivityTask with AWS's long poll: up to ``wait_seconds`` for a task, else ``{}``.

        Woken at once when this process, or (PostgreSQL) another process, schedules an
        activity task; otherwise polls every second.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        worker = self.worker
        while True:
            mark = worker.activity_wakeups.mark()
            found = await worker.db(self.control.get_activity_task, activity_arn, worker_name)
            remaining = deadline - loop.time()
            if found or remaining <= 0:
                return found
            await worker.activity_wakeups.wait(mark, min(remaining, 1.0))


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
