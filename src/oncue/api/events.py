"""The EventBridge actions (``X-Amz-Target: AWSEvents.<Action>``, awsJson1_1).

Every EventBridge action :class:`~oncue.bus.service.EventBus` implements, with the request
members of the EventBridge API reference, plus TestEventPattern on the pattern core; the
archive, replay, connection and API destination rows are in :mod:`.event_resources`.
EventBridge names a bad parameter ``ValidationException`` and a missing resource
``ResourceNotFoundException``: :data:`RENAMES` gives the generic errors those names.
"""

from __future__ import annotations

from typing import Final

from oncue.api.event_resources import RESOURCE_ACTIONS
from oncue.api.operations import Action, Param, Service, table
from oncue.bus.service import EventBus
from oncue.patterns import compile_pattern, matches, parse_test_event
from oncue.types import Json

__all__ = ["CONTENT_TYPE", "EVENTS", "ONCUE_EVENTS", "RENAMES"]

CONTENT_TYPE: Final = "application/x-amz-json-1.1"

#: oncue's generic AWS names -> EventBridge's names for the same faults (API reference,
#: "Common Errors" and each action's "Errors").
RENAMES: Final = {
    "InvalidExecutionInput": "ValidationException",
    "InvalidName": "ValidationException",
    "InvalidArn": "ValidationException",
    "InvalidToken": "ValidationException",
    "ResourceNotFound": "ResourceNotFoundException",
    "InternalFailure": "InternalException",
}


def test_event_pattern(events: EventBus, event_pattern: str, event: str) -> dict[str, Json]:
    """TestEventPattern: whether the event (a full envelope, JSON text) matches the pattern."""
    return {"Result": matches(compile_pattern(event_pattern), parse_test_event(event))}


_NAME = Param(aws="Name", name="name", required=True)
_BUS = Param(aws="EventBusName", name="event_bus_name")
_RULE = Param(aws="Rule", name="rule", required=True)
_PAGE = (
    Param(aws="NextToken", name="next_token"),
    Param(aws="Limit", name="limit", kind="integer"),
)
_FORCE = Param(aws="Force", name="force", kind="boolean")

EVENTS: Final = Service(
    prefix="AWSEvents",
    content_type=CONTENT_TYPE,
    renames=RENAMES,
    actions=table(
        *RESOURCE_ACTIONS,
        # --- event buses -------------------------------------------------------------
        Action(
            name="CreateEventBus",
            call=EventBus.create_event_bus,
            params=(_NAME, Param(aws="Description", name="description")),
        ),
        Action(
            name="DescribeEventBus",
            reads=True,
            call=EventBus.describe_event_bus,
            params=(Param(aws="Name", name="name"),),
        ),
        Action(
            name="ListEventBuses",
            reads=True,
            call=EventBus.list_event_buses,
            params=(Param(aws="NamePrefix", name="name_prefix"), *_PAGE),
        ),
        Action(name="DeleteEventBus", call=EventBus.delete_event_bus, params=(_NAME,)),
        # --- rules -------------------------------------------------------------------
        Action(
            name="PutRule",
            call=EventBus.put_rule,
            params=(
                _NAME,
                Param(aws="EventPattern", name="event_pattern"),
                Param(aws="ScheduleExpression", name="schedule_expression"),
                Param(aws="State", name="state"),
                Param(aws="Description", name="description"),
                Param(aws="RoleArn", name="role_arn"),
                _BUS,
            ),
        ),
        Action(name="DescribeRule", reads=True, call=EventBus.describe_rule, params=(_NAME, _BUS)),
        Action(
            name="ListRules",
            reads=True,
            call=EventBus.list_rules,
            params=(Param(aws="NamePrefix", name="name_prefix"), _BUS, *_PAGE),
        ),
        Action(name="EnableRule", call=EventBus.enable_rule, params=(_NAME, _BUS)),
        Action(name="DisableRule", call=EventBus.disable_rule, params=(_NAME, _BUS)),
        Action(name="DeleteRule", call=EventBus.delete_rule, params=(_NAME, _BUS, _FORCE)),
        Action(
            name="TestEventPattern",
            reads=True,
            call=test_event_pattern,
            params=(
                Param(aws="EventPattern", name="event_pattern", required=True),
                Param(aws="Event", name="event", required=True),
            ),
        ),
        # --- targets -----------------------------------------------------------------
        Action(
            name="PutTargets",
            call=EventBus.put_targets,
            params=(_RULE, _BUS, Param(aws="Targets", name="targets", kind="list", required=True)),
        ),
        Action(
            name="RemoveTargets",
            call=EventBus.remove_targets,
            params=(
                _RULE,
                _BUS,
                Param(aws="Ids", name="ids", kind="list", required=True),
                _FORCE,
            ),
        ),
        Action(
            name="ListTargetsByRule",
            reads=True,
            call=EventBus.list_targets_by_rule,
            params=(_RULE, _BUS, *_PAGE),
        ),
        # --- events ------------------------------------------------------------------
        Action(
            name="PutEvents",
            call=EventBus.put_events,
            params=(Param(aws="Entries", name="entries", kind="list", required=True),),
        ),
    ),
)

#: oncue's own EventBridge-style actions, for what EventBridge keeps in SQS dead-letter queues:
#: the dead letters of every target, to list and redrive (``X-Amz-Target:
#: OncueEvents.<Action>``; no AWS SDK models them, call them with any HTTP client).
ONCUE_EVENTS: Final = Service(
    prefix="OncueEvents",
    content_type=CONTENT_TYPE,
    renames=RENAMES,
    actions=table(
        Action(
            name="ListDeadLetters",
            call=EventBus.list_dead_letters,
            params=(Param(aws="EventBusName", name="bus"), *_PAGE),
            reads=True,
        ),
        Action(
            name="RedriveDeadLetters",
            call=EventBus.redrive_dead_letters,
            params=(Param(aws="Ids", name="ids", kind="list", required=True),),
        ),
    ),
)
