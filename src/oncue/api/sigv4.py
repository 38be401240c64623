"""Checking AWS Signature Version 4 on a request, for ``oncue serve --api-keys``. No I/O.

By default the API accepts any credentials. Given a set of access keys (id and secret), the
server recomputes each request's signature as the SDKs compute it (*Create a signed AWS API
request*, AWS Identity and Access Management user guide) and refuses the request unless it
matches:

1. the canonical request: method, URI path, sorted query string, the signed headers (lower-case
   names, values with surrounding spaces trimmed and inner runs of spaces collapsed), the list
   of signed header names, and the SHA-256 of the body;
2. the string to sign: ``AWS4-HMAC-SHA256``, the request time (``X-Amz-Date``), the credential
   scope (``date/region/service/aws4_request``) and the SHA-256 of the canonical request;
3. the signing key: HMAC-SHA256 chained over the date, region, service and ``aws4_request``,
   starting from ``"AWS4" + secret``; the signature is the hex HMAC of the string to sign.

A request more than 15 minutes away from the server's clock is refused (RequestExpired), as
AWS refuses it. The region and the service in the scope are not checked against anything: a
client may sign for any region.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from urllib.parse import quote, unquote

from oncue.errors import (
    IncompleteSignature,
    InvalidClientTokenId,
    InvalidSignature,
    MissingAuthenticationToken,
    RequestExpired,
)

__all__ = ["ALGORITHM", "MAX_SKEW", "Authorization", "parse_authorization", "signature", "verify"]

ALGORITHM: Final = "AWS4-HMAC-SHA256"
MAX_SKEW: Final = timedelta(minutes=15)
_FIELD = re.compile(r"\s*(Credential|SignedHeaders|Signature)=([^,\s]+)\s*")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Authorization:
    """The parts of an ``Authorization: AWS4-HMAC-SHA256 ...`` header."""

    access_key: str
    scope: str
    date: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(header: str | None) -> Authorization:
    if not header:
        raise MissingAuthenticationToken("Request is missing Authentication Token")
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignature(
            f"Unsupported authorization type {algorithm!r}: expected {ALGORITHM}"
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        match = _FIELD.fullmatch(part)
        if match is not None:
            fields[match[1]] = match[2]
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in fields]
    if missing:
        raise IncompleteSignature(
            f"Authorization header requires {', '.join(missing)} (AWS Signature Version 4)"
        )
    access_key, _, scope = fields["Credential"].partition("/")
    parts = scope.split("/")
    if not access_key or len(parts) != 4 or parts[3] != "aws4_request":
        raise IncompleteSignature(
            "Credential must be ACCESS_KEY/DATE/REGION/SERVICE/aws4_request, got "
            f"{fields['Credential']!r}"
        )
    return Authorization(
        access_key=access_key,
        scope=scope,
        date=parts[0],
        signed_headers=tuple(fields["SignedHeaders"].split(";")),
        signature=fields["Signature"],
    )


def _canonical_query(query: str) -> str:
    pairs = []
    for item in query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signature(
    secret: str,
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    signed_headers: tuple[str, ...],
    body: bytes,
    amz_date: str,
    scope: str,
) -> str:
    """The SigV4 signature of a request (``headers`` keyed by lower-case name)."""
    canonical_headers = "".join(
        f"{name}:{_SPACES.sub(' ', headers.get(name, '').strip())}\n" for name in signed_headers
    )
    payload = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    canonical = "\n".join(
        [
            method.upper(),
            quote(path or "/", safe="/-_.~"),
            _canonical_query(query),
            canonical_headers,
            ";".join(signed_headers),
            payload,
        ]
    )
    to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    date, region, service, terminal = scope.split("/")
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), date), region), service), terminal)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def verify(
    keys: Mapping[str, str],
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> str:
    """Check a request's signature against the known keys; the access key id that signed it."""
    auth = parse_authorization(headers.get("authorization"))
    amz_date = headers.get("x-amz-date", "")
    try:
        moment = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise IncompleteSignature(
            f"X-Amz-Date must be an ISO 8601 basic time such as 20250102T030405Z, got {amz_date!r}"
        ) from None
    if abs(now - moment) > MAX_SKEW:
        raise RequestExpired(
            f"Signature expired: {amz_date} is more than 15 minutes away from the server's "
            f"time {now.strftime('%Y%m%dT%H%M%SZ')}"
        )
    if "host" not in auth.signed_headers or not amz_date.startswith(auth.date):
        raise IncompleteSignature("The signature must cover the Host header and the request date")
    secret = keys.get(auth.access_key)
    if secret is None:
        raise InvalidClientTokenId("The security token included in the request is invalid.")
    expected = signature(
        secret,
        method=method,
        path=path,
        query=query,
        headers=headers,
        signed_headers=auth.signed_headers,
        body=body,
        amz_date=amz_date,
        scope=auth.scope,
    )
    if not hmac.compare_digest(expected, auth.signature):
        raise InvalidSignature(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )
    return auth.access_key
