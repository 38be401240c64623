"""Names, ARNs and page tokens of the event bus API, spelled and checked as EventBridge does.

From the EventBridge API reference: an event bus name is 1 to 256 characters of
``[/\\.\\-_A-Za-z0-9]`` (``EventBusName``), and wherever a bus is named an ARN
``arn:aws:events:REGION:ACCOUNT:event-bus/NAME`` may stand for it (``EventBusNameOrArn``); a
rule name is 1 to 64 characters of ``[\\.\\-_A-Za-z0-9]`` (``RuleName``), and so is a target id
(``TargetId``). A rule's ARN is ``arn:aws:events:REGION:ACCOUNT:rule/NAME`` on the default
bus and ``.../rule/BUS/NAME`` on a custom one.
"""

from __future__ import annotations

import re
from typing import Final

from oncue import paging
from oncue.errors import ValidationException
from oncue.paging import encode_page_token
from oncue.types import Json

__all__ = [
    "DEFAULT_BUS",
    "MAX_DESCRIPTION",
    "bus_arn",
    "check_bus_name",
    "check_limit",
    "check_rule_name",
    "check_target_id",
    "decode_page_token",
    "encode_page_token",
    "resolve_bus",
    "rule_arn",
]

DEFAULT_BUS: Final = "default"
#: Description: "Maximum length of 512".
MAX_DESCRIPTION: Final = 512
_BUS_NAME: Final = re.compile(r"[/\.\-_A-Za-z0-9]{1,256}")
_RULE_NAME: Final = re.compile(r"[\.\-_A-Za-z0-9]{1,64}")
_BUS_ARN: Final = re.compile(r"arn:aws[\w-]*:events:[a-z0-9-]+:\d{12}:event-bus/(?P<name>.+)")


def _invalid(value: object, where: str, constraint: str) -> ValidationException:
    return ValidationException(
        f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy "
        f"constraint: {constraint}"
    )


def check_bus_name(name: object, where: str = "name") -> str:
    if not isinstance(name, str) or not _BUS_NAME.fullmatch(name):
        raise _invalid(
            name,
            where,
            r"Member must satisfy regular expression pattern: [/\.\-_A-Za-z0-9]+ and have "
            "length between 1 and 256",
        )
    return name


def resolve_bus(name_or_arn: object, where: str = "eventBusName") -> str:
    """The bus a request names (a name or an ARN); the default bus when it names none."""
    if name_or_arn is None:
        return DEFAULT_BUS
    if isinstance(name_or_arn, str):
        match = _BUS_ARN.fullmatch(name_or_arn)
        if match is not None:
            return check_bus_name(match["name"], where)
    return check_bus_name(name_or_arn, where)


def check_rule_name(name: object, where: str = "name") -> str:
    if not isinstance(name, str) or not _RULE_NAME.fullmatch(name):
        raise _invalid(
            name,
            where,
            r"Member must satisfy regular expression pattern: [\.\-_A-Za-z0-9]+ and have "
            "length between 1 and 64",
        )
    return name


def check_target_id(target_id: object) -> str:
    return check_rule_name(target_id, "targets.member.id")


def check_limit(limit: object, maximum: int = 100) -> int:
    if limit is None:
        return maximum
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise _invalid(limit, "limit", f"Member must have value between 1 and {maximum}")
    return limit


def bus_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/{name}"


def rule_arn(region: str, account: str, bus: str, name: str) -> str:
    path = name if bus == DEFAULT_BUS else f"{bus}/{name}"
    return f"arn:aws:events:{region}:{account}:rule/{path}"


def decode_page_token(token: object) -> Json:
    """The position a NextToken carries; ValidationException for a token this API did not issue."""
    if not isinstance(token, str):
        raise ValidationException("The NextToken is not valid.")
    try:
        return paging.decode_page_token(token)
    except ValueError:
        raise ValidationException("The NextToken is not valid.") from None
