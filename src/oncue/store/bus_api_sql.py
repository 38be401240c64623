"""Statements for connections and API destinations (migration 3), over one transaction."""

from __future__ import annotations

from dataclasses import astuple, dataclass

from oncue.store.bus_records import columns, read
from oncue.store.sql import Tx

__all__ = ["ApiDestinationRecord", "ConnectionRecord", "ConnectionTx"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionRecord:
    name: str
    arn: str
    description: str | None
    authorization_type: str
    #: The AuthParameters as given, secrets included (JSON text).
    auth: str
    state: str
    creation_time: float
    last_modified: float
    last_authorized: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiDestinationRecord:
    name: str
    arn: str
    description: str | None
    connection: str
    endpoint: str
    http_method: str
    rate_limit: int
    state: str
    creation_time: float
    last_modified: float


_CONNECTION = columns(ConnectionRecord)
_DESTINATION = columns(ApiDestinationRecord)


class ConnectionTx:
    __slots__ = ("tx",)

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    def get_connection(self, name: str) -> ConnectionRecord | None:
        row = self.tx.one(f"SELECT {_CONNECTION} FROM bus_connections WHERE name = ?", (name,))
        return None if row is None else read(ConnectionRecord, row)

    def put_connection(self, r: ConnectionRecord) -> None:
        self.tx.run("DELETE FROM bus_connections WHERE name = ?", (r.name,))
        self.tx.run(
            f"INSERT INTO bus_connections ({_CONNECTION}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            astuple(r),
        )

    def delete_connection(self, name: str) -> None:
        self.tx.run("DELETE FROM bus_connections WHERE name = ?", (name,))

    def list_connections(
        self, prefix: str, state: str | None, after: str, limit: int
    ) -> list[ConnectionRecord]:
        sql = f"SELECT {_CONNECTION} FROM bus_connections WHERE name > ? AND substr(name, 1, ?) = ?"
        params: list[object] = [after, len(prefix), prefix]
        if state is not None:
            sql += " AND state = ?"
            params.append(state)
        rows = self.tx.all(sql + " ORDER BY name LIMIT ?", [*params, limit])
        return [read(ConnectionRecord, row) for row in rows]

    def get_destination(self, name: str) -> ApiDestinationRecord | None:
        row = self.tx.one(
            f"SELECT {_DESTINATION} FROM bus_api_destinations WHERE name = ?", (name,)
        )
        return None if row is None else read(ApiDestinationRecord, row)

    def put_destination(self, r: ApiDestinationRecord) -> None:
        self.tx.run("DELETE FROM bus_api_destinations WHERE name = ?", (r.name,))
        self.tx.run(
            f"INSERT INTO bus_api_destinations ({_DESTINATION}) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            astuple(r),
        )

    def delete_destination(self, name: str) -> None:
        self.tx.run("DELETE FROM bus_api_destinations WHERE name = ?", (name,))

    def list_destinations(
        self, prefix: str, connection: str | None, after: str, limit: int
    ) -> list[ApiDestinationRecord]:
        sql = (
            f"SELECT {_DESTINATION} FROM bus_api_destinations WHERE name > ? "
            "AND substr(name, 1, ?) = ?"
        )
        params: list[object] = [after, len(prefix), prefix]
        if connection is not None:
            sql += " AND connection = ?"
            params.append(connection)
        rows = self.tx.all(sql + " ORDER BY name LIMIT ?", [*params, limit])
        return [read(ApiDestinationRecord, row) for row in rows]
