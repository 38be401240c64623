"""kill -9 a dispatcher in the middle of a replay: a new process finishes it, and every event
of the window reaches the (exactly-once, in-transaction) queue target exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from oncue.bus.service import EventBus
from oncue.store import SQLiteStore

NODE = Path(__file__).with_name("replay_crash_node.py")
QUEUE = "arn:aws:sqs:us-east-1:123456789012:"
EVENTS = 2000


def spawn(db: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(NODE), str(db)],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "READY"
    return process


def replayed(bus: EventBus) -> int:
    with bus.store.read() as tx:
        return int(tx.one("SELECT replayed FROM bus_replays WHERE name = 'r'")[0])


def test_kill_9_in_the_middle_of_a_replay_loses_and_repeats_nothing(tmp_path: Path) -> None:
    db = tmp_path / "oncue.db"
    store = SQLiteStore(f"sqlite:///{db}")
    try:
        bus = EventBus(store)
        bus.create_archive("all", "default")
        start = datetime.now(UTC) - timedelta(hours=1)
        for first in range(0, EVENTS, 10):
            bus.put_events(
                [
                    {
                        "Source": "shop",
                        "DetailType": "Placed",
                        "Detail": json.dumps({"n": n}),
                        "Time": (start + timedelta(seconds=n)).isoformat(),
                    }
                    for n in range(first, first + 10)
                ]
            )
        bus.put_rule("replays", event_pattern=json.dumps({"replay-name": ["r"]}))
        bus.put_targets("replays", [{"Id": "q", "Arn": QUEUE + "replayed"}])
        bus.start_replay(
            "r",
            "arn:aws:events:us-east-1:123456789012:archive/all",
            start - timedelta(minutes=1),
            datetime.now(UTC),
            {"Arn": "default"},
        )
        kills = 0
        deadline = time.monotonic() + 60
        while bus.describe_replay("r")["State"] != "COMPLETED":
            assert time.monotonic() < deadline, bus.describe_replay("r")
            process = spawn(db)
            if kills < 3:
                before = replayed(bus)
                while replayed(bus) < min(before + 300, EVENTS - 100):
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                assert process.stdout is not None
                process.stdout.close()
                kills += 1
                continue
            while bus.describe_replay("r")["State"] != "COMPLETED":
                assert time.monotonic() < deadline
                time.sleep(0.02)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
            assert process.stdout is not None
            process.stdout.close()
        assert kills == 3
        with store.read() as tx:
            bodies = [json.loads(row[0]) for row in tx.all("SELECT body FROM queue_messages")]
        numbers = sorted(body["detail"]["n"] for body in bodies)
        assert numbers == list(range(EVENTS))  # each once: no loss, no duplicate
        assert replayed(bus) == EVENTS
    finally:
        store.close()
