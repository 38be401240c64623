"""Names, ARNs, pages and timestamps of archives, replays, connections and API destinations.

From the EventBridge API reference: an ``ArchiveName`` is 1 to 48 characters of
``[\\.\\-_A-Za-z0-9]``; a ``ReplayName``, a connection ``Name`` and an API destination ``Name``
1 to 64 of the same. ARNs: ``arn:aws:events:REGION:ACCOUNT:archive/NAME``, ``.../replay/NAME``,
``.../connection/NAME/UUID`` and ``.../api-destination/NAME/UUID``. Timestamps travel as epoch
seconds (the AWS JSON protocol).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

from oncue.bus.naming import decode_page_token, encode_page_token
from oncue.errors import ValidationException
from oncue.types import Json

__all__ = [
    "arn",
    "check_description",
    "check_name",
    "name_from_arn",
    "page_after",
    "page_token",
    "timestamp",
]

_NAME: Final = re.compile(r"[\.\-_A-Za-z0-9]+")
_ARN: Final = re.compile(
    r"arn:aws[\w-]*:events:[a-z0-9-]+:\d{12}:(?P<kind>[a-z-]+)/(?P<name>[\.\-_A-Za-z0-9]+)"
    r"(/[0-9a-fA-F-]+)?"
)
_MAX_DESCRIPTION: Final = 512


def check_name(value: object, where: str, maximum: int = 64) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= maximum or not _NAME.fullmatch(value):
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at '{where}' failed to satisfy "
            r"constraint: Member must satisfy regular expression pattern: [\.\-_A-Za-z0-9]+ "
            f"and have length between 1 and {maximum}"
        )
    return value


def check_description(value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > _MAX_DESCRIPTION):
        raise ValidationException(
            "1 validation error detected: Value at 'description' failed to satisfy constraint: "
            f"Member must have length less than or equal to {_MAX_DESCRIPTION}"
        )
    return value


def arn(region: str, account: str, kind: str, name: str, suffix: str | None = None) -> str:
    tail = f"/{suffix}" if suffix else ""
    return f"arn:aws:events:{region}:{account}:{kind}/{name}{tail}"


def name_from_arn(value: object, kind: str, where: str) -> str:
    """The name in an ARN of ``kind`` (``archive``, ``connection``, ``api-destination``...)."""
    match = _ARN.fullmatch(value) if isinstance(value, str) else None
    if match is None or match["kind"] != kind:
        raise ValidationException(
            f"Parameter {where} is not valid: {value!r} is not the ARN of an {kind}."
        )
    return match["name"]


def page_after(token: str | None) -> str:
    if token is None:
        return ""
    after = decode_page_token(token)
    if not isinstance(after, str):
        raise ValidationException("The NextToken is not valid.")
    return after


def page_token(names: list[str], count: int) -> str | None:
    """The NextToken of a page of ``count`` read with one more (None: the last page)."""
    return encode_page_token(names[count - 1]) if len(names) > count else None


def timestamp(value: Json | datetime, where: str) -> float:
    """Epoch seconds from a request's timestamp (epoch seconds, ISO 8601 text or datetime)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    raise ValidationException(f"Parameter {where} is not a valid timestamp: {value!r}.")
