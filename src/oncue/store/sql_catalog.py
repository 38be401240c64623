"""Statements on the catalog: state machines, their versions and definitions, activities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oncue.store.records import ActivityRecord, StateMachineRecord, VersionRecord
from oncue.store.sql_base import TxBase

__all__ = ["CatalogStatements"]


class CatalogStatements(TxBase):
    # --- state machines ----------------------------------------------------------------

    def insert_state_machine(self, r: StateMachineRecord) -> None:
        self.run(
            "INSERT INTO state_machines (arn, name, definition, role_arn, type, description, "
            "revision_id, creation_date, update_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.arn,
                r.name,
                r.definition,
                r.role_arn,
                r.type,
                r.description,
                r.revision_id,
                r.creation_date,
                r.update_date,
            ),
        )

    def update_state_machine(self, r: StateMachineRecord) -> None:
        self.run(
            "UPDATE state_machines SET definition = ?, role_arn = ?, description = ?, "
            "revision_id = ?, update_date = ? WHERE arn = ?",
            (r.definition, r.role_arn, r.description, r.revision_id, r.update_date, r.arn),
        )

    def get_state_machine(self, arn: str) -> StateMachineRecord | None:
        row = self.one(
            "SELECT arn, name, definition, role_arn, type, description, revision_id, "
            "creation_date, update_date FROM state_machines WHERE arn = ?",
            (arn,),
        )
        return None if row is None else StateMachineRecord(**_sm(row))

    def list_state_machines(self, after: str | None, limit: int) -> list[StateMachineRecord]:
        rows = self.all(
            "SELECT arn, name, definition, role_arn, type, description, revision_id, "
            "creation_date, update_date FROM state_machines WHERE name > ? ORDER BY name "
            "LIMIT ?",
            (after or "", limit),
        )
        return [StateMachineRecord(**_sm(row)) for row in rows]

    def delete_state_machine(self, arn: str) -> None:
        self.run("DELETE FROM state_machine_versions WHERE state_machine_arn = ?", (arn,))
        self.run("DELETE FROM state_machines WHERE arn = ?", (arn,))

    def insert_version(self, r: VersionRecord) -> None:
        self.run(
            "INSERT INTO state_machine_versions (arn, state_machine_arn, version, definition, "
            "role_arn, description, revision_id, creation_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.arn,
                r.state_machine_arn,
                r.version,
                r.definition,
                r.role_arn,
                r.description,
                r.revision_id,
                r.creation_date,
            ),
        )

    def delete_version(self, arn: str) -> None:
        self.run("DELETE FROM state_machine_versions WHERE arn = ?", (arn,))

    def get_version(self, arn: str) -> VersionRecord | None:
        row = self.one(
            "SELECT arn, state_machine_arn, version, definition, role_arn, description, "
            "revision_id, creation_date FROM state_machine_versions WHERE arn = ?",
            (arn,),
        )
        return None if row is None else _version(row)

    def list_versions(self, state_machine_arn: str) -> list[VersionRecord]:
        rows = self.all(
            "SELECT arn, state_machine_arn, version, definition, role_arn, description, "
            "revision_id, creation_date FROM state_machine_versions "
            "WHERE state_machine_arn = ? ORDER BY version DESC",
            (state_machine_arn,),
        )
        return [_version(row) for row in rows]

    def put_definition(self, revision_id: str, definition: str) -> None:
        if self.one("SELECT 1 FROM definitions WHERE revision_id = ?", (revision_id,)) is None:
            self.run(
                "INSERT INTO definitions (revision_id, definition) VALUES (?, ?)",
                (revision_id, definition),
            )

    def get_definition(self, revision_id: str) -> str | None:
        row = self.one("SELECT definition FROM definitions WHERE revision_id = ?", (revision_id,))
        return None if row is None else str(row[0])

    # --- activities --------------------------------------------------------------------

    def insert_activity(self, r: ActivityRecord) -> None:
        self.run(
            "INSERT INTO activities (arn, name, creation_date) VALUES (?, ?, ?)",
            (r.arn, r.name, r.creation_date),
        )

    def get_activity(self, arn: str) -> ActivityRecord | None:
        row = self.one("SELECT arn, name, creation_date FROM activities WHERE arn = ?", (arn,))
        return (
            None if row is None else ActivityRecord(arn=row[0], name=row[1], creation_date=row[2])
        )

    def list_activities(self, after: str | None, limit: int) -> list[ActivityRecord]:
        rows = self.all(
            "SELECT arn, name, creation_date FROM activities WHERE name > ? ORDER BY name LIMIT ?",
            (after or "", limit),
        )
        return [ActivityRecord(arn=r[0], name=r[1], creation_date=r[2]) for r in rows]

    def delete_activity(self, arn: str) -> None:
        self.run("DELETE FROM activities WHERE arn = ?", (arn,))


def _sm(row: Sequence[Any]) -> dict[str, Any]:
    keys = (
        "arn",
        "name",
        "definition",
        "role_arn",
        "type",
        "description",
        "revision_id",
        "creation_date",
        "update_date",
    )
    return dict(zip(keys, row, strict=True))


def _version(row: Sequence[Any]) -> VersionRecord:
    return VersionRecord(
        arn=row[0],
        state_machine_arn=row[1],
        version=row[2],
        definition=row[3],
        role_arn=row[4],
        description=row[5],
        revision_id=row[6],
        creation_date=row[7],
    )
