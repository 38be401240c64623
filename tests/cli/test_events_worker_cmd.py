"""The operator's path through real processes: ``oncue worker APP`` delivers; ``oncue events``
publishes, archives, exports and replays over the same database."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cli_support import make_oncue, stop_worker

APP = """
import json
from pathlib import Path

import oncue

HERE = Path(__file__).parent
app = oncue.App(poll_seconds=0.05)


@app.on({"source": ["shop"]})
def record(event):
    line = {"n": event["detail"]["n"], "replay": event.get("replay-name")}
    with open(HERE / "seen.jsonl", "a") as out:
        out.write(json.dumps(line) + "\\n")
"""


def seen(directory: Path) -> list[dict[str, Any]]:
    path = directory / "seen.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def wait(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_worker_delivers_published_and_replayed_events(tmp_path: Path) -> None:
    oncue = make_oncue(tmp_path)
    app = oncue.write("app.py", APP)
    process = oncue.worker(f"{app}:app")
    try:
        oncue("events", "archives", "create", "shop", "--pattern", '{"source": ["shop"]}')
        now = datetime.now(UTC).replace(microsecond=0)
        entries = [
            {
                "Source": "shop",
                "DetailType": "Placed",
                "Detail": json.dumps({"n": n}),
                "Time": (now - timedelta(minutes=30 - n)).isoformat(),
            }
            for n in range(3)
        ]
        oncue("events", "put", "--entries", json.dumps(entries))
        wait(lambda: len(seen(tmp_path)) == 3)
        exported = oncue("events", "archives", "export", "shop").stdout.splitlines()
        assert [json.loads(line)["detail"]["n"] for line in exported] == [0, 1, 2]
        oncue(
            "events", "replay", "start", "again", "--archive", "shop",
            "--start", (now - timedelta(minutes=29)).isoformat(), "--end", now.isoformat(),
        )  # fmt: skip
        wait(lambda: oncue.json("events", "replay", "describe", "again")["State"] == "COMPLETED")
        wait(lambda: len(seen(tmp_path)) == 5)
    finally:
        stop_worker(process)
    replayed = sorted(line["n"] for line in seen(tmp_path) if line["replay"] == "again")
    assert replayed == [1, 2]
    assert oncue.json("events", "archives", "describe", "shop")["EventCount"] == 3
