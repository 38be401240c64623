"""The food-ordering application of the scale-out chaos test, and the worker process it kills.

The state machine is the reference application's own (``food_delivery``'s orchestrated
``order_flow.asl.json``), unchanged. Its Lambda-style tasks get recording handlers, and three
rules on the ``orders`` bus drive each order across processes, whichever worker a delivery
lands on:

- ``restaurant`` (``restaurant_notified``): the restaurant decides, accept or reject by a
  function of the order number, and completes the ``Wait For Decision`` task token;
- ``courier`` (``user_notified``): the courier delivers and completes ``Wait For Delivery``;
- ``audit`` (every ``food.orders`` event): a recording handler and an internal queue.

A token and the decision meet in the table ``chaos_orders`` of the same database, under a row
lock: whichever of the task handler (which has the token) and the bus handler (which has the
decision) comes second sends the token. A redelivered handler may send it again; the second
call is refused with ``TaskTimedOut`` and ignored.

Run as a script (``python food_node.py DATABASE_URL EFFECTS_PATH [LATENCY]``, with
``ONCUE_NATS_URL`` set) it runs an :class:`oncue.app.App` worker and prints ``READY`` once its
loops run. Every handler call appends ``TIME PID HANDLER KEY`` to the effects file (one
``os.write``, then ``fsync``) before it acts; KEY is the task's idempotency key or the event's
id.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Final

import psycopg

from food_delivery.orchestration import DEFINITION, MACHINE
from oncue.app import App
from oncue.errors import StoreError, TaskTimedOut
from oncue.types import Json

__all__ = [
    "AUDIT_QUEUE",
    "BUS",
    "EVENTS",
    "MACHINE",
    "TABLE",
    "Coordination",
    "decision_of",
    "expected_events",
    "expected_output",
    "file_recorder",
    "make_app",
    "order_input",
    "order_name",
]

BUS: Final = "orders"
AUDIT_QUEUE: Final = "chaos-audit"
TABLE: Final = "chaos_orders"
#: Seconds a database or API call of a handler keeps retrying while PostgreSQL is away.
RETRY_SECONDS: Final = 120.0
LEASE_SECONDS: Final = float(os.environ.get("ONCUE_CHAOS_LEASE", "2"))
POLL_SECONDS: Final = 0.1

#: The events each path publishes, in order.
EVENTS: Final = {
    "accept": [
        "order_placed",
        "restaurant_notified",
        "order_accepted",
        "user_notified",
        "order_completed",
    ],
    "reject": ["order_placed", "restaurant_notified", "order_rejected"],
}
Record = Callable[[str, str], None]


def order_name(n: int) -> str:
    return f"order-{n:06d}"


def number_of(order_id: str) -> int:
    return int(order_id.rsplit("-", 1)[1])


def order_input(n: int) -> dict[str, Json]:
    return {
        "order": {
            "orderId": order_name(n),
            "restaurant": f"restaurant-{n % 7}",
            "email": f"customer{n}@example.com",
            "address": f"{n} Main Street",
            "items": [{"item": "pizza", "quantity": 1 + n % 3}],
            "totalCents": 1000 + n,
        }
    }


def decision_of(order_id: str) -> dict[str, Json]:
    """The restaurant's answer: every fourth order is rejected."""
    n = number_of(order_id)
    if n % 4 == 3:
        return {"decision": "reject", "reason": "kitchen closed", "acceptanceSeconds": 1.5}
    return {"decision": "accept", "reason": None, "acceptanceSeconds": 1.5}


def _notified(order_id: str) -> dict[str, Json]:
    return {"notifiedAt": f"screen of {order_id}"}


def _emailed(order_id: str) -> dict[str, Json]:
    return {"emailedTo": f"customer{number_of(order_id)}@example.com"}


def _delivered(order_id: str) -> dict[str, Json]:
    return {"deliveredAt": f"door of {order_id}"}


def _voucher(order_id: str) -> dict[str, Json]:
    return {"code": f"V-{number_of(order_id)}"}


def expected_events(n: int) -> list[str]:
    return EVENTS[str(decision_of(order_name(n))["decision"])]


def expected_output(n: int) -> dict[str, Json]:
    """What every execution must end with: its input and each step's deterministic result."""
    order_id = order_name(n)
    output = order_input(n)
    output["notified"] = _notified(order_id)
    output["decision"] = decision_of(order_id)
    if output["decision"]["decision"] == "accept":
        output["userNotified"] = _emailed(order_id)
        output["delivery"] = _delivered(order_id)
        output["voucher"] = _voucher(order_id)
    return output


class Coordination:
    """The ``chaos_orders`` table: a token and the answer for it meet under a row lock.

    One connection per process, used from worker threads one call at a time; a call retries
    (reconnecting) while the database is away, so a PostgreSQL restart is not a handler error.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.lock = threading.Lock()
        self.connection: psycopg.Connection[Any] | None = None

    def create(self) -> None:
        self._call(
            lambda c: c.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (order_id TEXT NOT NULL, "
                "kind TEXT NOT NULL, done BOOLEAN NOT NULL DEFAULT FALSE, token TEXT, "
                "PRIMARY KEY (order_id, kind))"
            )
        )

    def _call(self, work: Callable[[psycopg.Connection[Any]], Any]) -> Any:
        deadline = time.monotonic() + RETRY_SECONDS
        with self.lock:
            while True:
                try:
                    if self.connection is None or self.connection.closed:
                        self.connection = psycopg.connect(self.url, connect_timeout=5)
                    with self.connection.transaction():
                        return work(self.connection)
                except psycopg.OperationalError:
                    if self.connection is not None:
                        self.connection.close()
                    self.connection = None
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)

    def _lock_row(self, connection: psycopg.Connection[Any], order_id: str, kind: str) -> Any:
        connection.execute(
            f"INSERT INTO {TABLE} (order_id, kind) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (order_id, kind),
        )
        return connection.execute(
            f"SELECT done, token FROM {TABLE} WHERE order_id = %s AND kind = %s FOR UPDATE",
            (order_id, kind),
        ).fetchone()

    def offer_token(self, order_id: str, kind: str, token: str) -> bool:
        """Leave the task token; whether the answer is already there (then send it now)."""

        def work(connection: psycopg.Connection[Any]) -> bool:
            done, _ = self._lock_row(connection, order_id, kind)
            connection.execute(
                f"UPDATE {TABLE} SET token = %s WHERE order_id = %s AND kind = %s",
                (token, order_id, kind),
            )
            return bool(done)

        return bool(self._call(work))

    def answer(self, order_id: str, kind: str) -> str | None:
        """Record the answer; the waiting task's token if it is already there."""

        def work(connection: psycopg.Connection[Any]) -> str | None:
            _, token = self._lock_row(connection, order_id, kind)
            connection.execute(
                f"UPDATE {TABLE} SET done = TRUE WHERE order_id = %s AND kind = %s",
                (order_id, kind),
            )
            return None if token is None else str(token)

        result: str | None = self._call(work)
        return result

    def close(self) -> None:
        with self.lock:
            if self.connection is not None:
                self.connection.close()
                self.connection = None


def file_recorder(path: str) -> Record:
    """Durably append ``TIME PID HANDLER KEY`` lines: one write per line, fsync before
    returning, so a line is on disk before the handler's side effect happens."""
    lock = threading.Lock()
    pid = os.getpid()

    def record(handler: str, key: str) -> None:
        line = f"{time.time():.6f} {pid} {handler} {key}\n".encode()
        with lock:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    return record


def _declare(app: App) -> None:
    app.state_machine(MACHINE, str(DEFINITION))
    app.event_bus(BUS)

    def target(name: str) -> dict[str, Json]:
        return {"Id": name, "Arn": app.handler_arn(f"chaos-{name}")}

    app.rule(
        "restaurant",
        bus=BUS,
        event_pattern={"source": ["food.orders"], "detail-type": ["restaurant_notified"]},
        targets=[target("restaurant")],
    )
    app.rule(
        "courier",
        bus=BUS,
        event_pattern={"source": ["food.orders"], "detail-type": ["user_notified"]},
        targets=[target("courier")],
    )
    app.rule(
        "audit",
        bus=BUS,
        event_pattern={"source": ["food.orders"]},
        targets=[
            target("audit"),
            {"Id": "queue", "Arn": f"arn:aws:sqs:{app.region}:{app.account}:{AUDIT_QUEUE}"},
        ],
    )


def make_app(
    database_url: str,
    record: Record | None = None,
    *,
    latency: float = 0.0,
    table: Coordination | None = None,
) -> App:
    """The app on ``database_url``; without ``record`` a client with no handlers (an API
    process: it deploys and starts executions). Handlers use ``table`` (by default a
    :class:`Coordination` of their own on the same database)."""
    app = App(
        database_url,
        lease_seconds=LEASE_SECONDS,
        poll_seconds=POLL_SECONDS,
        strict=record is not None,
    )
    _declare(app)
    if record is not None:
        _handlers(app, record, table or Coordination(database_url), latency)
    return app


def _handlers(app: App, record: Record, table: Coordination, latency: float) -> None:
    async def work(handler: str, key: str) -> None:
        # Recorded first: a kill after this line and before the result commits is a
        # redelivered call. The latency stands for the remote call a real handler makes.
        await asyncio.to_thread(record, handler, key)
        if latency:
            await asyncio.sleep(latency)

    def send(token: str, output: dict[str, Json]) -> None:
        deadline = time.monotonic() + RETRY_SECONDS
        while True:
            try:
                app.control.send_task_success(token, output)
                return
            except TaskTimedOut:
                return  # answered already (by the other side, or an earlier delivery)
            except StoreError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def task(name: str, result: Callable[[str], dict[str, Json]]) -> None:
        async def handler(payload: Any, context: Any) -> Any:
            await work(name, context.idempotency_key)
            return result(payload["orderId"])

        app.handlers.register(name, handler)

    task("notify-restaurant", _notified)
    task("notify-user", _emailed)
    task("issue-voucher", _voucher)

    def waiting(name: str, kind: str, answer: Callable[[str], dict[str, Json]]) -> None:
        async def handler(payload: Any, context: Any) -> None:
            await work(name, context.idempotency_key)
            order_id, token = payload["orderId"], payload["taskToken"]
            if await asyncio.to_thread(table.offer_token, order_id, kind, token):
                context.send_task_success(token, answer(order_id))

        app.handlers.register(name, handler)

    waiting("await-decision", "decision", decision_of)
    waiting("await-delivery", "delivery", _delivered)

    def answering(name: str, kind: str, answer: Callable[[str], dict[str, Json]]) -> None:
        async def handler(event: Any, context: Any) -> None:
            await work(name, context.event_id)
            order_id = event["detail"]["orderId"]
            token = await asyncio.to_thread(table.answer, order_id, kind)
            if token is not None:
                await asyncio.to_thread(send, token, answer(order_id))

        app.handlers.register(f"chaos-{name}", handler)

    answering("restaurant", "decision", decision_of)
    answering("courier", "delivery", _delivered)

    async def audit(event: Any, context: Any) -> None:
        await work("audit", context.event_id)

    app.handlers.register("chaos-audit", audit)

    async def record_outcome(payload: Any, context: Any) -> Any:
        # Only on the timeout and cancellation paths, which this test never takes.
        await work("record-outcome", context.idempotency_key)
        return {"status": payload["action"], "reason": payload["reason"]}

    app.handlers.register("record-outcome", record_outcome)


async def _serve(database_url: str, effects_path: str, latency: float) -> None:
    app = make_app(database_url, file_recorder(effects_path), latency=latency)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    deadline = time.monotonic() + RETRY_SECONDS
    while True:
        try:
            await app.start()  # a worker started while PostgreSQL restarts waits for it
            break
        except StoreError:
            await app.stop()
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
    try:
        print("READY", flush=True)
        await stop.wait()
    finally:
        await app.stop()


def main(argv: list[str]) -> int:
    database_url, effects_path, *rest = argv
    latency = float(rest[0]) if rest else 0.02
    asyncio.run(_serve(database_url, effects_path, latency))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
