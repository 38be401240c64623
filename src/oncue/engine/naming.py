"""Names, ARNs and page tokens the way Step Functions spells and checks them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Final

from oncue import paging
from oncue.errors import InvalidArn, InvalidName, InvalidToken
from oncue.paging import encode_page_token
from oncue.types import Json

__all__ = [
    "arn_prefix",
    "check_name",
    "decode_page_token",
    "encode_page_token",
    "parse_arn",
    "revision_of",
    "served_state_machines",
]

#: AWS "CreateStateMachine" / "StartExecution": a name must not contain white space,
#: brackets, wildcards, the special characters "#%\^|~`$&,;:/ or control characters.
_FORBIDDEN: Final = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
_ARN: Final = re.compile(
    r"^arn:aws[\w-]*:states:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<kind>stateMachine|execution|activity):(?P<rest>.+)$"
)


def check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 80 or _FORBIDDEN.search(name):
        raise InvalidName(
            f"Invalid Name: '{name}' — {_article(what)} {what} name must be 1 to 80 characters "
            "without white "
            'space, brackets, wildcards, control characters or any of "#%\\^|~`$&,;:/'
        )
    return name


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def arn_prefix(region: str, account: str) -> str:
    return f"arn:aws:states:{region}:{account}"


def parse_arn(arn: object, kind: str) -> tuple[str, str, list[str]]:
    """(region, account, name parts) of an ARN of the given kind, or InvalidArn."""
    m = _ARN.match(arn) if isinstance(arn, str) else None
    if m is None or m["kind"] != kind:
        raise InvalidArn(f"Invalid Arn: 'Resource type not valid in this context: {arn}'")
    return m["region"], m["account"], m["rest"].split(":")


def revision_of(definition: str, role_arn: str) -> str:
    """A content address for a definition: equal content, equal revision id."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{role_arn}\n{definition}"))


def decode_page_token(token: str) -> Json:
    try:
        return paging.decode_page_token(token)
    except ValueError:
        raise InvalidToken(f"Invalid Token: the nextToken {token[:32]!r} is not valid") from None


def served_state_machines(
    names: Iterable[str] | None, region: str, account: str
) -> frozenset[str] | None:
    """The ARNs of the state machines a worker serves, from names or unqualified ARNs
    (InvalidName, InvalidArn: which one and why); None serves all."""
    if names is None:
        return None
    if isinstance(names, str):
        names = [names]
    arns: set[str] = set()
    for name in names:
        if name.startswith("arn:"):
            _, _, parts = parse_arn(name, "stateMachine")
            if len(parts) != 1:
                raise InvalidArn(
                    f"Invalid Arn: '{name}': a worker serves a state machine with all its "
                    "versions and aliases; give its unqualified ARN or its name"
                )
            arns.add(name)
        else:
            checked = check_name(name, "state machine")
            arns.add(f"{arn_prefix(region, account)}:stateMachine:{checked}")
    if not arns:
        raise InvalidName("Invalid Name: a worker limited to state machines needs at least one")
    return frozenset(arns)
