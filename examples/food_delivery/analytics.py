"""The analytics sink: archives every order event for a data lake, and the daily report.

The article: "the events are useful artefacts on their own, and can be fed into a data lake
to generate business intelligence reports". A rule matching every ``food.orders`` event
delivers to :class:`Archive`, which appends each envelope once (by event id: the bus delivers
at least once) to ``DIR/date=YYYY-MM-DD/events.jsonl`` — the Hive-style partitioning data-lake
tools read. :func:`daily_report` is computed from the archive alone: orders per restaurant,
acceptance times and timeouts, with no access to the orders context's database.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson

from food_delivery.context import Context
from food_delivery.events import BUS, SOURCE

__all__ = ["Archive", "daily_report", "install", "percentile"]


class Archive:
    """Append-only JSON Lines files, one per UTC day of the events' time."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._seen: set[str] = {e["id"] for e in self.events()}

    def _file(self, day: str) -> Path:
        return self.root / f"date={day}" / "events.jsonl"

    def append(self, event: dict[str, Any]) -> bool:
        """Keep the event unless already kept; True when it was new."""
        with self._lock:
            if event["id"] in self._seen:
                return False
            path = self._file(str(event["time"])[:10])
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as out:
                out.write(orjson.dumps(event) + b"\n")
            self._seen.add(event["id"])
            return True

    def days(self) -> list[str]:
        return sorted(p.parent.name.removeprefix("date=") for p in self.root.glob("date=*/*"))

    def events(self, day: str | None = None) -> list[dict[str, Any]]:
        files = [self._file(day)] if day else sorted(self.root.glob("date=*/events.jsonl"))
        found: list[dict[str, Any]] = []
        for path in files:
            if path.exists():
                found.extend(orjson.loads(line) for line in path.read_bytes().splitlines())
        return found


def install(ctx: Context, archive: Archive) -> None:
    @ctx.app.on({"source": [SOURCE]}, bus=BUS, name="analytics-archive")
    def keep(event: dict[str, Any]) -> None:
        archive.append(event)


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


_OUTCOMES = {
    "order_completed": "completed",
    "order_rejected": "rejected",
    "order_timed_out": "timedOut",
    "order_cancelled": "cancelled",
}


def daily_report(archive: Archive, day: str) -> dict[str, Any]:
    """Orders per restaurant, acceptance times and timeouts of one UTC day."""
    events = archive.events(day)
    per: dict[str, Counter[str]] = defaultdict(Counter)
    waits: dict[str, list[float]] = defaultdict(list)
    for event in events:
        detail, kind = event["detail"], event["detail-type"]
        shop = detail.get("restaurant", "?")
        if kind == "order_placed":
            per[shop]["orders"] += 1
        elif kind == "order_accepted":
            per[shop]["accepted"] += 1
            waits[shop].append(float(detail["acceptanceSeconds"]))
        elif kind in _OUTCOMES:
            per[shop][_OUTCOMES[kind]] += 1
    restaurants = {}
    for shop in sorted(per):
        times = waits[shop]
        restaurants[shop] = {
            **{k: per[shop][k] for k in ("orders", "accepted", *_OUTCOMES.values())},
            "acceptanceSeconds": {
                "p50": percentile(times, 0.5),
                "p90": percentile(times, 0.9),
                "max": max(times) if times else None,
            },
        }
    all_waits = [w for times in waits.values() for w in times]
    return {
        "date": day,
        "events": len(events),
        "eventsByType": dict(Counter(e["detail-type"] for e in events)),
        "orders": sum(c["orders"] for c in per.values()),
        "timeouts": sum(c["timedOut"] for c in per.values()),
        "acceptanceSeconds": {
            "p50": percentile(all_waits, 0.5),
            "p90": percentile(all_waits, 0.9),
        },
        "restaurants": restaurants,
    }
