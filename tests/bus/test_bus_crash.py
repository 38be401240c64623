"""Crash test: a publishing, delivering process is killed with SIGKILL; nothing is lost.

``bus_crash_node.py`` (beside this file) publishes events three ways (PutEvents through its
dispatcher, PutEvents through the API, the outbox) and delivers them slower than it publishes.
It is killed with ``kill -9`` while deliveries are pending; a dispatcher restarted on the same
file must then deliver every event the killed process reported accepted, at least once to the
handler target, and exactly once to the queue target (an inline target, delivered in the
transaction that deletes its delivery).
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from bus_crash_node import SOURCE, effects_recorder  # beside this file

from oncue.bus.dispatch import Dispatcher
from oncue.bus.service import EventBus
from oncue.store import SQLiteStore

NODE = Path(__file__).with_name("bus_crash_node.py")
FN = "arn:aws:lambda:us-east-1:123456789012:function:"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:"
READY_TIMEOUT = 20.0


def spawn(db: Path, effects: Path, stderr: Path) -> subprocess.Popen[bytes]:
    with stderr.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, str(NODE), str(db), str(effects)],
            stdout=subprocess.PIPE,
            stderr=sink,
            stdin=subprocess.DEVNULL,
        )


def wait_ready(process: subprocess.Popen[bytes], stderr: Path) -> None:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        assert selector.select(READY_TIMEOUT), "the publisher did not start"
    line = process.stdout.readline()
    assert line.strip() == b"READY", stderr.read_text()


def pending(store: SQLiteStore) -> int:
    with store.read() as tx:
        return int(tx.one("SELECT COUNT(*) FROM bus_deliveries")[0]) + int(
            tx.one("SELECT COUNT(*) FROM outbox")[0]
        )


def test_kill_9_between_publishing_and_delivering_loses_nothing(tmp_path: Path) -> None:
    db, effects = tmp_path / "oncue.db", tmp_path / "effects.log"
    store = SQLiteStore(f"sqlite:///{db}")
    bus = EventBus(store)
    bus.put_rule("ticks", event_pattern=json.dumps({"source": [SOURCE]}))
    bus.put_targets(
        "ticks",
        [
            {"Id": "sink", "Arn": FN + "sink"},
            {"Id": "copy", "Arn": QUEUE + "copies", "InputPath": "$.id"},
        ],
    )

    process = spawn(db, effects, tmp_path / "node.stderr")
    chunks: list[bytes] = []
    stdout = process.stdout
    assert stdout is not None
    # Drain its output while it runs: a full pipe would stall it, and the kill must land while
    # it publishes and delivers.
    descriptor = stdout.fileno()
    reader = threading.Thread(
        target=lambda: chunks.extend(iter(lambda: os.read(descriptor, 65536), b""))
    )
    try:
        wait_ready(process, tmp_path / "node.stderr")
        reader.start()
        time.sleep(1.0)
        assert process.poll() is None, (tmp_path / "node.stderr").read_text()
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    reader.join(10)
    stdout.close()
    output = b"".join(chunks).decode()
    # Only whole lines: the kill may cut the last one.
    accepted = {
        line.split(" ")[1] for line in output.split("\n")[:-1] if line.startswith("ACCEPTED ")
    }
    handled_before = Counter(line.split(" ")[1] for line in effects.read_text().splitlines())
    left = pending(store)
    assert len(accepted) > 100
    assert left > 0, "the kill came after every delivery: nothing was tested"

    # Restart: a dispatcher on the same file, after the dead process's leases run out.
    record = effects_recorder(str(effects))

    async def restart() -> float:
        dispatcher = Dispatcher(store, {"sink": lambda e: record(e["id"])}, poll_seconds=0.05)
        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher.run(stop))
        started = time.monotonic()
        try:
            while pending(store):
                assert not task.done()
                assert time.monotonic() - started < 30, f"{pending(store)} still pending"
                await asyncio.sleep(0.02)
        finally:
            stop.set()
            await task
        return time.monotonic() - started

    recovery = asyncio.run(restart())

    handled = Counter(line.split(" ")[1] for line in effects.read_text().splitlines())
    copies: list[str] = []
    while messages := bus.receive_messages("copies", 10, 300)["Messages"]:
        assert isinstance(messages, list)
        copies.extend(json.loads(m["Body"]) for m in messages)
    with store.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM bus_events")[0] == 0
        assert tx.one("SELECT COUNT(*) FROM bus_dead_letters")[0] == 0
    store.close()

    # Every event the killed process reported accepted was delivered, to both targets.
    assert accepted <= set(handled)
    assert accepted <= set(copies)
    # The queue target got each committed event exactly once; the handler each at least once
    # (a few twice: those running when the process died), and nothing that was not committed.
    assert len(copies) == len(set(copies))
    assert set(handled) == set(copies)
    redelivered = sum(handled.values()) - len(handled)
    print(
        f"\nkill -9: {len(accepted)} events reported accepted, {len(copies)} committed; "
        f"{sum(handled_before.values())} handler deliveries before the kill, {left} deliveries "
        f"pending at the kill, {redelivered} redelivered; recovery {recovery:.2f} s"
    )
