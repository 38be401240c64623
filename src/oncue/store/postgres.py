"""The scale-out backend: PostgreSQL, shared by any number of worker and API processes.

``ONCUE_DATABASE_URL=postgresql://user@host:5432/dbname`` (any libpq URI; its query
parameters, e.g. ``?sslmode=require&options=-csearch_path%3Doncue``, go to libpq) plus two of
oncue's own, removed before connecting:

- ``oncue_pool_size`` (default 10): connections this process keeps (psycopg_pool);
- ``oncue_idle_tx_seconds`` (default 30): how long a transaction may sit idle holding its
  locks before PostgreSQL ends it (``idle_in_transaction_session_timeout``): a worker frozen
  mid-transaction (a stopped VM, a debugger) then gives its executions back.

Transactions are explicit (``BEGIN`` ... ``COMMIT`` on an autocommit connection) at READ
COMMITTED; :meth:`PostgresStore.read` is ``REPEATABLE READ READ ONLY``, one consistent snapshot
like SQLite's read transaction. The locking that lets several processes share the work is in
:mod:`oncue.store.pg_tx`; wake-ups in :mod:`oncue.store.pg_notify`.

A failure of the database (a restart, a dropped connection, a deadlock it broke) surfaces as
:class:`~oncue.errors.StoreError` after the transaction was rolled back; the pool then checks
its idle connections and replaces the dead ones, so the caller's retry (the worker retries a
failed cycle) runs on a fresh connection.

Migrations are those of :mod:`oncue.store.schema`, applied at open in one transaction under
an advisory lock (per schema), so processes starting together apply each migration once.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import psycopg_pool

from oncue.errors import StoreError
from oncue.store.pg_notify import Listener, channel_name
from oncue.store.pg_tx import PgTx
from oncue.store.schema import MIGRATIONS, render
from oncue.store.sql import Tx

__all__ = ["PostgresStore", "split_url"]

#: The first key of the advisory lock migrations take (the second is the schema's hash).
_MIGRATION_LOCK = 0x6F6E6375  # "oncu"
_OWN_PARAMETERS = {"oncue_pool_size": 10.0, "oncue_idle_tx_seconds": 30.0}
CONNECT_TIMEOUT = 30.0


def split_url(url: str) -> tuple[str, dict[str, float]]:
    """The libpq URI without oncue's own query parameters, and those parameters."""
    parts = urlsplit(url)
    own = dict(_OWN_PARAMETERS)
    kept = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in own:
            try:
                own[key] = float(value)
            except ValueError:
                raise StoreError(
                    f"invalid {key}={value!r} in the database URL: expected a number"
                ) from None
            if own[key] <= 0:
                raise StoreError(f"invalid {key}={value!r} in the database URL: must be > 0")
        else:
            kept.append((key, value))
    scheme = "postgresql" if parts.scheme in ("postgresql", "postgres") else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(kept), "")), own


class PostgresStore:
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self.conninfo, own = split_url(url)
        self.pool_size = int(own["oncue_pool_size"])
        self.idle_tx_seconds = own["oncue_idle_tx_seconds"]
        #: Identifies this store's notifications (ignored by its own listener).
        self.instance = uuid.uuid4().hex
        self._driver_errors: tuple[type[Exception], ...] = (psycopg.Error,)
        try:
            # One direct attempt first: a wrong host or database fails at once, clearly.
            psycopg.connect(self.conninfo, connect_timeout=10).close()
        except psycopg.Error as error:
            reason = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
            raise StoreError(
                f"cannot connect to PostgreSQL at {_safe(self.conninfo)}: {reason}"
            ) from None
        self.pool = psycopg_pool.ConnectionPool(
            self.conninfo,
            min_size=1,
            max_size=max(1, self.pool_size),
            kwargs={"autocommit": True},
            configure=self._configure,
            open=False,
            name="oncue",
        )
        try:
            self.pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except psycopg_pool.PoolTimeout:
            self.pool.close()
            raise StoreError(f"cannot connect to PostgreSQL at {_safe(self.conninfo)}") from None
        self._listener: Listener | None = None
        self._listener_lock = threading.Lock()
        self.namespace = ""
        try:
            self.namespace = self._migrate()
        except BaseException:
            self.pool.close()
            raise

    def _configure(self, connection: psycopg.Connection[Any]) -> None:
        milliseconds = int(self.idle_tx_seconds * 1000)
        connection.execute(f"SET idle_in_transaction_session_timeout = {milliseconds}")

    # --- transactions ------------------------------------------------------------------

    @contextmanager
    def _begin(self, begin: str, *, read_only: bool) -> Iterator[Tx]:
        try:
            connection = self.pool.getconn(timeout=CONNECT_TIMEOUT)
        except psycopg_pool.PoolTimeout:
            raise StoreError(f"no connection to PostgreSQL at {_safe(self.conninfo)}") from None
        try:
            try:
                connection.execute(begin)
            except psycopg.Error as error:
                raise self._failed(error, "cannot start a transaction") from None
            tx = PgTx(connection, self._driver_errors, read_only=read_only)
            try:
                yield tx
                if not read_only:
                    for topic in tx.topics_to_notify():
                        tx.queue("SELECT pg_notify(?, ?)", [(self._channel(topic), self.instance)])
                tx.flush()
            except BaseException as error:
                _rollback(connection)
                if isinstance(error, psycopg.Error):
                    raise self._failed(error, "the transaction failed") from None
                raise
            try:
                connection.execute("COMMIT")
            except psycopg.Error as error:
                _rollback(connection)
                raise self._failed(error, "commit failed") from None
        finally:
            self.pool.putconn(connection)

    def _failed(self, error: psycopg.Error, what: str) -> StoreError:
        if isinstance(error, psycopg.OperationalError):
            # The server went away or cut us off: replace the pool's dead connections now,
            # so the caller's retry gets a live one.
            self.pool.check()
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return StoreError(f"PostgreSQL: {what}: {type(error).__name__}: {first_line}")

    def transaction(self) -> AbstractContextManager[Tx]:
        return self._begin("BEGIN", read_only=False)

    def read(self) -> AbstractContextManager[Tx]:
        return self._begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", read_only=True)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self.pool.close()

    # --- wake-ups ----------------------------------------------------------------------

    def _channel(self, topic: str) -> str:
        return channel_name(topic, self.namespace)

    def watch(self, topic: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (from a listener thread) whenever another process commits work
        of ``topic`` (``engine`` or ``bus``); the function that stops it."""
        with self._listener_lock:
            if self._listener is None:
                self._listener = Listener(self.conninfo, self.namespace, self.instance)
            listener = self._listener
        return listener.watch(topic, callback)

    def wait_listening(self, timeout: float = 10.0) -> bool:
        """Until the listener receives notifications (after the first :meth:`watch`)."""
        listener = self._listener
        return listener is not None and listener.listening.wait(timeout)

    # --- migrations --------------------------------------------------------------------

    def _migrate(self) -> str:
        """Apply the missing migrations; the namespace (database and schema) of the tables."""
        with self.transaction() as tx:
            row = tx.one("SELECT current_database(), current_schema()")
            if row is None or row[1] is None:
                raise StoreError(
                    "PostgreSQL has no schema to create oncue's tables in (check search_path)"
                )
            database, schema = str(row[0]), str(row[1])
            tx.run("SELECT pg_advisory_xact_lock(?, hashtext(?))", (_MIGRATION_LOCK, schema))
            tx.run(
                "CREATE TABLE IF NOT EXISTS oncue_schema (version BIGINT PRIMARY KEY, "
                "description TEXT NOT NULL, applied DOUBLE PRECISION NOT NULL)"
            )
            applied = {int(r[0]) for r in tx.all("SELECT version FROM oncue_schema")}
            newest = max((v for v, _, _ in MIGRATIONS), default=0)
            unknown = [v for v in applied if v > newest]
            if unknown:
                raise StoreError(
                    f"the database {database} (schema {schema}) has schema version "
                    f"{max(unknown)}, newer than this oncue understands ({newest}); "
                    "upgrade oncue"
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
        return f"{database}.{schema}"

    def schema_version(self) -> int:
        with self.read() as tx:
            row = tx.one("SELECT MAX(version) FROM oncue_schema")
        return int(row[0] or 0) if row is not None else 0


def _rollback(connection: psycopg.Connection[Any]) -> None:
    if connection.closed or connection.broken:
        return
    with contextlib.suppress(psycopg.Error):  # gone: the pool discards it
        connection.execute("ROLLBACK")


def _safe(conninfo: str) -> str:
    """The URI without its password (for error messages)."""
    parts = urlsplit(conninfo)
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
