"""Delivering an event to an API destination: one HTTP request, outside any transaction.

*API destinations* and *Connections*:

- the request goes to the destination's ``InvocationEndpoint`` (``*`` wildcards filled from the
  target's ``PathParameterValues``) with its ``HttpMethod``; the body is the target's input
  (the event by default), ``Content-Type: application/json; charset=utf-8`` and
  ``User-Agent: Amazon/EventBridge/ApiDestinations`` as EventBridge sends; the target's
  ``HeaderParameters`` and ``QueryStringParameters`` and the connection's
  ``InvocationHttpParameters`` are added, the connection's values taking precedence; the
  connection's ``BodyParameters`` become keys of a JSON object body (:func:`.merge_body`);
- authorization: ``BASIC`` sends ``Authorization: Basic ...``; ``API_KEY`` sends the key as the
  header ``ApiKeyName``; ``OAUTH_CLIENT_CREDENTIALS`` first asks the ``AuthorizationEndpoint``
  for a token (client id and secret as Basic credentials, the ``OAuthHttpParameters`` added,
  ``grant_type=client_credentials`` unless given) and sends ``Authorization: Bearer TOKEN``;
  the token is cached until it expires (``expires_in``), and dropped when the endpoint answers
  401 so that the retry fetches a new one;
- "EventBridge requests to an API destination endpoint must have a maximum client execution
  timeout of 5 seconds"; EventBridge retries (per the target's RetryPolicy) the requests that
  time out and those answered 401, 407, 409, 429 or 5xx, and does not retry other 4xx (nor
  1xx-3xx, which are success here), which go to the dead-letter queue at once;
- ``InvocationRateLimitPerSecond`` spaces this process's requests to one destination;
- a request that cannot be sent as built (a header value that a ``$.`` path filled with a line
  break or non-ASCII text) is not retried: it goes to the dead letters at once.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from oncue.asl.jsonutil import loads
from oncue.bus.handlers import Failure
from oncue.bus.http_params import HttpParameters, build_url, merge_body, set_header
from oncue.bus.resources import name_from_arn
from oncue.bus.targets import Target
from oncue.errors import OncueError
from oncue.store.base import Store
from oncue.store.bus_api_sql import ApiDestinationRecord, ConnectionRecord, ConnectionTx
from oncue.types import Json

if TYPE_CHECKING:
    import httpx

# httpx is imported where a request is made, not here: every dispatcher builds an ApiCaller, and
# importing httpx at start-up cost ~85 ms of every `oncue` command, most of which never call an
# API destination (python -X importtime -c "import oncue").

__all__ = ["RETRYABLE_STATUSES", "TIMEOUT_SECONDS", "USER_AGENT", "ApiCaller"]

log = logging.getLogger("oncue.bus")

TIMEOUT_SECONDS: Final = 5.0
USER_AGENT: Final = "Amazon/EventBridge/ApiDestinations"
RETRYABLE_STATUSES: Final = frozenset({401, 407, 409, 429})
_MAX_MESSAGE: Final = 512
_NO_BODY: Final = ("GET", "HEAD")


class ApiCaller:
    """Calls API destinations for one dispatcher: one HTTP client, the OAuth token cache, the
    per-destination rate limits."""

    def __init__(self, store: Store, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.store = store
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None
        #: (connection ARN, last modified) -> (token, monotonic expiry).
        self._tokens: dict[tuple[str, float], tuple[str, float]] = {}
        self._next_slot: dict[str, float] = {}

    def _http(self) -> httpx.AsyncClient:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _load(self, name: str) -> tuple[ApiDestinationRecord, ConnectionRecord] | str:
        with self.store.read() as tx:
            ctx = ConnectionTx(tx)
            destination = ctx.get_destination(name)
            if destination is None:
                return f"API destination {name} does not exist"
            connection_name = name_from_arn(destination.connection, "connection", "Connection")
            connection = ctx.get_connection(connection_name)
            if connection is None:
                return f"connection {connection_name} of API destination {name} does not exist"
            return destination, connection

    async def deliver(self, target: Target, event: dict[str, Json], text: str) -> Failure | None:
        """Send one event; None on a 1xx-3xx answer, else the failure (retryable or not).

        Nothing escapes: an unexpected error fails this delivery (to be retried), not the
        dispatcher, which would otherwise hold the delivery without ever settling it."""
        try:
            return await self._deliver(target, event, text)
        except Exception as error:
            log.exception("delivery to the API destination %s failed", target.name)
            message = f"{type(error).__name__}: {error}"[:_MAX_MESSAGE]
            return Failure(code="INTERNAL_ERROR", message=message)

    async def _deliver(self, target: Target, event: dict[str, Json], text: str) -> Failure | None:
        import httpx

        loaded = await asyncio.to_thread(self._load, target.name)
        if isinstance(loaded, str):
            return Failure(code="NO_RESOURCE", message=loaded, retryable=False)
        destination, connection = loaded
        params = (target.http or HttpParameters()).resolved(event)
        try:
            url = build_url(destination.endpoint, params.path)
        except OncueError as error:
            return Failure(code="INVALID_PARAMETER", message=str(error), retryable=False)
        auth: dict[str, Any] = loads(connection.auth)
        # The headers EventBridge itself adds to an API destination request.
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
        }
        for name, value in params.headers.items():
            set_header(headers, name, value)
        query = dict(params.query)
        body: dict[str, str] = {}
        # The connection's parameters go last: its values take precedence over the target's.
        _add(auth.get("InvocationHttpParameters"), headers, query, body)
        content = None
        if destination.http_method not in _NO_BODY:
            content = merge_body(text, body).encode()
        await self._pace(destination)
        try:
            for name, value in (await self._authorization(connection, auth)).items():
                set_header(headers, name, value)
            response = await self._http().request(
                destination.http_method,
                url,
                params=query,
                headers=headers,
                content=content,
            )
        except (
            httpx.LocalProtocolError,
            httpx.InvalidURL,
            httpx.UnsupportedProtocol,
            UnicodeEncodeError,
        ) as error:
            # The request cannot be sent as built (a header value a "$." path filled with a
            # line break or non-ASCII text, say): the same request would fail again.
            message = f"the request cannot be sent: {type(error).__name__}: {error}"
            return Failure(
                code="INVALID_PARAMETER", message=message[:_MAX_MESSAGE], retryable=False
            )
        except httpx.TimeoutException as error:
            return Failure(code="SDK_CLIENT_ERROR", message=f"timed out: {error!r}"[:_MAX_MESSAGE])
        except httpx.HTTPError as error:
            return Failure(code="SDK_CLIENT_ERROR", message=f"{type(error).__name__}: {error}")
        except _AuthFailed as error:
            return error.failure
        return self._settle(connection, response)

    def _settle(self, connection: ConnectionRecord, response: httpx.Response) -> Failure | None:
        status = response.status_code
        if status < 400:
            return None
        if status == 401:
            self._tokens.pop((connection.arn, connection.last_modified), None)
        message = f"HTTP {status} from {response.request.url}: {response.text}"[:_MAX_MESSAGE]
        retryable = status in RETRYABLE_STATUSES or status >= 500
        code = "THROTTLING" if status == 429 else "ERROR_FROM_TARGET"
        return Failure(code=code, message=message, retryable=retryable)

    async def _pace(self, destination: ApiDestinationRecord) -> None:
        """Wait for this destination's next request slot (InvocationRateLimitPerSecond)."""
        now = time.monotonic()
        slot = max(now, self._next_slot.get(destination.name, now))
        self._next_slot[destination.name] = slot + 1.0 / destination.rate_limit
        if slot > now:
            await asyncio.sleep(slot - now)

    async def _authorization(
        self, connection: ConnectionRecord, auth: Mapping[str, Any]
    ) -> dict[str, str]:
        kind = connection.authorization_type
        if kind == "BASIC":
            basic = auth["BasicAuthParameters"]
            return {"Authorization": _basic(basic["Username"], basic["Password"])}
        if kind == "API_KEY":
            key = auth["ApiKeyAuthParameters"]
            return {key["ApiKeyName"]: key["ApiKeyValue"]}
        return {"Authorization": f"Bearer {await self._token(connection, auth)}"}

    async def _token(self, connection: ConnectionRecord, auth: Mapping[str, Any]) -> str:
        import httpx

        key = (connection.arn, connection.last_modified)
        cached = self._tokens.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        oauth = auth["OAuthParameters"]
        client = oauth["ClientParameters"]
        headers = {"Authorization": _basic(client["ClientID"], client["ClientSecret"])}
        query: dict[str, str] = {}
        body: dict[str, str] = {}
        _add(oauth.get("OAuthHttpParameters"), headers, query, body)
        body.setdefault("grant_type", "client_credentials")
        method = oauth["HttpMethod"]
        try:
            response = await self._http().request(
                method,
                oauth["AuthorizationEndpoint"],
                headers=headers,
                params=query if method != "GET" else {**query, **body},
                data=body if method != "GET" else None,
            )
        except httpx.HTTPError as error:
            raise _AuthFailed(
                Failure(code="SDK_CLIENT_ERROR", message=f"OAuth endpoint: {error!r}")
            ) from None
        if response.status_code >= 400:
            raise _AuthFailed(
                Failure(
                    code="ERROR_FROM_TARGET",
                    message=f"OAuth endpoint answered HTTP {response.status_code}",
                    retryable=response.status_code in RETRYABLE_STATUSES
                    or response.status_code >= 500,
                )
            )
        try:
            document = response.json()
            token = str(document["access_token"])
        except (ValueError, KeyError, TypeError):
            raise _AuthFailed(
                Failure(code="ERROR_FROM_TARGET", message="OAuth endpoint sent no access_token")
            ) from None
        lifetime = document.get("expires_in", 3600)
        seconds = float(lifetime) if isinstance(lifetime, int | float | str) else 3600.0
        # Renew a little early, so that a token does not expire on its way to the endpoint.
        self._tokens[key] = (token, time.monotonic() + max(seconds - 10.0, 0.0))
        return token


class _AuthFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _add(
    params: Json,
    headers: dict[str, str],
    query: dict[str, str],
    body: dict[str, str] | None = None,
) -> None:
    """Add a connection's HeaderParameters/QueryStringParameters/BodyParameters."""
    if not isinstance(params, Mapping):
        return
    for group, into in (
        ("HeaderParameters", headers),
        ("QueryStringParameters", query),
        ("BodyParameters", body),
    ):
        items = params.get(group)
        if into is None or not isinstance(items, list):
            continue
        for item in items:
            if isinstance(item, Mapping) and isinstance(item.get("Key"), str):
                value = str(item.get("Value", ""))
                if into is headers:
                    set_header(headers, item["Key"], value)
                else:
                    into[item["Key"]] = value
