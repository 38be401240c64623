"""What every store provides: transactions over the engine's tables.

A store is opened from a URL (``sqlite:///path``, ``sqlite://:memory:``; ``postgresql://``
in the scale-out backend) and hands out :class:`~oncue.store.sql.Tx` transactions. Everything
one ``with store.transaction() as tx:`` block does commits together or not at all; an
exception inside the block rolls it back and propagates.

``watch(topic, callback)`` is how an idle worker hears that another process committed work
for it (``engine``: executions to advance, tasks to claim; ``bus``: deliveries, outbox rows),
without waiting for its next poll. PostgreSQL implements it with LISTEN/NOTIFY; SQLite has
no such channel and calls nothing (its workers poll).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from oncue.store.sql import Tx

__all__ = ["Store"]


class Store(Protocol):
    url: str
    dialect: str

    def transaction(self) -> AbstractContextManager[Tx]: ...

    def read(self) -> AbstractContextManager[Tx]:
        """A read-only snapshot (no write lock taken)."""
        ...

    def watch(self, topic: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (from any thread) when another process commits work of
        ``topic``; returns the function that stops it."""
        ...

    def close(self) -> None: ...
