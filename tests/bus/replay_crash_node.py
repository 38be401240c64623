"""The process the replay crash test kills: a dispatcher that replays in small batches.

Run as ``python replay_crash_node.py DB_PATH``: it opens the SQLite file (where the test put
an archive, a rule to an internal queue and a started replay), prints ``READY`` and runs a
:class:`~oncue.bus.dispatch.Dispatcher` with a batch of 25 until it is killed or stopped.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from oncue.bus.dispatch import Dispatcher
from oncue.store import SQLiteStore

__all__ = ["BATCH"]

BATCH = 25


async def main(db: str) -> None:
    store = SQLiteStore(f"sqlite:///{db}")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    dispatcher = Dispatcher(store, {}, batch=BATCH, poll_seconds=0.02)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    try:
        await dispatcher.run(stop)
    finally:
        store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
