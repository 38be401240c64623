"""The dead-letter lookups use an index on SQLite and on PostgreSQL, never a full table scan.

Each lookup runs through the store's own statement methods; the statements they send are
recorded and explained by the database itself (SQLite's EXPLAIN QUERY PLAN; PostgreSQL's
EXPLAIN with sequential scans priced out, so that an empty table still shows whether an index
could serve the query).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from oncue.store import SQLiteStore, open_store
from oncue.store.base import Store
from oncue.store.bus_relay import RelayTx
from oncue.store.bus_sql import BusTx
from oncue.store.sql import Tx


class Recording:
    """A cursor that remembers the statements sent through it."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        self.sent: list[tuple[str, Sequence[Any]]] = []

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Any:
        self.sent.append((sql, params))
        return self.cursor.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cursor, name)


LOOKUPS: dict[str, Callable[[Tx], object]] = {
    "is this delivery a dead letter": lambda tx: RelayTx(tx).has_dead_letter(("e", "r", "t")),
    "dead letters of a bus": lambda tx: BusTx(tx).list_dead_letters("orders", 0, 10),
    "all dead letters": lambda tx: BusTx(tx).list_dead_letters(None, 0, 10),
    "one dead letter": lambda tx: BusTx(tx).get_dead_letter(1),
}


def plans(store: Store, lookup: Callable[[Tx], object]) -> list[str]:
    """The plan of each statement ``lookup`` sends, one string per statement."""
    with store.transaction() as tx:
        assert isinstance(tx, Tx)
        cursor = tx.cursor
        recording = Recording(cursor)
        tx.cursor = recording
        try:
            lookup(tx)
        finally:
            tx.cursor = cursor
        assert recording.sent, "the lookup sent no statement"
        if tx.dialect == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            explain = "EXPLAIN "
        else:
            explain = "EXPLAIN QUERY PLAN "
        return [
            "\n".join(str(row[-1]) for row in cursor.execute(explain + sql, params).fetchall())
            for sql, params in recording.sent
        ]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened: Store = SQLiteStore(f"sqlite:///{tmp_path / 'oncue.db'}")
    else:
        opened = open_store(request.getfixturevalue("postgres_url"))
    yield opened
    opened.close()


@pytest.mark.parametrize("lookup", sorted(LOOKUPS))
def test_dead_letter_lookups_use_an_index(store: Store, lookup: str) -> None:
    for plan in plans(store, LOOKUPS[lookup]):
        if isinstance(store, SQLiteStore):
            # Every step searches an index; "SCAN" would read the whole table.
            assert all(step.startswith("SEARCH") for step in plan.splitlines()), plan
        else:
            assert "Seq Scan" not in plan and "Index" in plan, plan
