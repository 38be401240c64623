"""Task handlers for the order flow example: a simulated restaurant and customer."""

from __future__ import annotations

from typing import Any

import oncue


@oncue.handler("notify-restaurant")
def notify_restaurant(event: dict[str, Any], context: oncue.TaskContext) -> dict[str, Any]:
    # A real restaurant answers later from its screen; this one accepts at once.
    order = event["order"]
    context.send_task_success(event["taskToken"], {"accepted": True, "by": order["restaurant"]})
    return {"notified": order["restaurant"]}


@oncue.handler("notify-user")
def notify_user(event: dict[str, Any]) -> dict[str, Any]:
    return {"sent_to": event["email"], "message": event["message"]}


@oncue.handler("await-delivery")
def await_delivery(event: dict[str, Any], context: oncue.TaskContext) -> dict[str, Any]:
    context.send_task_success(event["taskToken"], {"deliveredAt": "2026-01-01T12:30:00Z"})
    return {"tracking": event["order"]["id"]}
