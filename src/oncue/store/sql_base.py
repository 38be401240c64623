"""The plumbing of a SQL transaction: placeholders, helpers, savepoints.

Statements are written with ``?`` placeholders; the PostgreSQL driver's are substituted once
per statement (a cached rewrite, :mod:`~oncue.store.placeholders`). Where a statement claims
rows several processes may claim at once, it ends with :meth:`TxBase.claiming`: nothing on
SQLite (its single writer lock already serialises claims), ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so two workers never claim the same row and neither waits for the other. The
statements themselves live in one module per group of tables (:mod:`~oncue.store.sql_catalog`,
:mod:`~oncue.store.sql_executions`, :mod:`~oncue.store.sql_work`), combined into
:class:`oncue.store.sql.Tx`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from oncue.store.placeholders import to_format_style

__all__ = ["Cursor", "TxBase"]


class Cursor(Protocol):
    """The part of a DB-API cursor a transaction uses."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...
    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...

    @property
    def rowcount(self) -> int: ...


class TxBase:
    """A transaction's cursor and the helpers every group of statements uses."""

    def __init__(
        self,
        cursor: Cursor,
        dialect: str,
        driver_errors: tuple[type[Exception], ...] = (),
        integrity_errors: tuple[type[Exception], ...] = (),
    ) -> None:
        self.cursor = cursor
        self.dialect = dialect
        #: The database driver's exceptions: a failing statement, not a failing execution.
        self.driver_errors: tuple[type[Exception], ...] = (*driver_errors, OSError)
        #: The driver's constraint violations (a duplicate key): one statement refused, the
        #: transaction still usable (unlike a lost connection, also a driver error).
        self.integrity_errors = integrity_errors
        self.savepoints = 0

    # --- plumbing ----------------------------------------------------------------------

    def announce(self, topic: str) -> None:
        """At commit, wake other processes' loops of ``topic`` (``engine`` or ``bus``) for
        work an UPDATE made available (PostgreSQL's NOTIFY; SQLite's processes poll)."""

    def _sql(self, sql: str) -> str:
        return to_format_style(sql) if self.dialect == "postgresql" else sql

    def claiming(self, of: str | None = None) -> str:
        """The tail of a SELECT that claims the rows it returns (see the module docstring);
        ``of`` names the table whose rows are locked in a join."""
        if self.dialect != "postgresql":
            return ""
        return f" FOR UPDATE OF {of} SKIP LOCKED" if of else " FOR UPDATE SKIP LOCKED"

    def run(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        self.cursor.execute(self._sql(sql), params)
        return self.cursor

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if rows:
            self.cursor.executemany(self._sql(sql), rows)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.run(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.run(sql, params).fetchall()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: what fails inside is undone, the rest stays."""
        self.savepoints += 1
        name = f"sp{self.savepoints}"
        self.run(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.run(f"ROLLBACK TO SAVEPOINT {name}")
            self.run(f"RELEASE SAVEPOINT {name}")
            raise
        self.run(f"RELEASE SAVEPOINT {name}")
