"""Storage adapters: the engine's tables behind one small interface.

:func:`open_store` picks the backend from a URL (``ONCUE_DATABASE_URL``):
``sqlite:///oncue.db`` (the default, embedded), ``sqlite://:memory:``, or
``postgresql://user@host/db`` for scale-out (many worker and API processes on one database;
see docs/scale-out.md). The PostgreSQL driver is imported only when such a URL is opened.
"""

from __future__ import annotations

from oncue.errors import StoreError
from oncue.store.base import Store
from oncue.store.records import (
    ActivityRecord,
    ActivityTask,
    ExecutionRecord,
    ExecutionUpdate,
    Message,
    NewTask,
    OutboxEntry,
    Page,
    StateMachineRecord,
    TaskClaim,
    TokenRecord,
    VersionRecord,
)
from oncue.store.sql import Tx
from oncue.store.sqlite import SQLiteStore

__all__ = [
    "DEFAULT_DATABASE_URL",
    "ActivityRecord",
    "ActivityTask",
    "ExecutionRecord",
    "ExecutionUpdate",
    "Message",
    "NewTask",
    "OutboxEntry",
    "Page",
    "SQLiteStore",
    "StateMachineRecord",
    "Store",
    "TaskClaim",
    "TokenRecord",
    "Tx",
    "VersionRecord",
    "open_store",
]

DEFAULT_DATABASE_URL = "sqlite:///oncue.db"


def open_store(url: str | None = None) -> Store:
    """Open (creating and migrating if needed) the store a database URL names."""
    url = url or DEFAULT_DATABASE_URL
    if url.startswith("sqlite:"):
        return SQLiteStore(url)
    scheme = url.split(":", 1)[0]
    if scheme in ("postgresql", "postgres"):
        from oncue.store.postgres import PostgresStore

        return PostgresStore(url)
    raise StoreError(
        f"unsupported database URL scheme {scheme!r} in ONCUE_DATABASE_URL; expected "
        "sqlite:///PATH or postgresql://USER@HOST/DATABASE"
    )
