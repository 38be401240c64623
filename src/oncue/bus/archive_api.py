"""CreateArchive, DescribeArchive, ListArchives, UpdateArchive, DeleteArchive, and exporting an
archive's events, in EventBridge's shapes (:class:`ArchiveApi`, part of
:class:`~oncue.bus.service.EventBus`).

- ``EventSourceArn`` is the ARN of the bus whose events the archive keeps; it must exist
  (ResourceNotFoundException); a name already taken is ResourceAlreadyExistsException.
- ``RetentionDays``: 0 (the default) keeps events indefinitely.
- An archive is ``ENABLED`` from its creation; ``EventCount`` and ``SizeBytes`` count what it
  holds now (retention has already pruned the rest).
- Every change to a bus's archives changes the bus's revision, so every process's cached rules
  (which carry the archive matchers) are reloaded for the next event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Final

from oncue.bus.archives import iter_archived
from oncue.bus.clock import Clock
from oncue.bus.naming import bus_arn, check_limit, resolve_bus
from oncue.bus.resources import arn, check_description, check_name, page_after, page_token
from oncue.bus.router import Router
from oncue.errors import (
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ValidationException,
)
from oncue.patterns.compile import compile_pattern
from oncue.store.base import Store
from oncue.store.bus_archive_sql import ArchiveRecord, ArchiveTx
from oncue.store.bus_sql import BusTx
from oncue.store.sql import Tx
from oncue.types import Json

__all__ = ["ARCHIVE_STATES", "MAX_ARCHIVES", "ArchiveApi", "archive_arn"]

ARCHIVE_STATES: Final = (
    "ENABLED",
    "DISABLED",
    "CREATING",
    "UPDATING",
    "CREATE_FAILED",
    "UPDATE_FAILED",
)
#: EventBridge quota: "Archives: 10 per account per Region" is adjustable; oncue allows more.
MAX_ARCHIVES: Final = 1000
_MAX_RETENTION: Final = 2_147_483_647


def archive_arn(region: str, account: str, name: str) -> str:
    return arn(region, account, "archive", name)


def _retention(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_RETENTION:
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at 'retentionDays' failed to satisfy "
            "constraint: Member must have value greater than or equal to 0"
        )
    return value


def _pattern(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationException("EventPattern must be JSON text.")
    compile_pattern(value)  # PatternError: InvalidEventPatternException
    return value


class ArchiveApi:
    """The archive actions; mixed into :class:`~oncue.bus.service.EventBus`."""

    store: Store
    router: Router
    region: str
    account: str

    clock: Clock

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def _archive_arn(self, name: str) -> str:
        return archive_arn(self.region, self.account, name)

    def _archive(self, tx: Tx, name: str) -> ArchiveRecord:
        record = ArchiveTx(tx).get_archive(name)
        if record is None:
            raise ResourceNotFoundException(f"Archive {name} does not exist.")
        return record

    def _touch_bus(self, tx: Tx, bus: str) -> None:
        BusTx(tx).set_revision(bus, uuid.uuid4().hex, self._now())

    def create_archive(
        self,
        archive_name: str,
        event_source_arn: str,
        description: str | None = None,
        event_pattern: str | None = None,
        retention_days: int | None = None,
    ) -> dict[str, Json]:
        check_name(archive_name, "archiveName", 48)
        bus = resolve_bus(event_source_arn, "eventSourceArn")
        check_description(description)
        pattern = _pattern(event_pattern)
        days = _retention(retention_days)
        now = self._now()
        with self.store.transaction() as tx:
            archives = ArchiveTx(tx)
            if BusTx(tx).get_bus(bus) is None:
                raise ResourceNotFoundException(f"Event bus {bus} does not exist.")
            if archives.get_archive(archive_name) is not None:
                raise ResourceAlreadyExistsException(f"Archive {archive_name} already exists.")
            if archives.count_archives() >= MAX_ARCHIVES:
                raise LimitExceededException(f"The limit of {MAX_ARCHIVES} archives is reached.")
            archives.insert_archive(
                ArchiveRecord(
                    name=archive_name,
                    bus=bus,
                    description=description,
                    event_pattern=pattern,
                    retention_days=days,
                    state="ENABLED",
                    creation_time=now,
                )
            )
            self._touch_bus(tx, bus)
        return {
            "ArchiveArn": self._archive_arn(archive_name),
            "State": "ENABLED",
            "CreationTime": now,
        }

    def _summary(self, tx: Tx, record: ArchiveRecord) -> dict[str, Json]:
        count, size = ArchiveTx(tx).archive_stats(record.name)
        return {
            "ArchiveName": record.name,
            "EventSourceArn": bus_arn(self.region, self.account, record.bus),
            "State": record.state,
            "RetentionDays": record.retention_days,
            "SizeBytes": size,
            "EventCount": count,
            "CreationTime": record.creation_time,
        }

    def describe_archive(self, archive_name: str) -> dict[str, Json]:
        check_name(archive_name, "archiveName", 48)
        with self.store.read() as tx:
            record = self._archive(tx, archive_name)
            document: dict[str, Json] = {
                "ArchiveArn": self._archive_arn(record.name),
                **self._summary(tx, record),
            }
        if record.description is not None:
            document["Description"] = record.description
        if record.event_pattern is not None:
            document["EventPattern"] = record.event_pattern
        return document

    def list_archives(
        self,
        name_prefix: str | None = None,
        event_source_arn: str | None = None,
        state: str | None = None,
        next_token: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Json]:
        count = check_limit(limit)
        bus = resolve_bus(event_source_arn, "eventSourceArn") if event_source_arn else None
        if state is not None and state not in ARCHIVE_STATES:
            raise ValidationException(f"Value '{state}' at 'state' is not a valid ArchiveState.")
        with self.store.read() as tx:
            rows = ArchiveTx(tx).list_archives(
                name_prefix or "", bus, state, page_after(next_token), count + 1
            )
            response: dict[str, Json] = {"Archives": [self._summary(tx, r) for r in rows[:count]]}
        token = page_token([r.name for r in rows], count)
        if token is not None:
            response["NextToken"] = token
        return response

    def update_archive(
        self,
        archive_name: str,
        description: str | None = None,
        event_pattern: str | None = None,
        retention_days: int | None = None,
    ) -> dict[str, Json]:
        """UpdateArchive: the fields given replace the archive's; the others are kept."""
        check_name(archive_name, "archiveName", 48)
        check_description(description)
        pattern = _pattern(event_pattern)
        with self.store.transaction() as tx:
            record = self._archive(tx, archive_name)
            ArchiveTx(tx).update_archive(
                ArchiveRecord(
                    name=record.name,
                    bus=record.bus,
                    description=description if description is not None else record.description,
                    event_pattern=pattern if pattern is not None else record.event_pattern,
                    retention_days=(
                        _retention(retention_days)
                        if retention_days is not None
                        else record.retention_days
                    ),
                    state=record.state,
                    creation_time=record.creation_time,
                )
            )
            self._touch_bus(tx, record.bus)
        return {
            "ArchiveArn": self._archive_arn(archive_name),
            "State": record.state,
            "CreationTime": record.creation_time,
        }

    def delete_archive(self, archive_name: str) -> dict[str, Json]:
        check_name(archive_name, "archiveName", 48)
        with self.store.transaction() as tx:
            record = self._archive(tx, archive_name)
            ArchiveTx(tx).delete_archive(archive_name)
            self._touch_bus(tx, record.bus)
        return {}

    def export_archive(
        self,
        archive_name: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Iterator[dict[str, Json]]:
        """The archived events with ``since <= time < until``, oldest first (the envelopes a
        replay would send): what a data lake or a report reads. Checks the archive first."""
        check_name(archive_name, "archiveName", 48)
        with self.store.read() as tx:
            self._archive(tx, archive_name)
        return iter_archived(self.store, archive_name, since=since, until=until)
