"""An order's life (pure: no I/O, no clock — times arrive as arguments).

::

    PLACED ──accept──▶ ACCEPTED ──complete──▶ COMPLETED
      │                   │
      ├──reject──▶ REJECTED
      ├──time_out─▶ TIMED_OUT       (the restaurant did not answer in time)
      └──cancel───▶ CANCELLED ◀──cancel── (the delivery deadline passed)

Two notifications are flags, not states, because they happen beside the decision rather than
before it: ``restaurant_notified_at`` (the restaurant screen got the order) and
``user_notified_at`` (the confirmation email went out). A restaurant may press *Accept* the
instant its screen shows the order, before the notifier has recorded that it notified it.

:func:`plan` answers "may this action happen now?" with the new status and the event to
publish, or raises :class:`OrderStateConflict` saying why not. The orders table applies the
plan with a conditional update, so of two racing actions exactly one wins and exactly one
event is published.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from food_delivery.catalog import Line
from food_delivery.errors import OrderStateConflict

__all__ = ["ACTIONS", "TERMINAL", "Action", "Order", "Plan", "Status", "plan"]


class Status(StrEnum):
    PLACED = "PLACED"
    ACCEPTED = "ACCEPTED"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"
    TIMED_OUT = "TIMED_OUT"
    CANCELLED = "CANCELLED"


TERMINAL: Final = frozenset({Status.COMPLETED, Status.REJECTED, Status.TIMED_OUT, Status.CANCELLED})


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    name: str
    allowed_from: frozenset[Status]
    to: Status
    event: str


#: The table of actions: from which statuses each may happen, the status it leads to, and the
#: event it publishes.
ACTIONS: Final = {
    a.name: a
    for a in (
        Action(
            name="accept",
            allowed_from=frozenset({Status.PLACED}),
            to=Status.ACCEPTED,
            event="order_accepted",
        ),
        Action(
            name="reject",
            allowed_from=frozenset({Status.PLACED}),
            to=Status.REJECTED,
            event="order_rejected",
        ),
        Action(
            name="complete",
            allowed_from=frozenset({Status.ACCEPTED}),
            to=Status.COMPLETED,
            event="order_completed",
        ),
        Action(
            name="time_out",
            allowed_from=frozenset({Status.PLACED}),
            to=Status.TIMED_OUT,
            event="order_timed_out",
        ),
        Action(
            name="cancel",
            allowed_from=frozenset({Status.PLACED, Status.ACCEPTED}),
            to=Status.CANCELLED,
            event="order_cancelled",
        ),
    )
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    id: str
    restaurant: str
    lines: tuple[Line, ...]
    address: str
    email: str
    status: Status
    placed_at: float
    restaurant_notified_at: float | None = None
    decided_at: float | None = None
    user_notified_at: float | None = None
    ended_at: float | None = None
    reason: str | None = None

    @property
    def total_cents(self) -> int:
        return sum(line.quantity * line.price_cents for line in self.lines)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def after(self, action: Action, now: float, reason: str | None) -> Order:
        decided = self.decided_at
        if action.name in ("accept", "reject", "time_out") or (
            action.name == "cancel" and decided is None
        ):
            decided = now
        ended = now if action.to in TERMINAL else self.ended_at
        return replace(self, status=action.to, decided_at=decided, ended_at=ended, reason=reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    action: Action
    order: Order


_WHY: Final = {
    Status.ACCEPTED: "it was already accepted",
    Status.COMPLETED: "it is already completed",
    Status.REJECTED: "it was rejected",
    Status.TIMED_OUT: "it timed out: the restaurant did not answer in time",
    Status.CANCELLED: "it was cancelled",
    Status.PLACED: "it was never accepted",
}


def plan(order: Order, action_name: str, now: float, reason: str | None = None) -> Plan:
    """The order after ``action_name``, or :class:`OrderStateConflict` naming why not."""
    action = ACTIONS.get(action_name)
    if action is None:
        raise ValueError(f"unknown order action '{action_name}'")
    if order.status not in action.allowed_from:
        verb = action.name.replace("_", " ")
        raise OrderStateConflict(
            f"order {order.id}: cannot {verb}: {_WHY[order.status]} (status {order.status})"
        )
    return Plan(action=action, order=order.after(action, now, reason))
