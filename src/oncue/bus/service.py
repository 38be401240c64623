"""The EventBridge API over a store: event buses, rules, targets, PutEvents.

Each operation is one transaction and answers with the EventBridge JSON shape (PascalCase keys,
timestamps as epoch seconds), raising errors from :mod:`oncue.errors` with EventBridge's
messages. The behaviour follows the API reference of each action:

- the ``default`` bus always exists and cannot be deleted; deleting a custom bus deletes its
  rules (*Deleting an event bus*);
- rules and targets have their own module (:mod:`.rules_api`);
- PutEvents accepts the good entries and reports the bad ones (:mod:`.router`).

Dead letters and internal queues have their own modules (:mod:`.deadletters`,
:mod:`.queues`); :class:`EventBus` exposes them too, as one facade for the app and the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from oncue.bus import deadletters, queues
from oncue.bus.api_destinations import ApiDestinationApi
from oncue.bus.archive_api import ArchiveApi
from oncue.bus.clock import Clock, SystemClock
from oncue.bus.connections import ConnectionApi
from oncue.bus.naming import (
    DEFAULT_BUS,
    bus_arn,
    check_bus_name,
    check_limit,
    encode_page_token,
    resolve_bus,
)
from oncue.bus.replays import ReplayApi
from oncue.bus.resources import check_description, page_after
from oncue.bus.router import Router
from oncue.bus.rules_api import RULE_STATES, RuleApi
from oncue.errors import ResourceAlreadyExistsException, ValidationException
from oncue.store.base import Store
from oncue.store.bus_sql import BusRecord, BusTx
from oncue.store.sql import Tx
from oncue.tracing import current_trace
from oncue.types import DEFAULT_ACCOUNT, DEFAULT_REGION, Json

# RULE_STATES is re-exported: oncue.bus.declare imports it from here.
__all__ = ["RULE_STATES", "EventBus"]


class EventBus(RuleApi, ArchiveApi, ReplayApi, ConnectionApi, ApiDestinationApi):
    """Event buses and PutEvents; rules and targets (:mod:`.rules_api`); dead letters and
    internal queues; archives and replays (:mod:`.archive_api`, :mod:`.replays`); connections
    and API destinations (:mod:`.connections`, :mod:`.api_destinations`)."""

    def __init__(
        self,
        store: Store,
        *,
        router: Router | None = None,
        clock: Clock | None = None,
        region: str = DEFAULT_REGION,
        account: str = DEFAULT_ACCOUNT,
        listener: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.router = router or Router(region=region, account=account)
        self.clock = clock or SystemClock()
        self.region = self.router.region
        self.account = self.router.account
        #: Called (from the calling thread) after a commit that made deliveries: the app
        #: points it at its dispatcher's ``wake``.
        self.listener = listener

    def _notify(self) -> None:
        if self.listener is not None:
            self.listener()

    # --- event buses -------------------------------------------------------------------

    def create_event_bus(self, name: str, description: str | None = None) -> dict[str, Json]:
        check_bus_name(name)
        if "/" in name:
            # Only partner event buses (aws.partner/...) have a slash in their name.
            raise ValidationException(f"Event bus name {name} must not contain '/'.")
        check_description(description)
        now = self.clock.now().timestamp()
        with self._writing() as btx:
            if btx.get_bus(name) is not None:
                raise ResourceAlreadyExistsException(f"Event bus {name} already exists.")
            btx.insert_bus(
                BusRecord(
                    name=name,
                    description=description,
                    revision=uuid.uuid4().hex,
                    creation_time=now,
                    last_modified=now,
                )
            )
        response: dict[str, Json] = {"EventBusArn": self._bus_arn(name)}
        if description is not None:
            response["Description"] = description
        return response

    def _bus_arn(self, name: str) -> str:
        return bus_arn(self.region, self.account, name)

    def _describe_bus(self, record: BusRecord) -> dict[str, Json]:
        document: dict[str, Json] = {"Name": record.name, "Arn": self._bus_arn(record.name)}
        if record.description is not None:
            document["Description"] = record.description
        document["CreationTime"] = record.creation_time
        document["LastModifiedTime"] = record.last_modified
        return document

    def describe_event_bus(self, name: str | None = None) -> dict[str, Json]:
        bus = resolve_bus(name, "name")
        with self.store.read() as tx:
            return self._describe_bus(self._bus(BusTx(tx), bus))

    def list_event_buses(
        self,
        name_prefix: str | None = None,
        next_token: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Json]:
        count = check_limit(limit)
        with self.store.read() as tx:
            rows = BusTx(tx).list_buses(name_prefix or "", page_after(next_token), count + 1)
        response: dict[str, Json] = {"EventBuses": [self._describe_bus(r) for r in rows[:count]]}
        if len(rows) > count:
            response["NextToken"] = encode_page_token(rows[count - 1].name)
        return response

    def delete_event_bus(self, name: str) -> dict[str, Json]:
        check_bus_name(name)
        if name == DEFAULT_BUS:
            raise ValidationException("Cannot delete event bus default.")
        with self._writing() as btx:
            btx.delete_bus(name)
        return {}

    # --- events ------------------------------------------------------------------------

    def put_events(self, entries: Json) -> dict[str, Json]:
        """PutEvents: one transaction stores every accepted event with its deliveries."""
        with self.store.transaction() as tx:
            result = self.router.put_events_in_tx(
                tx, entries, self.clock.now(), trace=current_trace()
            )
        if result.accepted:
            self._notify()
        return result.response

    def put_events_in_tx(self, tx: Tx, entries: Json, now: datetime) -> dict[str, Json]:
        """PutEvents inside a transaction the caller owns (and commits)."""
        return self.router.put_events_in_tx(tx, entries, now).response

    # --- dead letters and internal queues ----------------------------------------------

    def list_dead_letters(
        self, bus: str | None = None, next_token: str | None = None, limit: int | None = None
    ) -> dict[str, Json]:
        with self.store.read() as tx:
            return deadletters.list_dead_letters(
                BusTx(tx), self.router, bus=bus, next_token=next_token, limit=limit
            )

    def redrive_dead_letters(self, ids: Sequence[int]) -> dict[str, Json]:
        with self._writing() as btx:
            response = deadletters.redrive(btx, self.router, ids, self.clock.now())
        if response["RedrivenCount"]:
            self._notify()
        return response

    def send_message(
        self, queue: str, body: str, attributes: Mapping[str, str] | None = None
    ) -> dict[str, Json]:
        with self._writing() as btx:
            return queues.send_message(btx, queue, body, attributes, self.clock.now())

    def receive_messages(
        self, queue: str, max_messages: int = 1, visibility_timeout: float = 30.0
    ) -> dict[str, Json]:
        with self._writing() as btx:
            return queues.receive_messages(
                btx, queue, max_messages, visibility_timeout, self.clock.now()
            )

    def delete_message(self, queue: str, receipt_handle: str) -> dict[str, Json]:
        with self._writing() as btx:
            return queues.delete_message(btx, queue, receipt_handle)
