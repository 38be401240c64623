"""The bus's timed work in a dispatcher cycle: scheduled rules, replays, archive retention.

Each runs in the cycle's transaction (:mod:`.cycle`), so what it delivers and the progress it
records (a schedule's next fire time, a replay's cursor) commit together or not at all.
Retention runs at most once a minute per dispatcher: it only deletes what has expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from oncue.bus.archives import prune
from oncue.bus.replays import run_replays
from oncue.bus.router import Router
from oncue.bus.scheduler import fire_due, next_schedule
from oncue.store.bus_archive_sql import ArchiveTx
from oncue.store.sql import Tx

__all__ = ["PRUNE_EVERY_SECONDS", "Jobs", "next_job", "run_jobs"]

PRUNE_EVERY_SECONDS: Final = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Jobs:
    fired: int = 0
    replayed: int = 0
    pruned: int = 0
    #: A replay has more to do: run another cycle soon.
    more: bool = False


def run_jobs(tx: Tx, router: Router, now: datetime, batch: int, *, prune_due: bool) -> Jobs:
    fired = fire_due(tx, router, now, batch)
    replayed, more = run_replays(tx, router, now, batch)
    pruned = prune(tx, now) if prune_due else 0
    return Jobs(fired=fired, replayed=replayed, pruned=pruned, more=more)


def next_job(tx: Tx, now: float) -> float | None:
    """When timed work is next due: now while a replay runs, else the next schedule."""
    if ArchiveTx(tx).active_replays():
        return now
    return next_schedule(tx)
