"""The event envelope that ``TestEventPattern`` insists on.

EventBridge's TestEventPattern API reference: the event "must follow the format specified in
AWS Events, and the following fields are mandatory: ``id``, ``account``, ``source``, ``time``,
``region``, ``resources``, ``detail-type``". A rule's pattern itself may match any JSON object;
only the test operation checks the envelope.
"""

from __future__ import annotations

import json
from typing import Final

from oncue.errors import PatternError
from oncue.types import Json

__all__ = ["REQUIRED_TEST_EVENT_FIELDS", "parse_test_event"]

#: In the order the API reference lists them.
REQUIRED_TEST_EVENT_FIELDS: Final = (
    "id",
    "account",
    "source",
    "time",
    "region",
    "resources",
    "detail-type",
)


def _invalid(reason: str) -> PatternError:
    return PatternError(f"Parameter Event is not valid. Reason: {reason}")


def parse_test_event(event: str | Json) -> dict[str, Json]:
    """Parse (if given as text) and check an event for TestEventPattern."""
    if isinstance(event, str):
        try:
            event = json.loads(event)
        except json.JSONDecodeError as error:
            raise _invalid(
                f"Invalid JSON: {error.msg} at line {error.lineno}, column {error.colno}"
            ) from None
    if not isinstance(event, dict):
        raise _invalid("the event must be a JSON object")
    for name in REQUIRED_TEST_EVENT_FIELDS:
        if name not in event:
            raise _invalid(f'missing required field "{name}"')
    if not isinstance(event["resources"], list):
        raise _invalid('field "resources" must be an array')
    for name in REQUIRED_TEST_EVENT_FIELDS:
        if name != "resources" and not isinstance(event[name], str):
            raise _invalid(f'field "{name}" must be a string')
    return event
