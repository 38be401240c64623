"""The EventBridge API over a store: event buses, rules, targets, PutEvents.

Each operation is one transaction and answers with the EventBridge JSON shape (PascalCase keys,
timestamps as epoch seconds), raising errors from :mod:`oncue.errors` with EventBridge's
messages. The behaviour follows the API reference of each action:

- the ``default`` bus always exists and cannot be deleted; deleting a custom bus deletes its
  rules (*Deleting an event bus*);
- PutRule creates or replaces a rule: "If you omit arguments in PutRule, the old values for
  those arguments are not kept"; it needs an ``EventPattern`` or a ``ScheduleExpression`` (or
  both), and schedules run on the default bus only;
- "Before you can delete the rule, you must remove all targets"; deleting a rule that does not
  exist succeeds ("If you call delete rule multiple times for the same rule, all calls will
  succeed");
- PutTargets and RemoveTargets report each target that failed in ``FailedEntries`` and apply
  the others; a rule has at most five targets;
- PutEvents accepts the good entries and reports the bad ones (:mod:`.router`).

Dead letters and internal queues have their own modules (:mod:`.deadletters`,
:mod:`.queues`); :class:`EventBus` exposes them too, as one facade for the app and the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Final

from oncue.bus import deadletters, queues
from oncue.bus.api_destinations import ApiDestinationApi
from oncue.bus.archive_api import ArchiveApi
from oncue.bus.clock import Clock, SystemClock
from oncue.bus.connections import ConnectionApi
from oncue.bus.naming import (
    DEFAULT_BUS,
    MAX_DESCRIPTION,
    bus_arn,
    check_bus_name,
    check_limit,
    check_rule_name,
    check_target_id,
    decode_page_token,
    encode_page_token,
    resolve_bus,
)
from oncue.bus.replays import ReplayApi
from oncue.bus.router import Router
from oncue.bus.schedule import parse_schedule
from oncue.bus.scheduler import plan
from oncue.bus.targets import MAX_TARGETS_PER_RULE, parse_target, target_document
from oncue.errors import (
    LimitExceededException,
    ManagedRuleException,
    OncueError,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ValidationException,
)
from oncue.patterns.compile import compile_pattern
from oncue.store.base import Store
from oncue.store.bus_sql import BusRecord, BusTx, RuleRecord
from oncue.store.sql import Tx
from oncue.tracing import current_trace
from oncue.types import DEFAULT_ACCOUNT, DEFAULT_REGION, Json

__all__ = ["RULE_STATES", "EventBus"]

RULE_STATES: Final = ("ENABLED", "DISABLED")
#: PutTargets: "The maximum number of entries per request is 10"; RemoveTargets: 100 ids.
MAX_PUT_TARGETS: Final = 10
MAX_REMOVE_TARGETS: Final = 100


def _bus_missing(bus: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Event bus {bus} does not exist.")


def _rule_missing(bus: str, name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Rule {name} does not exist on EventBus {bus}.")


def _page(token: str | None) -> str:
    if token is None:
        return ""
    after = decode_page_token(token)
    if not isinstance(after, str):
        raise ValidationException("The NextToken is not valid.")
    return after


class EventBus(ArchiveApi, ReplayApi, ConnectionApi, ApiDestinationApi):
    """Event buses, rules, targets and PutEvents; dead letters and internal queues; archives
    and replays (:mod:`.archive_api`, :mod:`.replays`); connections and API destinations
    (:mod:`.connections`, :mod:`.api_destinations`)."""

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

    @contextmanager
    def _writing(self) -> Iterator[BusTx]:
        with self.store.transaction() as tx:
            yield BusTx(tx)

    def _notify(self) -> None:
        if self.listener is not None:
            self.listener()

    def _bus(self, btx: BusTx, name: str) -> BusRecord:
        record = btx.get_bus(name)
        if record is None:
            raise _bus_missing(name)
        return record

    def _changed(self, btx: BusTx, bus: str) -> None:
        btx.set_revision(bus, uuid.uuid4().hex, self.clock.now().timestamp())

    # --- event buses -------------------------------------------------------------------

    def create_event_bus(self, name: str, description: str | None = None) -> dict[str, Json]:
        check_bus_name(name)
        if "/" in name:
            # Only partner event buses (aws.partner/...) have a slash in their name.
            raise ValidationException(f"Event bus name {name} must not contain '/'.")
        _check_description(description)
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
            rows = BusTx(tx).list_buses(name_prefix or "", _page(next_token), count + 1)
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

    # --- rules -------------------------------------------------------------------------

    def put_rule(
        self,
        name: str,
        *,
        event_pattern: str | None = None,
        schedule_expression: str | None = None,
        state: str | None = None,
        description: str | None = None,
        role_arn: str | None = None,
        event_bus_name: str | None = None,
        managed_by: str | None = None,
    ) -> dict[str, Json]:
        """Create or replace a rule. ``managed_by`` marks a rule oncue itself manages (AWS's
        managed rules): changing or deleting it then takes ``managed_by`` again or Force."""
        check_rule_name(name)
        bus = resolve_bus(event_bus_name)
        if event_pattern is None and schedule_expression is None:
            raise ValidationException(
                "Parameter(s) EventPattern or ScheduleExpression must be specified."
            )
        if event_pattern is not None:
            if not isinstance(event_pattern, str):
                raise ValidationException("EventPattern must be JSON text.")
            compile_pattern(event_pattern)  # PatternError: InvalidEventPatternException
        if schedule_expression is not None:
            if not isinstance(schedule_expression, str):
                raise ValidationException("Parameter ScheduleExpression is not valid.")
            parse_schedule(schedule_expression)
            if bus != DEFAULT_BUS:
                raise ValidationException(
                    "ScheduleExpression is supported only on the default event bus."
                )
        state = state or "ENABLED"
        if state not in RULE_STATES:
            raise ValidationException(
                f"1 validation error detected: Value '{state}' at 'state' failed to satisfy "
                "constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"
            )
        _check_description(description)
        now = self.clock.now().timestamp()
        with self._writing() as btx:
            self._bus(btx, bus)
            existing = btx.get_rule(bus, name)
            if existing is not None:
                _check_managed(existing, managed_by, force=False)
            btx.put_rule(
                RuleRecord(
                    bus=bus,
                    name=name,
                    event_pattern=event_pattern,
                    schedule_expression=schedule_expression,
                    state=state,
                    description=description,
                    role_arn=role_arn,
                    managed_by=managed_by,
                    created=existing.created if existing is not None else now,
                )
            )
            created = existing.created if existing is not None else now
            plan(btx.tx, bus, name, schedule_expression, created, now)
            self._changed(btx, bus)
        return {"RuleArn": self.router.rule_arn(bus, name)}

    def _describe_rule(self, rule: RuleRecord) -> dict[str, Json]:
        document: dict[str, Json] = {
            "Name": rule.name,
            "Arn": self.router.rule_arn(rule.bus, rule.name),
        }
        if rule.event_pattern is not None:
            document["EventPattern"] = rule.event_pattern
        if rule.schedule_expression is not None:
            document["ScheduleExpression"] = rule.schedule_expression
        document["State"] = rule.state
        if rule.description is not None:
            document["Description"] = rule.description
        if rule.role_arn is not None:
            document["RoleArn"] = rule.role_arn
        if rule.managed_by is not None:
            document["ManagedBy"] = rule.managed_by
        document["EventBusName"] = rule.bus
        return document

    def _rule(self, btx: BusTx, bus: str, name: str) -> RuleRecord:
        self._bus(btx, bus)
        rule = btx.get_rule(bus, name)
        if rule is None:
            raise _rule_missing(bus, name)
        return rule

    def describe_rule(self, name: str, event_bus_name: str | None = None) -> dict[str, Json]:
        check_rule_name(name)
        bus = resolve_bus(event_bus_name)
        with self.store.read() as tx:
            rule = self._rule(BusTx(tx), bus, name)
        return {**self._describe_rule(rule), "CreatedBy": self.account}

    def list_rules(
        self,
        name_prefix: str | None = None,
        event_bus_name: str | None = None,
        next_token: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Json]:
        bus = resolve_bus(event_bus_name)
        count = check_limit(limit)
        with self.store.read() as tx:
            btx = BusTx(tx)
            self._bus(btx, bus)
            rows = btx.list_rules(bus, name_prefix or "", _page(next_token), count + 1)
        response: dict[str, Json] = {"Rules": [self._describe_rule(r) for r in rows[:count]]}
        if len(rows) > count:
            response["NextToken"] = encode_page_token(rows[count - 1].name)
        return response

    def _set_state(self, name: str, event_bus_name: str | None, state: str) -> dict[str, Json]:
        check_rule_name(name)
        bus = resolve_bus(event_bus_name)
        with self._writing() as btx:
            rule = self._rule(btx, bus, name)
            _check_managed(rule, None, force=False)
            if rule.state != state:
                btx.set_rule_state(bus, name, state)
                self._changed(btx, bus)
        return {}

    def enable_rule(self, name: str, event_bus_name: str | None = None) -> dict[str, Json]:
        return self._set_state(name, event_bus_name, "ENABLED")

    def disable_rule(self, name: str, event_bus_name: str | None = None) -> dict[str, Json]:
        return self._set_state(name, event_bus_name, "DISABLED")

    def delete_rule(
        self, name: str, event_bus_name: str | None = None, force: bool = False
    ) -> dict[str, Json]:
        check_rule_name(name)
        bus = resolve_bus(event_bus_name)
        with self._writing() as btx:
            self._bus(btx, bus)
            rule = btx.get_rule(bus, name)
            if rule is None:
                return {}
            _check_managed(rule, None, force=force)
            if btx.target_ids(bus, name):
                raise ValidationException("Rule can't be deleted since it has targets.")
            btx.delete_rule(bus, name)
            plan(btx.tx, bus, name, None, 0.0, 0.0)
            self._changed(btx, bus)
        return {}

    # --- targets -----------------------------------------------------------------------

    def put_targets(
        self,
        rule: str,
        targets: Sequence[Mapping[str, Json]],
        event_bus_name: str | None = None,
    ) -> dict[str, Json]:
        check_rule_name(rule, "rule")
        bus = resolve_bus(event_bus_name)
        if not isinstance(targets, list | tuple) or not 1 <= len(targets) <= MAX_PUT_TARGETS:
            raise ValidationException(
                "1 validation error detected: Value at 'targets' failed to satisfy constraint: "
                f"Member must have length between 1 and {MAX_PUT_TARGETS}"
            )
        for document in targets:
            if not isinstance(document, Mapping):
                raise ValidationException("Each of Targets must be an object.")
            check_target_id(document.get("Id"))
        failed: list[Json] = []
        with self._writing() as btx:
            record = self._rule(btx, bus, rule)
            _check_managed(record, None, force=False)
            existing = set(btx.target_ids(bus, rule))
            parsed = []
            for document in targets:
                try:
                    target = parse_target(bus, rule, document)
                    if target.kind == "bus" and target.name == bus:
                        # Each delivery would publish the event on the bus again, forever.
                        raise ValidationException(
                            f"The event bus {bus} cannot be a target of its rules."
                        )
                    parsed.append(target)
                except OncueError as error:
                    failed.append(
                        {
                            "TargetId": document.get("Id"),
                            "ErrorCode": "ValidationException",
                            "ErrorMessage": str(error),
                        }
                    )
            if len(existing | {t.id for t in parsed}) > MAX_TARGETS_PER_RULE:
                raise LimitExceededException(
                    f"The requested resource exceeds the maximum number allowed: a rule has at "
                    f"most {MAX_TARGETS_PER_RULE} targets."
                )
            for target in parsed:
                btx.put_target(target.record)
            if parsed:
                self._changed(btx, bus)
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    def remove_targets(
        self,
        rule: str,
        ids: Sequence[str],
        event_bus_name: str | None = None,
        force: bool = False,
    ) -> dict[str, Json]:
        check_rule_name(rule, "rule")
        bus = resolve_bus(event_bus_name)
        if not isinstance(ids, list | tuple) or not 1 <= len(ids) <= MAX_REMOVE_TARGETS:
            raise ValidationException(
                "1 validation error detected: Value at 'ids' failed to satisfy constraint: "
                f"Member must have length between 1 and {MAX_REMOVE_TARGETS}"
            )
        for target_id in ids:
            check_target_id(target_id)
        with self._writing() as btx:
            record = self._rule(btx, bus, rule)
            _check_managed(record, None, force=force)
            for target_id in ids:
                btx.delete_target(bus, rule, target_id)
            self._changed(btx, bus)
        return {"FailedEntryCount": 0, "FailedEntries": []}

    def list_targets_by_rule(
        self,
        rule: str,
        event_bus_name: str | None = None,
        next_token: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Json]:
        check_rule_name(rule, "rule")
        bus = resolve_bus(event_bus_name)
        count = check_limit(limit)
        with self.store.read() as tx:
            btx = BusTx(tx)
            self._rule(btx, bus, rule)
            rows = btx.list_targets(bus, rule, _page(next_token), count + 1)
        response: dict[str, Json] = {"Targets": [target_document(r) for r in rows[:count]]}
        if len(rows) > count:
            response["NextToken"] = encode_page_token(rows[count - 1].id)
        return response

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


def _check_description(description: str | None) -> None:
    if description is not None and (
        not isinstance(description, str) or len(description) > MAX_DESCRIPTION
    ):
        raise ValidationException(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_DESCRIPTION}"
        )


def _check_managed(rule: RuleRecord, managed_by: str | None, *, force: bool) -> None:
    """A managed rule changes only through its manager, or with Force (ManagedRuleException)."""
    if rule.managed_by is not None and rule.managed_by != managed_by and not force:
        raise ManagedRuleException(
            f"Rule {rule.name} is a managed rule (managed by {rule.managed_by}): use Force to "
            "change it."
        )
