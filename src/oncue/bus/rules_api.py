"""PutRule, DescribeRule, ListRules, EnableRule, DisableRule, DeleteRule, PutTargets,
RemoveTargets and ListTargetsByRule in EventBridge's shapes (:class:`RuleApi`, part of
:class:`~oncue.bus.service.EventBus`).

- PutRule creates or replaces a rule: "If you omit arguments in PutRule, the old values for
  those arguments are not kept"; it needs an ``EventPattern`` or a ``ScheduleExpression`` (or
  both), and schedules run on the default bus only;
- "Before you can delete the rule, you must remove all targets"; deleting a rule that does not
  exist succeeds ("If you call delete rule multiple times for the same rule, all calls will
  succeed");
- PutTargets and RemoveTargets report each target that failed in ``FailedEntries`` and apply
  the others; a rule has at most five targets;
- every change to a bus's rules or targets changes the bus's revision, so every process's
  cached rules are reloaded for the next event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Final

from oncue.bus.clock import Clock
from oncue.bus.naming import (
    DEFAULT_BUS,
    check_limit,
    check_rule_name,
    check_target_id,
    encode_page_token,
    resolve_bus,
)
from oncue.bus.resources import check_description, page_after
from oncue.bus.router import Router
from oncue.bus.schedule import parse_schedule
from oncue.bus.scheduler import plan
from oncue.bus.targets import MAX_TARGETS_PER_RULE, parse_target, target_document
from oncue.errors import (
    LimitExceededException,
    ManagedRuleException,
    OncueError,
    ResourceNotFoundException,
    ValidationException,
)
from oncue.patterns.compile import compile_pattern
from oncue.store.base import Store
from oncue.store.bus_sql import BusRecord, BusTx, RuleRecord
from oncue.types import Json

__all__ = ["MAX_PUT_TARGETS", "MAX_REMOVE_TARGETS", "RULE_STATES", "RuleApi"]

RULE_STATES: Final = ("ENABLED", "DISABLED")
#: PutTargets: "The maximum number of entries per request is 10"; RemoveTargets: 100 ids.
MAX_PUT_TARGETS: Final = 10
MAX_REMOVE_TARGETS: Final = 100


def _bus_missing(bus: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Event bus {bus} does not exist.")


def _rule_missing(bus: str, name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Rule {name} does not exist on EventBus {bus}.")


class RuleApi:
    """The rule and target actions, and the bus transaction helpers they share with the rest
    of :class:`~oncue.bus.service.EventBus` (which mixes this in)."""

    store: Store
    router: Router
    clock: Clock
    account: str

    @contextmanager
    def _writing(self) -> Iterator[BusTx]:
        with self.store.transaction() as tx:
            yield BusTx(tx)

    def _bus(self, btx: BusTx, name: str) -> BusRecord:
        record = btx.get_bus(name)
        if record is None:
            raise _bus_missing(name)
        return record

    def _changed(self, btx: BusTx, bus: str) -> None:
        btx.set_revision(bus, uuid.uuid4().hex, self.clock.now().timestamp())

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
        check_description(description)
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
            rows = btx.list_rules(bus, name_prefix or "", page_after(next_token), count + 1)
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
            rows = btx.list_targets(bus, rule, page_after(next_token), count + 1)
        response: dict[str, Json] = {"Targets": [target_document(r) for r in rows[:count]]}
        if len(rows) > count:
            response["NextToken"] = encode_page_token(rows[count - 1].id)
        return response


def _check_managed(rule: RuleRecord, managed_by: str | None, *, force: bool) -> None:
    """A managed rule changes only through its manager, or with Force (ManagedRuleException)."""
    if rule.managed_by is not None and rule.managed_by != managed_by and not force:
        raise ManagedRuleException(
            f"Rule {rule.name} is a managed rule (managed by {rule.managed_by}): use Force to "
            "change it."
        )
