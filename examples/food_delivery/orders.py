"""The orders table: the orders context's own state, in its own SQLite file.

Every change is one transaction with a condition on the current status (or on a flag being
unset), made under one lock, so of two racing callers — a restaurant pressing *Accept* twice,
an acceptance racing the timeout — exactly one wins; only the winner publishes an event.
Task tokens of an orchestrated order are kept here, beside the decision they carry.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import orjson

from food_delivery.catalog import Line, OrderRequest
from food_delivery.domain import Order, Plan, Status, plan
from food_delivery.errors import OrderNotFound

__all__ = ["FLAGS", "OrdersTable"]

FLAGS: Final = ("restaurant_notified_at", "user_notified_at")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, restaurant TEXT NOT NULL, lines TEXT NOT NULL,
    address TEXT NOT NULL, email TEXT NOT NULL, status TEXT NOT NULL, placed_at REAL NOT NULL,
    restaurant_notified_at REAL, decided_at REAL, user_notified_at REAL, ended_at REAL,
    reason TEXT, decision_token TEXT, completion_token TEXT, execution_arn TEXT
);
CREATE TABLE IF NOT EXISTS vouchers (
    order_id TEXT PRIMARY KEY, code TEXT NOT NULL UNIQUE, email TEXT NOT NULL,
    percent INTEGER NOT NULL, issued_at REAL NOT NULL, emailed_at REAL
);
"""
_COLUMNS: Final = (
    "id, restaurant, lines, address, email, status, placed_at, restaurant_notified_at, "
    "decided_at, user_notified_at, ended_at, reason"
)


def _order(row: tuple[Any, ...]) -> Order:
    lines = tuple(Line(**line) for line in orjson.loads(row[2]))
    return Order(
        id=row[0],
        restaurant=row[1],
        lines=lines,
        address=row[3],
        email=row[4],
        status=Status(row[5]),
        placed_at=row[6],
        restaurant_notified_at=row[7],
        decided_at=row[8],
        user_notified_at=row[9],
        ended_at=row[10],
        reason=row[11],
    )


class OrdersTable:
    """Orders and vouchers in one SQLite file (thread-safe: one connection, one lock)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self.lock = threading.RLock()

    def close(self) -> None:
        with self.lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- orders ------------------------------------------------------------------------

    def insert(self, request: OrderRequest, now: float) -> Order:
        lines = orjson.dumps([{f: getattr(ln, f) for f in Line.__slots__} for ln in request.lines])
        with self._tx() as db:
            (seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM orders").fetchone()
            order_id = f"o-{seq:05d}"
            db.execute(
                "INSERT INTO orders (id, seq, restaurant, lines, address, email, status, "
                "placed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (order_id, seq, request.restaurant, lines.decode(), request.address,
                 request.email, Status.PLACED.value, now),
            )  # fmt: skip
        return self.get(order_id)

    def get(self, order_id: str) -> Order:
        with self.lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM orders WHERE id = ?", (order_id,)
            ).fetchone()
        if row is None:
            raise OrderNotFound(f"order '{order_id}' does not exist")
        return _order(row)

    def all(self, restaurant: str | None = None) -> list[Order]:
        sql = f"SELECT {_COLUMNS} FROM orders"
        args: tuple[str, ...] = ()
        if restaurant is not None:
            sql, args = sql + " WHERE restaurant = ?", (restaurant,)
        with self.lock:
            rows = self._db.execute(sql + " ORDER BY seq", args).fetchall()
        return [_order(row) for row in rows]

    def apply(self, order_id: str, action: str, now: float, reason: str | None = None) -> Plan:
        """Apply an action (see :data:`food_delivery.domain.ACTIONS`) or raise a conflict."""
        with self._tx() as db:
            current = self.get(order_id)
            step = plan(current, action, now, reason)
            new = step.order
            db.execute(
                "UPDATE orders SET status = ?, decided_at = ?, ended_at = ?, reason = ? "
                "WHERE id = ? AND status = ?",
                (new.status.value, new.decided_at, new.ended_at, new.reason, order_id,
                 current.status.value),
            )  # fmt: skip
        return step

    def mark(self, order_id: str, flag: str, now: float) -> bool:
        """Set a notification flag once; True for the caller that set it."""
        if flag not in FLAGS:
            raise ValueError(f"unknown flag {flag}")
        with self._tx() as db:
            changed = db.execute(
                f"UPDATE orders SET {flag} = ? WHERE id = ? AND {flag} IS NULL", (now, order_id)
            ).rowcount
        return changed == 1

    # --- the orchestrated flow's task tokens --------------------------------------------

    def set_token(self, order_id: str, kind: str, token: str | None) -> None:
        column = {"decision": "decision_token", "completion": "completion_token"}[kind]
        with self._tx() as db:
            db.execute(f"UPDATE orders SET {column} = ? WHERE id = ?", (token, order_id))

    def token(self, order_id: str, kind: str) -> str | None:
        column = {"decision": "decision_token", "completion": "completion_token"}[kind]
        with self.lock:
            row = self._db.execute(f"SELECT {column} FROM orders WHERE id = ?", (order_id,))
            found = row.fetchone()
        return None if found is None else found[0]

    def set_execution(self, order_id: str, arn: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE orders SET execution_arn = ? WHERE id = ?", (arn, order_id))

    # --- vouchers ----------------------------------------------------------------------

    def issue_voucher(self, order_id: str, code: str, email: str, percent: int, now: float) -> str:
        """The order's voucher code: issued once, the same code on every later call."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO vouchers (order_id, code, email, percent, issued_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (order_id, code, email, percent, now),
            )
            (found,) = db.execute(
                "SELECT code FROM vouchers WHERE order_id = ?", (order_id,)
            ).fetchone()
        return str(found)

    def voucher_emailed(self, order_id: str, now: float) -> bool:
        """Record that the voucher's email went out; True for the first caller only."""
        with self._tx() as db:
            changed = db.execute(
                "UPDATE vouchers SET emailed_at = ? WHERE order_id = ? AND emailed_at IS NULL",
                (now, order_id),
            ).rowcount
        return changed == 1

    def release_voucher_email(self, order_id: str) -> None:
        """Undo :meth:`voucher_emailed` after the email failed, so a retry sends it."""
        with self._tx() as db:
            db.execute("UPDATE vouchers SET emailed_at = NULL WHERE order_id = ?", (order_id,))

    def vouchers(self) -> list[dict[str, Any]]:
        with self.lock:
            rows = self._db.execute(
                "SELECT order_id, code, email, percent, issued_at, emailed_at FROM vouchers "
                "ORDER BY order_id"
            ).fetchall()
        keys = ("orderId", "code", "email", "percent", "issuedAt", "emailedAt")
        return [dict(zip(keys, row, strict=True)) for row in rows]
