"""The process the JetStream crash test kills: it publishes events and delivers them, slowly.

Run as ``python jetstream_node.py DB_PATH EFFECTS_PATH NATS_URL STREAM [deliver]``: it opens
the SQLite file (whose rules the test set up), runs a :class:`~oncue.bus.jetstream.JetStreamBus`
on the stream ``STREAM`` whose ``sink`` handler is slow, prints ``READY``, then publishes
events as fast as it can three ways — PutEvents through the relay (group commit), PutEvents
through the API, and outbox rows as an execution's transition writes them — and prints
``ACCEPTED <event id>`` for each once its transaction committed. Deliveries fall behind, so a
SIGKILL lands while rows wait to be relayed, messages wait in JetStream, and handlers run.

The handler appends ``PID EVENT_ID`` to the effects file (``bus_crash_node.effects_recorder``).
With ``deliver`` it only delivers (no relay, no publishing): one of several processes sharing
the targets' consumers.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from typing import Any

from bus_crash_node import EXECUTION, effects_recorder, entry

from oncue.bus.jetstream import JetStreamBus
from oncue.bus.service import EventBus
from oncue.bus.streams import Layout
from oncue.store import SQLiteStore
from oncue.transport.jetstream import JetStreamTransport

__all__ = ["LEASE_SECONDS"]

#: The relay's lease on rows and the consumers' ack_wait.
LEASE_SECONDS = 1.0
DELIVERY_SECONDS = 0.02


def _accepted(ids: list[str]) -> None:
    sys.stdout.write("".join(f"ACCEPTED {i}\n" for i in ids))
    sys.stdout.flush()


async def main(db: str, effects: str, url: str, stream: str, mode: str = "") -> None:
    store = SQLiteStore(f"sqlite:///{db}")
    record = effects_recorder(effects)

    async def sink(event: dict[str, Any]) -> None:
        record(event["id"])
        await asyncio.sleep(DELIVERY_SECONDS)

    bus = JetStreamBus(
        store,
        {"sink": sink},
        JetStreamTransport(url),
        layout=Layout(stream=stream, prefix=stream.lower()),
        concurrency=4,
        lease_seconds=LEASE_SECONDS,
        poll_seconds=0.05,
        refresh_seconds=0.05,
        relay=mode != "deliver",
    )
    if mode == "deliver":
        print("READY", flush=True)
        await bus.run()
        return
    api = EventBus(store)
    runner = asyncio.create_task(bus.run())
    while not bus.stats["published"]:  # the stream and the consumer exist, events flow
        await bus.put_events([entry(-1)])
        await asyncio.sleep(0.01)
    print("READY", flush=True)
    n = 0
    while True:
        response = await bus.put_events([entry(n + k) for k in range(5)])
        _accepted([e["EventId"] for e in response["Entries"]])
        response = api.put_events([entry(n + 5)])
        _accepted([e["EventId"] for e in response["Entries"]])
        event_id = str(uuid.uuid4())
        with store.transaction() as tx:
            tx.add_outbox([(event_id, EXECUTION, json.dumps(entry(n + 6)), time.time())])
        _accepted([event_id])
        bus.wake()
        n += 7
        assert not runner.done()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
