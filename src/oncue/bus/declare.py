"""An application's declared event buses and rules, deployed like its state machines.

``App.event_bus``, ``App.rule`` and ``@App.on`` record declarations here; each is validated
when it is declared (a bad pattern, schedule or target fails at registration, naming what is
wrong), and :meth:`Declarations.deploy` makes the store match them when the app opens:

- a declared bus that does not exist is created (CreateEventBus);
- a declared rule is created, or replaced when its pattern, schedule, state or description
  changed (PutRule); its targets are put when new or changed (PutTargets), and targets the
  rule has but the declaration does not are removed (RemoveTargets): the declaration is the
  whole truth about its rule.

Nothing is deleted that is not declared: rules and buses made through the API or the CLI are
left alone, as undeclared state machines are. Deploying twice changes nothing the second time,
so rule caches of running processes stay valid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from oncue.asl.jsonutil import dumps
from oncue.bus.naming import DEFAULT_BUS, check_bus_name, check_rule_name, resolve_bus
from oncue.bus.schedule import parse_schedule
from oncue.bus.service import RULE_STATES, EventBus
from oncue.bus.targets import MAX_TARGETS_PER_RULE, parse_target, target_document
from oncue.errors import ResourceNotFoundException, ValidationException
from oncue.patterns.compile import compile_pattern
from oncue.types import Json

__all__ = ["BusDeclaration", "Declarations", "RuleDeclaration", "pattern_text"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BusDeclaration:
    name: str
    description: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleDeclaration:
    name: str
    bus: str
    event_pattern: str | None
    schedule: str | None
    state: str
    description: str | None
    #: PutTargets entries, normalised the way ListTargetsByRule shows them.
    targets: tuple[dict[str, Json], ...]


def pattern_text(pattern: Mapping[str, Json] | str | None) -> str | None:
    """An event pattern as the JSON text PutRule takes (a dict is serialised)."""
    if pattern is None or isinstance(pattern, str):
        return pattern
    return dumps(dict(pattern))


class Declarations:
    """The buses and rules an application declares, by name."""

    def __init__(self) -> None:
        self.buses: dict[str, BusDeclaration] = {}
        self.rules: dict[tuple[str, str], RuleDeclaration] = {}

    def event_bus(self, name: str, description: str | None = None) -> None:
        check_bus_name(name)
        if name == DEFAULT_BUS:
            return  # always exists
        if "/" in name:
            raise ValidationException(f"Event bus name {name} must not contain '/'.")
        self.buses[name] = BusDeclaration(name=name, description=description)

    def rule(
        self,
        name: str,
        *,
        event_pattern: Mapping[str, Json] | str | None = None,
        schedule: str | None = None,
        bus: str = DEFAULT_BUS,
        targets: Sequence[Mapping[str, Json]] = (),
        description: str | None = None,
        state: str = "ENABLED",
    ) -> RuleDeclaration:
        """Validate and record a rule (replacing an earlier declaration of the same name)."""
        check_rule_name(name)
        bus = resolve_bus(bus)
        text = pattern_text(event_pattern)
        if text is None and schedule is None:
            raise ValidationException(
                f"rule {name}: Parameter(s) EventPattern or ScheduleExpression must be specified."
            )
        if text is not None:
            compile_pattern(text)  # PatternError (InvalidEventPatternException) names the fault
        if schedule is not None:
            parse_schedule(schedule)
        if state not in RULE_STATES:
            raise ValidationException(f"rule {name}: State must be ENABLED or DISABLED.")
        if len(targets) > MAX_TARGETS_PER_RULE:
            raise ValidationException(
                f"rule {name}: a rule has at most {MAX_TARGETS_PER_RULE} targets."
            )
        documents: dict[str, dict[str, Json]] = {}
        for document in targets:
            target = parse_target(bus, name, document)
            if target.id in documents:
                raise ValidationException(f"rule {name}: target Id {target.id} is used twice.")
            documents[target.id] = target_document(target.record)
        declared = RuleDeclaration(
            name=name,
            bus=bus,
            event_pattern=text,
            schedule=schedule,
            state=state,
            description=description,
            targets=tuple(documents.values()),
        )
        self.rules[(bus, name)] = declared
        return declared

    # --- deploy ------------------------------------------------------------------------

    def deploy(self, events: EventBus) -> None:
        """Create or update every declared bus and rule (see the module's docstring)."""
        for bus in self.buses.values():
            try:
                events.describe_event_bus(bus.name)
            except ResourceNotFoundException:
                events.create_event_bus(bus.name, bus.description)
        for rule in self.rules.values():
            _deploy_rule(events, rule)


def _deploy_rule(events: EventBus, rule: RuleDeclaration) -> None:
    try:
        current: dict[str, Json] | None = events.describe_rule(rule.name, rule.bus)
    except ResourceNotFoundException:
        current = None
    wanted = {
        "EventPattern": rule.event_pattern,
        "ScheduleExpression": rule.schedule,
        "State": rule.state,
        "Description": rule.description,
    }
    if current is None or any(current.get(key) != value for key, value in wanted.items()):
        events.put_rule(
            rule.name,
            event_pattern=rule.event_pattern,
            schedule_expression=rule.schedule,
            state=rule.state,
            description=rule.description,
            event_bus_name=rule.bus,
        )
    listed = events.list_targets_by_rule(rule.name, rule.bus, limit=100)["Targets"]
    assert isinstance(listed, list)
    existing = {str(t["Id"]): t for t in listed if isinstance(t, dict)}
    declared_ids = {str(t["Id"]) for t in rule.targets}
    stale = sorted(set(existing) - declared_ids)
    if stale:
        events.remove_targets(rule.name, stale, rule.bus)
    changed = [t for t in rule.targets if existing.get(str(t["Id"])) != t]
    if changed:
        response = events.put_targets(rule.name, changed, rule.bus)
        failed = response.get("FailedEntries")
        if isinstance(failed, list) and failed:
            first = failed[0]
            assert isinstance(first, dict)
            raise ValidationException(
                f"rule {rule.name}: target {first.get('TargetId')}: {first.get('ErrorMessage')}"
            )
