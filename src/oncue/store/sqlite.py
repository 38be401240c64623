"""The embedded backend: one SQLite file, safe to share between processes.

Durability settings (SQLite "Write-Ahead Logging" and "PRAGMA synchronous"): WAL journal with
``synchronous=FULL`` syncs the log at every commit, so a committed transition survives a power
cut, not only a process crash. Writers take the write lock at ``BEGIN IMMEDIATE`` (never
upgrading a read lock, which could fail with SQLITE_BUSY mid-transaction), and wait up to the
busy timeout for another process's writer. Readers never block writers.

Connections are per thread: the engine runs all its store work on one thread, the CLI on its
own. ``sqlite://:memory:`` keeps everything in memory (one connection), for tests and
``oncue execute``-style throwaway runs.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from oncue.errors import StoreError
from oncue.store.schema import MIGRATIONS, render
from oncue.store.sql import Tx

__all__ = ["BUSY_TIMEOUT_MS", "SQLiteStore", "sqlite_path"]

#: How long a writer waits for another process's write transaction before failing.
BUSY_TIMEOUT_MS = 30_000


def sqlite_path(url: str) -> str:
    """``sqlite:///relative.db``, ``sqlite:////abs/path.db`` or ``sqlite://:memory:``."""
    rest = url.removeprefix("sqlite://")
    if rest in (":memory:", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/"):
        raise StoreError(f"invalid SQLite URL {url!r}: expected sqlite:///PATH")
    if "://" in rest:  # sqlite:///postgresql://... would create a directory named postgresql:
        raise StoreError(f"invalid SQLite URL {url!r}: its path is itself a URL")
    return rest[1:]


class SQLiteStore:
    dialect = "sqlite"

    def __init__(self, url: str, *, synchronous: str = "FULL") -> None:
        self.url = url
        self.path = sqlite_path(url)
        self.synchronous = synchronous
        self._local = threading.local()
        self._shared: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._migrate()

    # --- connections -------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,  # we issue BEGIN / COMMIT ourselves
                check_same_thread=self.path != ":memory:",
            )
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if self.path != ":memory:":
                connection.execute("PRAGMA journal_mode = WAL")
            connection.execute(f"PRAGMA synchronous = {self.synchronous}")
            connection.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as error:
            raise StoreError(f"cannot open the database {self.path}: {error}") from None
        return connection

    def _connection(self) -> sqlite3.Connection:
        if self.path == ":memory:":
            if self._shared is None:
                self._shared = self._connect()
            return self._shared
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
        return connection

    @contextmanager
    def _begin(self, mode: str) -> Iterator[Tx]:
        with self._lock if self.path == ":memory:" else _nolock():
            connection = self._connection()
            try:
                connection.execute(f"BEGIN {mode}")
            except sqlite3.Error as error:
                raise StoreError(f"cannot start a transaction on {self.path}: {error}") from None
            tx = Tx(connection.cursor(), self.dialect, (sqlite3.Error,), (sqlite3.IntegrityError,))
            try:
                yield tx
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            try:
                connection.execute("COMMIT")
            except sqlite3.Error as error:
                connection.execute("ROLLBACK")
                raise StoreError(f"commit failed on {self.path}: {error}") from None

    def transaction(self) -> AbstractContextManager[Tx]:
        return self._begin("IMMEDIATE")

    def read(self) -> AbstractContextManager[Tx]:
        return self._begin("DEFERRED")

    def watch(self, topic: str, callback: Callable[[], None]) -> Callable[[], None]:
        """SQLite cannot tell one process about another's commits: workers poll."""
        return _nothing

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    # --- migrations --------------------------------------------------------------------

    def _migrate(self) -> None:
        with self.transaction() as tx:
            tx.run(
                "CREATE TABLE IF NOT EXISTS oncue_schema (version INTEGER PRIMARY KEY, "
                "description TEXT NOT NULL, applied REAL NOT NULL)"
            )
            applied = {row[0] for row in tx.all("SELECT version FROM oncue_schema")}
            newest = max((v for v, _, _ in MIGRATIONS), default=0)
            unknown = [v for v in applied if v > newest]
            if unknown:
                raise StoreError(
                    f"the database {self.path} has schema version {max(unknown)}, newer than "
                    f"this oncue understands ({newest}); upgrade oncue"
                )
            for version, description, statements in MIGRATIONS:
                if version in applied:
                    continue
                for statement in statements:
                    tx.run(render(statement, self.dialect))
                tx.run(
                    "INSERT INTO oncue_schema (version, description, applied) VALUES (?, ?, ?)",
                    (version, description, time.time()),
                )

    def schema_version(self) -> int:
        with self.read() as tx:
            row = tx.one("SELECT MAX(version) FROM oncue_schema")
        return int(row[0] or 0)


def _nothing() -> None:
    return None


@contextmanager
def _nolock() -> Iterator[None]:
    yield
