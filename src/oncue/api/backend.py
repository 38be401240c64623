"""What the HTTP API serves: an app's Step Functions and EventBridge APIs, off the event loop.

:class:`~oncue.engine.control.Control` and :class:`~oncue.bus.service.EventBus` are
synchronous store calls. They never run on the event loop's thread: with a worker in the
process they run on the worker's store thread (the engine's own approach: API writes queue
behind the worker's cycles instead of contending for SQLite's single writer, and a transition
an API call runs hands its tasks to the worker at once); without a worker
(``oncue serve --no-worker``) they run on store threads of the API's own (one for SQLite,
several for a server database), and tasks wait in the database for the ``oncue worker``
processes.

While the worker and the dispatcher run, StartExecution joins the worker's next cycle and
PutEvents the dispatcher's: concurrent calls share one transaction (a group commit), with the
same checks, and the events are delivered right after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final, TypeVar

from oncue.api.operations import Action, Service
from oncue.api.sqs import Queues
from oncue.app import App
from oncue.bus.service import EventBus
from oncue.engine.control import Control
from oncue.engine.transitions import Outcome
from oncue.engine.worker import Worker
from oncue.errors import ValidationException
from oncue.store.notifier import StoreWakeups
from oncue.store.schema import MIGRATIONS
from oncue.types import Json

__all__ = ["READINESS_TIMEOUT_SECONDS", "Backend"]

T = TypeVar("T")

#: Store threads of an API-only process on a server database (PostgreSQL).
API_THREADS: Final = 8
#: Threads for read-only actions.
READ_THREADS: Final = 4
#: A readiness probe that cannot reach the database within this long reports "not ready".
READINESS_TIMEOUT_SECONDS: Final = 5.0
#: A long poll looks again at least this often: other processes create tasks too, and on
#: SQLite nothing tells this process (PostgreSQL's notifications wake it at once).
LONG_POLL_STEP_SECONDS: Final = 1.0
#: A ReceiveMessage long poll looks at its queue this often (nothing wakes it sooner).
QUEUE_POLL_SECONDS: Final = 0.25


def _empty(result: dict[str, Json]) -> bool:
    """An answer with nothing in it ({} or {"Messages": []}): a long poll waits on."""
    return not any(result.values())


def _wait_seconds(action: Action, arguments: dict[str, Any]) -> float:
    """How long a long poll may wait: the action's fixed time, or what the request asks."""
    if action.long_poll is None:
        return 0.0
    if action.wait is None:
        return action.long_poll
    wait = arguments.pop(action.wait, 0)
    if not 0 <= wait <= action.long_poll:
        raise ValidationException(
            f"Value {wait} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and "
            f"<= {action.long_poll:g}, if provided."
        )
    return float(wait)


class Backend:
    """The facades the API calls, the thread they run on, and the app's lifecycle."""

    def __init__(self, app: App, *, worker: bool = True) -> None:
        self.app = app
        #: Whether this process runs a worker (readiness then requires it to be running).
        self.worker = worker
        #: Set on SIGTERM/SIGINT: readiness fails and long polls answer at once.
        self.draining = False
        self._executor: ThreadPoolExecutor | None = None
        self._engine: Worker | None = None
        #: Calls answered by a running loop's group commit instead (one commit for many).
        self._grouped: dict[object, Callable[[dict[str, Any]], Awaitable[dict[str, Json]]]] = {}
        if worker:
            self._engine = engine = app.worker
            self._grouped = {
                Control.start_execution: self._start_grouped,
                # app.put_events: the dispatcher's group commit, or JetStream's with NATS.
                EventBus.put_events: lambda arguments: app.put_events(arguments["entries"]),
            }
            self.control = engine.control
            self._db: Callable[..., Any] = engine.db
            #: Wakes the long polls: activity tasks other processes schedule (PostgreSQL's
            #: NOTIFY) and the start of a shutdown (the worker's, started as it runs).
            self.wakeups = engine.activity_wakeups
        else:
            # No worker here: a transition an API call runs leases no task to this process;
            # its tasks wait in the database for the worker processes. The long polls are
            # woken by this process's API calls too.
            self.wakeups = StoreWakeups(app.store, "activity")
            self.control = Control(
                app.store,
                clock=app.clock,
                region=app.region,
                account=app.account,
                listener=self._scheduled_here,
            )
            # SQLite has one writer: one thread, so the process's writes queue here instead of
            # contending for the file lock. A server database takes concurrent transactions.
            threads = 1 if app.store.dialect == "sqlite" else API_THREADS
            self._executor = ThreadPoolExecutor(threads, thread_name_prefix="oncue-api-store")
            self._db = self._on_executor
        # Reads run beside the store thread: SQLite in WAL mode lets readers work while a
        # writer commits, so a Describe or List does not queue behind the worker's cycles.
        self._reader = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="oncue-api-read")
        self.events = app.events
        self.facades: dict[str, object] = {
            "AWSStepFunctions": self.control,
            "AWSEvents": self.events,
            "AmazonSQS": Queues(self.events),
            "OncueEvents": self.events,
        }

    def _scheduled_here(self, outcome: Outcome) -> None:
        """(A store thread.) An API call scheduled activity tasks: wake the long polls."""
        if outcome.activities:
            self.wakeups.fire()

    async def _on_executor(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: function(*args, **kwargs))

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run store work on the store thread."""
        result: T = await self._db(function, *args, **kwargs)
        return result

    async def read(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run read-only store work on a reader thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, lambda: function(*args, **kwargs))

    # --- requests ----------------------------------------------------------------------

    async def invoke(
        self, service: Service, action: Action, arguments: dict[str, Any]
    ) -> dict[str, Json]:
        """Answer one action; a long-poll action waits while its answer is empty."""
        facade = self.facades[service.prefix]
        grouped = self._grouped.get(action.call)
        if grouped is not None and self.app.running:
            return await grouped(arguments)
        if action.reads:
            return await self.read(action.call, facade, **arguments)
        wait = _wait_seconds(action, arguments)
        result = await self.call(action.call, facade, **arguments)
        if not wait or not _empty(result):
            return result
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while _empty(result) and not self.draining:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            mark = self.wakeups.mark()
            await self._pause(arguments, min(remaining, LONG_POLL_STEP_SECONDS), mark)
            result = await self.call(action.call, facade, **arguments)
        return result

    async def _start_grouped(self, arguments: dict[str, Any]) -> dict[str, Json]:
        """StartExecution in the worker's next cycle: concurrent starts share one commit
        (the same checks, name idempotency and first transition as Control's)."""
        assert self._engine is not None
        if "trace_header" in arguments:  # the worker's group commit takes none
            return await self.call(Control.start_execution, self.control, **arguments)
        arn = await self._engine.start_execution(
            arguments["state_machine_arn"], arguments.get("input", "{}"), arguments.get("name")
        )
        description = await self.call(self.control.describe_execution, arn)
        return {"executionArn": arn, "startDate": description["startDate"]}

    async def _pause(self, arguments: dict[str, Any], seconds: float, mark: int) -> None:
        activity = arguments.get("activity_arn")
        if not isinstance(activity, str):
            await asyncio.sleep(min(seconds, QUEUE_POLL_SECONDS))
        else:
            # Woken by activity tasks this process schedules (its worker's, or its API calls'
            # without a worker) and, on PostgreSQL, other processes'; on SQLite those are
            # found by asking again, more often when no worker here schedules any.
            step = seconds if self._engine is not None else min(seconds, QUEUE_POLL_SECONDS)
            await self.wakeups.wait(mark, step)

    def begin_shutdown(self) -> None:
        """SIGTERM or SIGINT: readiness fails, long polls answer now, and this process's
        worker takes no new tasks (cycles go on; new tasks are left for other workers)."""
        self.draining = True
        self.wakeups.fire()
        if self._engine is not None:
            self._engine.stop_claiming()

    # --- health ------------------------------------------------------------------------

    def _schema_version(self) -> int:
        with self.app.store.read() as tx:
            return int(tx.one("SELECT MAX(version) FROM oncue_schema")[0] or 0)

    async def readiness(self) -> tuple[bool, dict[str, Json]]:
        """Whether the process can serve: database reachable, migrations applied, the
        worker running if it should, not shutting down; with the state of each check."""
        checks: dict[str, Json] = {}
        try:
            applied = await asyncio.wait_for(
                self.call(self._schema_version), READINESS_TIMEOUT_SECONDS
            )
        except Exception as error:  # any failure to reach the database means "not ready"
            checks["database"] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        else:
            expected = max(version for version, _, _ in MIGRATIONS)
            checks["database"] = {"ok": True}
            checks["migrations"] = {
                "ok": applied == expected,
                "applied": applied,
                "expected": expected,
            }
        if self.worker:
            checks["worker"] = {"ok": self.app.running}
        if self.draining:
            checks["shutdown"] = {"ok": False, "reason": "the server is shutting down"}
        ready = all(isinstance(c, dict) and c.get("ok") is True for c in checks.values())
        return ready, checks

    # --- lifecycle ---------------------------------------------------------------------

    def _close_readers(self) -> None:
        # A reader thread's own SQLite connection is released when the thread ends.
        self._reader.shutdown(wait=True)

    async def start(self) -> None:
        """Deploy the app's state machines, buses and rules; with a worker, run the engine
        worker and the bus dispatcher."""
        if self.worker:
            await self.app.start()
        else:
            self.wakeups.start()
            await self.call(self.app.deploy)

    async def stop(self) -> None:
        """Stop the worker gracefully (running handlers get their grace period, unfinished
        tasks are handed back to the database) and close the store."""
        self.draining = True
        self._close_readers()
        if self.worker:
            await self.app.stop()
            return
        self.wakeups.close()
        if self.app.store.dialect == "sqlite":
            # SQLite connections belong to a thread: close the store thread's own.
            await self.call(self.app.store.close)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self.app.close()
