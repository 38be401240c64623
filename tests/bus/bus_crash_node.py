"""The process the bus crash test kills: it publishes events and delivers them, slowly.

Run as ``python bus_crash_node.py DB_PATH EFFECTS_PATH``: it opens the SQLite file (whose
rules the test set up), runs a :class:`~oncue.bus.dispatch.Dispatcher` whose ``sink`` handler
is slow, prints ``READY``, then publishes events as fast as it can three ways — PutEvents
through the dispatcher (group commit), PutEvents through the API, and outbox rows as an
execution's transition writes them — and prints ``ACCEPTED <event id>`` for each once its
transaction committed. Deliveries fall behind, so a SIGKILL always lands between accepting
events and delivering them.

The handler appends ``PID EVENT_ID`` to the effects file (one ``os.write`` on an ``O_APPEND``
descriptor, then ``fsync``) before it returns: the record of every delivery it saw.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from oncue.bus.dispatch import Dispatcher
from oncue.bus.service import EventBus
from oncue.store import SQLiteStore

__all__ = ["DELIVERY_SECONDS", "LEASE_SECONDS", "SOURCE", "effects_recorder", "entry"]

LEASE_SECONDS = 1.0
#: How long one delivery to the sink takes in this process.
DELIVERY_SECONDS = 0.02
SOURCE = "crash.test"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:publisher:run"


def entry(n: int) -> dict[str, Any]:
    return {"Source": SOURCE, "DetailType": "Tick", "Detail": json.dumps({"n": n})}


def effects_recorder(path: str) -> Callable[[str], None]:
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def record(event_id: str) -> None:
        os.write(descriptor, f"{os.getpid()} {event_id}\n".encode())
        os.fsync(descriptor)

    return record


def _accepted(ids: list[str]) -> None:
    sys.stdout.write("".join(f"ACCEPTED {i}\n" for i in ids))
    sys.stdout.flush()


async def main(db: str, effects: str) -> None:
    store = SQLiteStore(f"sqlite:///{db}")
    record = effects_recorder(effects)

    async def sink(event: dict[str, Any]) -> None:
        record(event["id"])
        await asyncio.sleep(DELIVERY_SECONDS)

    dispatcher = Dispatcher(
        store, {"sink": sink}, concurrency=4, lease_seconds=LEASE_SECONDS, poll_seconds=0.05
    )
    api = EventBus(store)
    runner = asyncio.create_task(dispatcher.run())
    print("READY", flush=True)
    n = 0
    while True:
        response = await dispatcher.put_events([entry(n + k) for k in range(5)])
        _accepted([e["EventId"] for e in response["Entries"]])
        response = api.put_events([entry(n + 5)])
        _accepted([e["EventId"] for e in response["Entries"]])
        event_id = str(uuid.uuid4())
        with store.transaction() as tx:
            tx.add_outbox([(event_id, EXECUTION, json.dumps(entry(n + 6)), time.time())])
        _accepted([event_id])
        dispatcher.wake()
        n += 7
        assert not runner.done()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
