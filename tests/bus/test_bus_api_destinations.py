"""Connections, API destinations and HTTP delivery against a real HTTP server on 127.0.0.1.

The server checks the authorization each connection promises (Basic, an API key header, an
OAuth bearer token it issued at its own token endpoint) and answers with the statuses a test
scripts, so retries, dead letters and the token cache are observed from the server's side.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from oncue.bus.dispatch import Dispatcher
from oncue.bus.http_target import ApiCaller
from oncue.bus.service import EventBus
from oncue.errors import (
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ValidationException,
)
from oncue.store import SQLiteStore

BASIC = {"BasicAuthParameters": {"Username": "oncue", "Password": "s3cret"}}
API_KEY = {"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "k-123"}}


@dataclass
class Server:
    """What the test server saw, and what it answers next."""

    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    issued: set[str] = field(default_factory=set)


def _authorized(server: Server, headers: dict[str, str]) -> bool:
    auth = headers.get("authorization", "")
    if auth == "Basic " + base64.b64encode(b"oncue:s3cret").decode():
        return True
    if headers.get("x-api-key") == "k-123":
        return True
    return auth.startswith("Bearer ") and auth[7:] in server.issued


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen = {
                "method": self.command,
                "path": parts.path,
                "query": parse_qs(parts.query),
                "headers": headers,
                "header_names": [k.lower() for k in self.headers],
                "body": body,
            }
            if parts.path == "/token":
                state.token_requests.append(seen)
                expected = "Basic " + base64.b64encode(b"client:client-secret").decode()
                form = parse_qs(body)
                if headers.get("authorization") != expected or form.get("grant_type") != [
                    "client_credentials"
                ]:
                    self._answer(401, {"error": "invalid_client"})
                    return
                token = f"token-{len(state.token_requests)}"
                state.issued.add(token)
                self._answer(200, {"access_token": token, "expires_in": 3600})
                return
            state.requests.append(seen)
            if state.delay:
                time.sleep(state.delay)
            if not _authorized(state, headers):
                self._answer(401, {"message": "who are you?"})
                return
            status = state.statuses.pop(0) if state.statuses else 200
            self._answer(status, {"ok": status < 400})

        do_GET = do_POST = do_PUT = do_DELETE = _handle

    class Quiet(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a client that timed out closed its socket: nothing to report

    httpd = Quiet(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(f"sqlite:///{tmp_path / 'oncue.db'}")
    yield opened
    opened.close()


@pytest.fixture
def bus(store: SQLiteStore) -> EventBus:
    return EventBus(store)


@asynccontextmanager
async def dispatching(store: SQLiteStore, bus: EventBus, **options: Any) -> AsyncIterator[None]:
    dispatcher = Dispatcher(store, {}, poll_seconds=0.02, backoff=(0.01, 0.02), **options)
    bus.listener = dispatcher.wake
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


def destination(
    bus: EventBus,
    server: Server,
    auth_type: str = "BASIC",
    auth: Any = None,
    endpoint: str = "/orders/*",
    method: str = "POST",
    **options: Any,
) -> str:
    connection = bus.create_connection("conn", auth_type, auth or BASIC)["ConnectionArn"]
    created = bus.create_api_destination(
        "orders-api", connection, server.url + endpoint, method, **options
    )
    return str(created["ApiDestinationArn"])


def route(bus: EventBus, arn: str, **target: Any) -> None:
    bus.put_rule("to-api", event_pattern=json.dumps({"source": ["shop"]}))
    bus.put_targets("to-api", [{"Id": "api", "Arn": arn, **target}])


def order(n: int) -> dict[str, Any]:
    return {"Source": "shop", "DetailType": "OrderPlaced", "Detail": json.dumps({"order": n})}


def dead(bus: EventBus) -> list[Any]:
    return list(bus.list_dead_letters()["DeadLetters"])


# --- the API -------------------------------------------------------------------------------


def test_connections_never_show_their_secrets(bus: EventBus) -> None:
    created = bus.create_connection("basic", "BASIC", BASIC, description="partner")
    assert created["ConnectionState"] == "AUTHORIZED"
    assert str(created["ConnectionArn"]).startswith(
        "arn:aws:events:us-east-1:123456789012:connection/basic/"
    )
    described = bus.describe_connection("basic")
    assert described["AuthParameters"] == {"BasicAuthParameters": {"Username": "oncue"}}
    assert described["Description"] == "partner"
    assert "s3cret" not in json.dumps(described)
    bus.create_connection(
        "oauth",
        "OAUTH_CLIENT_CREDENTIALS",
        {
            "OAuthParameters": {
                "ClientParameters": {"ClientID": "client", "ClientSecret": "client-secret"},
                "AuthorizationEndpoint": "https://auth.example.com/token",
                "HttpMethod": "POST",
                "OAuthHttpParameters": {
                    "BodyParameters": [
                        {"Key": "scope", "Value": "orders", "IsValueSecret": False},
                        {"Key": "audience", "Value": "hidden", "IsValueSecret": True},
                    ]
                },
            }
        },
    )
    oauth = bus.describe_connection("oauth")["AuthParameters"]
    assert oauth["OAuthParameters"]["ClientParameters"] == {"ClientID": "client"}
    assert oauth["OAuthParameters"]["OAuthHttpParameters"]["BodyParameters"] == [
        {"Key": "scope", "Value": "orders", "IsValueSecret": False},
        {"Key": "audience", "IsValueSecret": True},
    ]
    listed = bus.list_connections()["Connections"]
    assert [c["Name"] for c in listed] == ["basic", "oauth"]
    bus.update_connection("basic", auth_parameters={"BasicAuthParameters": {"Username": "new"}})
    shown = bus.describe_connection("basic")["AuthParameters"]
    assert shown == {"BasicAuthParameters": {"Username": "new"}}  # password kept, not shown
    with pytest.raises(ResourceAlreadyExistsException):
        bus.create_connection("basic", "BASIC", BASIC)
    with pytest.raises(ValidationException, match="Password is required"):
        bus.create_connection("x", "BASIC", {"BasicAuthParameters": {"Username": "u"}})
    with pytest.raises(ValidationException, match="authorizationType"):
        bus.create_connection("x", "DIGEST", BASIC)
    assert bus.delete_connection("basic")["ConnectionState"] == "DELETING"
    with pytest.raises(ResourceNotFoundException):
        bus.describe_connection("basic")


def test_api_destinations_in_eventbridge_shapes(bus: EventBus) -> None:
    connection = bus.create_connection("conn", "API_KEY", API_KEY)["ConnectionArn"]
    created = bus.create_api_destination(
        "hook", connection, "https://example.com/hook/*", "PUT", 10, "a hook"
    )
    assert created["ApiDestinationState"] == "ACTIVE"
    described = bus.describe_api_destination("hook")
    assert described["InvocationEndpoint"] == "https://example.com/hook/*"
    assert described["HttpMethod"] == "PUT"
    assert described["InvocationRateLimitPerSecond"] == 10
    assert described["ConnectionArn"] == connection
    bus.update_api_destination("hook", http_method="POST")
    assert bus.describe_api_destination("hook")["HttpMethod"] == "POST"
    assert [d["Name"] for d in bus.list_api_destinations()["ApiDestinations"]] == ["hook"]
    with pytest.raises(ValidationException, match="httpMethod"):
        bus.create_api_destination("bad", connection, "https://example.com", "TRACE")
    with pytest.raises(ValidationException, match="InvocationEndpoint"):
        bus.create_api_destination("bad", connection, "ftp://example.com", "POST")
    with pytest.raises(ValidationException, match="invocationRateLimitPerSecond"):
        bus.create_api_destination("bad", connection, "https://example.com", "POST", 0)
    with pytest.raises(ResourceNotFoundException):
        bus.create_api_destination(
            "bad", str(connection).replace("/conn/", "/none/"), "https://example.com", "POST"
        )
    assert bus.delete_api_destination("hook") == {}
    with pytest.raises(ResourceNotFoundException):
        bus.describe_api_destination("hook")


# --- delivery ------------------------------------------------------------------------------


async def test_basic_auth_delivery_with_http_parameters(
    bus: EventBus, store: SQLiteStore, server: Server
) -> None:
    arn = destination(bus, server)
    route(
        bus,
        arn,
        HttpParameters={
            "PathParameterValues": ["$.detail.order"],
            "HeaderParameters": {"x-source": "$.source", "x-fixed": "yes"},
            "QueryStringParameters": {"tenant": "acme"},
        },
    )
    async with dispatching(store, bus):
        response = bus.put_events([order(42)])
        await until(lambda: len(server.requests) == 1)
        await until(lambda: store_count(store, "bus_deliveries") == 0)
    (request,) = server.requests
    assert request["method"] == "POST"
    assert request["path"] == "/orders/42"
    assert request["query"] == {"tenant": ["acme"]}
    assert request["headers"]["x-source"] == "shop"
    assert request["headers"]["x-fixed"] == "yes"
    assert request["headers"]["content-type"] == "application/json; charset=utf-8"
    assert request["headers"]["user-agent"] == "Amazon/EventBridge/ApiDestinations"
    body = json.loads(request["body"])
    assert body["id"] == response["Entries"][0]["EventId"]
    assert body["detail"] == {"order": 42}


def store_count(store: SQLiteStore, table: str) -> int:
    with store.read() as tx:
        return int(tx.one(f"SELECT COUNT(*) FROM {table}")[0])


async def test_api_key_delivery(bus: EventBus, store: SQLiteStore, server: Server) -> None:
    arn = destination(bus, server, "API_KEY", API_KEY, endpoint="/hook", method="PUT")
    route(bus, arn, InputPath="$.detail")
    async with dispatching(store, bus):
        bus.put_events([order(7)])
        await until(lambda: store_count(store, "bus_deliveries") == 0)
    (request,) = server.requests
    assert request["method"] == "PUT" and request["headers"]["x-api-key"] == "k-123"
    assert json.loads(request["body"]) == {"order": 7}
    assert dead(bus) == []


async def test_connection_parameters_are_merged_into_every_request(
    bus: EventBus, store: SQLiteStore, server: Server
) -> None:
    """InvocationHttpParameters: headers and query strings join the target's HttpParameters,
    the connection's values winning on a clash; BodyParameters become keys of a JSON object
    body (over the event's own), and a body that is no JSON object is sent as it is."""
    invocation = {
        "HeaderParameters": [{"Key": "x-tenant", "Value": "from-connection"}],
        "QueryStringParameters": [
            {"Key": "tenant", "Value": "from-connection"},
            {"Key": "region", "Value": "eu", "IsValueSecret": True},
        ],
        "BodyParameters": [
            {"Key": "api_version", "Value": "2"},
            {"Key": "source", "Value": "from-connection", "IsValueSecret": True},
        ],
    }
    arn = destination(
        bus, server, auth={**BASIC, "InvocationHttpParameters": invocation}, endpoint="/hook"
    )
    shown = bus.describe_connection("conn")["AuthParameters"]["InvocationHttpParameters"]
    assert shown["BodyParameters"] == [
        {"Key": "api_version", "Value": "2"},
        {"Key": "source", "IsValueSecret": True},
    ]
    params = {
        "HeaderParameters": {"X-Tenant": "from-target", "x-target": "yes"},
        "QueryStringParameters": {"tenant": "from-target", "page": "1"},
    }
    bus.put_rule("to-api", event_pattern=json.dumps({"source": ["shop"]}))
    bus.put_targets(
        "to-api",
        [
            {"Id": "event", "Arn": arn, "HttpParameters": params},
            {"Id": "text", "Arn": arn, "Input": json.dumps("just text")},
            {"Id": "list", "Arn": arn, "InputPath": "$.resources"},
        ],
    )
    async with dispatching(store, bus):
        response = bus.put_events([order(5)])
        await until(lambda: store_count(store, "bus_deliveries") == 0)
    assert dead(bus) == []
    bodies = {r["body"]: r for r in server.requests}
    assert set(bodies) >= {'"just text"', "[]"}  # no keys to add: sent unchanged
    (request,) = [r for body, r in bodies.items() if body.startswith("{")]
    body = json.loads(request["body"])
    assert body["id"] == response["Entries"][0]["EventId"]
    assert body["detail"] == {"order": 5}
    assert body["source"] == "from-connection"
    assert body["api_version"] == "2"
    assert request["header_names"].count("x-tenant") == 1
    assert request["headers"]["x-tenant"] == "from-connection"
    assert request["headers"]["x-target"] == "yes"
    assert request["query"] == {"tenant": ["from-connection"], "region": ["eu"], "page": ["1"]}
    for other in (bodies['"just text"'], bodies["[]"]):
        assert other["headers"]["x-tenant"] == "from-connection"
        assert other["query"] == {"tenant": ["from-connection"], "region": ["eu"]}


def test_connection_parameters_are_checked(bus: EventBus) -> None:
    def create(parameters: Any) -> None:
        bus.create_connection("c", "BASIC", {**BASIC, "InvocationHttpParameters": parameters})

    with pytest.raises(ValidationException, match=r"BodyParameters\[1\]\.Value"):
        create({"BodyParameters": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": 2}]})
    with pytest.raises(ValidationException, match=r"\[0\]\.Key 'bad name' is not valid"):
        create({"HeaderParameters": [{"Key": "bad name", "Value": "v"}]})
    with pytest.raises(ValidationException, match="at most 100"):
        create({"QueryStringParameters": [{"Key": f"k{n}", "Value": "v"} for n in range(101)]})
    with pytest.raises(ValidationException, match="unknown fields"):
        create({"Cookies": []})
    with pytest.raises(ValidationException, match="IsValueSecret"):
        create({"BodyParameters": [{"Key": "a", "Value": "1", "IsValueSecret": "yes"}]})
    assert bus.list_connections()["Connections"] == []


def test_target_http_parameters_are_checked(bus: EventBus, server: Server) -> None:
    arn = destination(bus, server, endpoint="/hook")
    bus.put_rule("to-api", event_pattern=json.dumps({"source": ["shop"]}))
    bad = {
        "name": {"HeaderParameters": {"bad name": "v"}},
        "value": {"HeaderParameters": {"x-a": "line\nbreak"}},
        "query": {"QueryStringParameters": {"q": "tab\there"}},
        "path": {"PathParameterValues": ["  "]},
    }
    response = bus.put_targets(
        "to-api", [{"Id": name, "Arn": arn, "HttpParameters": p} for name, p in bad.items()]
    )
    failed = {f["TargetId"]: f["ErrorMessage"] for f in response["FailedEntries"]}
    assert set(failed) == set(bad)
    assert "HeaderParameters key 'bad name' is not valid" in failed["name"]
    assert "HeaderParameters['x-a']" in failed["value"]
    assert "QueryStringParameters['q']" in failed["query"]
    assert "PathParameterValues[0]" in failed["path"]


async def test_a_request_that_cannot_be_sent_is_not_retried(
    bus: EventBus, store: SQLiteStore, server: Server
) -> None:
    """A header value a $. path fills with what HTTP cannot carry fails at once, without a
    request and without retries (the same request would fail again)."""
    route(
        bus,
        destination(bus, server, endpoint="/hook"),
        HttpParameters={"HeaderParameters": {"x-who": "$.detail.who"}},
    )
    async with dispatching(store, bus):
        bus.put_events(
            [
                {"Source": "shop", "DetailType": "T", "Detail": json.dumps({"who": "Zoë"})},
                {"Source": "shop", "DetailType": "T", "Detail": json.dumps({"who": "a\nb"})},
                {"Source": "shop", "DetailType": "T", "Detail": json.dumps({"who": "Zoe"})},
            ]
        )
        await until(lambda: len(dead(bus)) == 2 and store_count(store, "bus_deliveries") == 0)
    assert [r["headers"]["x-who"] for r in server.requests] == ["Zoe"]
    for letter in dead(bus):
        assert letter["ErrorCode"] == "INVALID_PARAMETER"
        assert letter["RetryAttempts"] == 0
        assert "cannot be sent" in letter["ErrorMessage"]


async def test_an_unexpected_error_fails_the_delivery_not_the_dispatcher(
    bus: EventBus, store: SQLiteStore, server: Server
) -> None:
    """A connection row damaged in the database (its secrets gone) makes the request raise;
    the delivery fails like any other, and the dispatcher goes on with the next event."""
    route(bus, destination(bus, server, endpoint="/hook"), RetryPolicy={"MaximumRetryAttempts": 0})
    with store.transaction() as tx:
        tx.run("UPDATE bus_connections SET auth = '{}'")
    async with dispatching(store, bus):
        bus.put_events([order(1)])
        await until(lambda: len(dead(bus)) == 1)
        bus.update_connection("conn", authorization_type="BASIC", auth_parameters=BASIC)
        bus.put_events([order(2)])
        await until(lambda: len(server.requests) == 1)
    (letter,) = dead(bus)
    assert letter["ErrorCode"] == "INTERNAL_ERROR"
    assert "KeyError" in letter["ErrorMessage"]
    assert json.loads(server.requests[0]["body"])["detail"] == {"order": 2}


async def test_oauth_token_is_fetched_once_and_cached(
    bus: EventBus, store: SQLiteStore, server: Server
) -> None:
    auth = {
        "OAuthParameters": {
            "ClientParameters": {"ClientID": "client", "ClientSecret": "client-secret"},
            "AuthorizationEndpoint": server.url + "/token",
            "HttpMethod": "POST",
        }
    }
    arn = destination(bus, server, "OAUTH_CLIENT_CREDENTIALS", auth, endpoint="/hook")
    route(bus, arn)
    async with dispatching(store, bus):
        for n in range(3):
            bus.put_events([order(n)])
            await until(lambda n=n: len(server.requests) == n + 1)  # type: ignore[misc]
        await until(lambda: store_count(store, "bus_deliveries") == 0)
    assert len(server.token_requests) == 1
    assert {r["headers"]["authorization"] for r in server.requests} == {"Bearer token-1"}
    assert dead(bus) == []


async def test_5xx_and_429_are_retried_then_delivered(
    bus: EventBus, store: SQLiteStore, server: Server
) -> None:
    server.statuses = [503, 429, 500]
    route(bus, destination(bus, server, endpoint="/hook"))
    async with dispatching(store, bus):
        bus.put_events([order(1)])
        await until(lambda: len(server.requests) == 4)
        await until(lambda: store_count(store, "bus_deliveries") == 0)
    assert dead(bus) == []


async def test_other_4xx_goes_to_the_dead_letters_without_retry(
    bus: EventBus, store: SQLiteStore, server: Server
) -> None:
    server.statuses = [404]
    route(bus, destination(bus, server, endpoint="/hook"))
    async with dispatching(store, bus):
        bus.put_events([order(1)])
        await until(lambda: len(dead(bus)) == 1)
    assert len(server.requests) == 1
    (letter,) = dead(bus)
    assert letter["RetryAttempts"] == 0
    assert "HTTP 404" in letter["ErrorMessage"]


async def test_a_wrong_password_is_retried_until_the_policy_runs_out(
    bus: EventBus, store: SQLiteStore, server: Server
) -> None:
    auth = {"BasicAuthParameters": {"Username": "oncue", "Password": "wrong"}}
    arn = destination(bus, server, auth=auth, endpoint="/hook")
    route(bus, arn, RetryPolicy={"MaximumRetryAttempts": 2})
    async with dispatching(store, bus):
        bus.put_events([order(1)])
        await until(lambda: len(dead(bus)) == 1)
    assert len(server.requests) == 3  # 401 is retried, like 429 and 5xx
    assert dead(bus)[0]["RetryAttempts"] == 2


async def test_a_timeout_is_retried(bus: EventBus, store: SQLiteStore, server: Server) -> None:
    server.delay = 1.0
    route(bus, destination(bus, server, endpoint="/hook"), RetryPolicy={"MaximumRetryAttempts": 1})
    async with dispatching(store, bus, api_caller=ApiCaller(store, timeout=0.3)):
        bus.put_events([order(1)])
        await until(lambda: len(dead(bus)) == 1)
    assert dead(bus)[0]["ErrorCode"] == "SDK_CLIENT_ERROR"
    assert dead(bus)[0]["RetryAttempts"] == 1
    # The server sees both attempts (it may read the second after the client gave up on it).
    await until(lambda: len(server.requests) == 2)


async def test_the_rate_limit_spaces_requests(
    bus: EventBus, store: SQLiteStore, server: Server
) -> None:
    route(bus, destination(bus, server, endpoint="/hook", invocation_rate_limit_per_second=20))
    started = time.monotonic()
    async with dispatching(store, bus):
        bus.put_events([order(n) for n in range(6)])
        await until(lambda: len(server.requests) == 6)
    assert time.monotonic() - started >= 5 / 20
