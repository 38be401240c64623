"""The AWS JSON protocol on the wire: bad requests get a clear 4xx in AWS's error shape, never
a traceback or a 500; health and readiness endpoints."""

from __future__ import annotations

import contextlib
import http.client
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import PASS, Served, client, start_server, stop_server
from oncue.api import SERVICES
from oncue.api.protocol import MAX_BODY_BYTES
from oncue.app import App

SFN_JSON = "application/x-amz-json-1.0"
EVENTS_JSON = "application/x-amz-json-1.1"


def request(
    url: str,
    body: bytes | str = b"{}",
    *,
    target: str | None = None,
    method: str = "POST",
    path: str = "/",
    content_type: str = SFN_JSON,
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request; the status, the headers (lower-case names) and the JSON body."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    headers = {"Content-Type": content_type}
    if target is not None:
        headers["X-Amz-Target"] = target
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        answer = {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()
    try:
        document = json.loads(raw) if raw else None
    except ValueError:
        document = raw.decode()
    return response.status, answer, document


@pytest.mark.parametrize(
    ("target", "body", "status", "error", "says"),
    [
        (None, b"{}", 400, "UnknownOperationException", "X-Amz-Target header is missing"),
        ("AWSLambda.Invoke", b"{}", 400, "UnknownOperationException", "names no service"),
        ("AWSStepFunctions", b"{}", 400, "UnknownOperationException", "names no service"),
        ("AWSStepFunctions.Frobnicate", b"{}", 400, "UnknownOperationException", "Frobnicate"),
        ("AWSStepFunctions.ListStateMachines", b"{nope", 400, "SerializationException", "JSON"),
        ("AWSStepFunctions.ListStateMachines", b"[1]", 400, "SerializationException", "object"),
        (
            "AWSStepFunctions.ListStateMachines",
            b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            400,
            "SerializationException",
            "too deeply",
        ),
        (
            "AWSStepFunctions.ListStateMachines",
            b'{"maxResults": "ten"}',
            400,
            "SerializationException",
            "'maxResults' must be an integer, not a string",
        ),
        (
            "AWSStepFunctions.GetExecutionHistory",
            b'{"executionArn": "arn:x", "reverseOrder": 1}',
            400,
            "SerializationException",
            "'reverseOrder' must be a boolean",
        ),
        (
            "AWSStepFunctions.StartExecution",
            b"{}",
            400,
            "ValidationException",
            "Value null at 'stateMachineArn'",
        ),
        (
            "AWSStepFunctions.CreateStateMachine",
            b'{"name": "m", "definition": {"StartAt": "P"}}',
            400,
            "SerializationException",
            "'definition' must be a string",
        ),
        ("AWSEvents.PutEvents", b'{"Entries": {}}', 400, "SerializationException", "list"),
        (
            "AWSStepFunctions.UpdateStateMachine",
            b'{"stateMachineArn": "\\ud800"}',
            400,
            "SerializationException",
            "not valid Unicode",
        ),
        (
            "OncueEvents.RedriveDeadLetters",
            b'{"Ids": [18446744073709551615]}',
            400,
            "SerializationException",
            "out of range",
        ),
        ("AWSEvents.DescribeRule", b"{}", 400, "ValidationException", "Value null at 'Name'"),
        (
            "AWSEvents.PutEvents",
            json.dumps({"Entries": [{"Source": "s"}] * 11}).encode(),
            400,
            "ValidationException",
            "",
        ),
    ],
)
def test_bad_requests_get_aws_errors(
    shared: Served, target: str | None, body: bytes, status: int, error: str, says: str
) -> None:
    code, headers, document = request(shared.url, body, target=target)
    assert code == status, document
    assert document["__type"] == error
    assert says in document["message"]
    assert "Traceback" not in document["message"]
    assert headers["x-amzn-requestid"]
    # The service's own content type when the target names one (JSON 1.0 or 1.1).
    known = target is not None and target.startswith("AWSStepFunctions")
    assert headers["content-type"] == (SFN_JSON if known else EVENTS_JSON)


def test_an_oversized_body_gets_413_and_a_clean_answer(served: Served) -> None:
    body = b'{"input": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'
    status, _, document = request(served.url, body, target="AWSStepFunctions.StartExecution")
    assert status == 413
    assert document["__type"] == "RequestEntityTooLargeException"
    assert "1024 KiB" in document["message"]
    # The connection was not left in a broken state: the next request works.
    status, _, document = request(served.url, target="AWSStepFunctions.ListStateMachines")
    assert (status, document) == (200, {"stateMachines": []})


def test_an_empty_body_means_no_parameters(served: Served) -> None:
    status, _, document = request(served.url, b"", target="AWSEvents.ListEventBuses")
    assert status == 200
    assert [b["Name"] for b in document["EventBuses"]] == ["default"]


def test_timestamps_are_epoch_seconds(served: Served) -> None:
    arn = served.machine("pass", PASS)
    status, _, document = request(
        served.url,
        json.dumps({"stateMachineArn": arn}),
        target="AWSStepFunctions.DescribeStateMachine",
    )
    assert status == 200
    assert isinstance(document["creationDate"], float)


def test_only_post_on_the_root(shared: Served) -> None:
    status, _, _ = request(shared.url, method="GET", path="/")
    assert status == 405
    status, _, _ = request(shared.url, method="POST", path="/elsewhere")
    assert status == 404


def test_any_credentials_are_accepted(served: Served) -> None:
    # Unsigned, and signed with made-up keys: both served (signatures are not verified).
    status, _, _ = request(served.url, target="AWSStepFunctions.ListActivities")
    assert status == 200
    sfn = client("stepfunctions", served.url)
    assert sfn.list_activities()["activities"] == []


def test_health_and_readiness(served: Served) -> None:
    status, _, document = request(served.url, method="GET", path="/healthz")
    assert (status, document) == (200, {"status": "ok"})
    status, _, document = request(served.url, method="GET", path="/readyz")
    assert status == 200
    assert document["status"] == "ready"
    assert document["checks"]["database"] == {"ok": True}
    assert document["checks"]["migrations"]["ok"] is True
    assert document["checks"]["worker"] == {"ok": True}
    # What SIGTERM does first: readiness fails so load balancers stop sending requests.
    served.server.backend.draining = True
    status, _, document = request(served.url, method="GET", path="/readyz")
    assert status == 503
    assert document["status"] == "not ready"
    assert document["checks"]["shutdown"]["ok"] is False


@pytest.fixture
def api_only(tmp_path: Path) -> Iterator[str]:
    server, thread = start_server(App(f"sqlite:///{tmp_path / 'api.db'}"), worker=False)
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        stop_server(server, thread)


def test_without_a_worker_readiness_does_not_expect_one(api_only: str) -> None:
    status, _, document = request(api_only, method="GET", path="/readyz")
    assert status == 200
    assert "worker" not in document["checks"]
    sfn = client("stepfunctions", api_only)
    arn = sfn.create_state_machine(
        name="pass", definition=json.dumps(PASS), roleArn="arn:aws:iam::123456789012:role/r"
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    # A Pass machine needs no handler: its transitions run in StartExecution's transaction.
    assert sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"
    events = client("events", api_only)
    put = events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])
    assert put["FailedEntryCount"] == 0 and put["Entries"][0]["EventId"]


#: Values of the right JSON type but odd content, per member kind (for the sweep below).
ODD_VALUES: dict[str, list[Any]] = {
    "string": [
        "",
        "x",
        "x" * 5000,
        "\u0000",
        "\ud800",
        "🙂",
        "{}",
        "arn:aws:states:us-east-1:123456789012:stateMachine:m",
        "arn:aws:states:us-east-1:123456789012:execution:m:e",
        "arn:aws:states:us-east-1:123456789012:activity:a",
    ],
    "integer": [-1, 0, 3, 10**15, 2**64 - 1, 10**30],
    "boolean": [True, False],
    "list": [
        [],
        [1],
        [2**64 - 1],
        [10**30],
        [{}],
        ["x"],
        [None],
        [{"Id": 1}],
        [{"Source": 1}],
        [[]],
    ],
    "structure": [{}, {"a": [1]}],
    "timestamp": [-1.0, 1e20],
}


def test_no_member_value_of_the_right_type_gets_a_server_error(served: Served) -> None:
    """Every action, every member, odd values: answered with 200 or an AWS 4xx error."""
    parts = urlsplit(served.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    answered = 0
    try:
        for prefix, service in SERVICES.items():
            for name, action in service.actions.items():
                base = {p.aws: ODD_VALUES[p.kind][1] for p in action.params}
                for param in action.params:
                    for value in ODD_VALUES[param.kind]:
                        body = json.dumps({**base, param.aws: value})
                        headers = {"X-Amz-Target": f"{prefix}.{name}"}
                        connection.request("POST", "/", body=body, headers=headers)
                        response = connection.getresponse()
                        document = json.loads(response.read())
                        assert response.status < 500, (name, param.aws, value, document)
                        if response.status != 200:
                            assert document["__type"] and document["message"]
                        answered += 1
    finally:
        connection.close()
    assert answered > 500


def test_readiness_fails_when_a_newer_oncue_migrated_the_database(served: Served) -> None:
    database = served.app.database_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.execute(
            "INSERT INTO oncue_schema (version, description, applied) VALUES (999, 'newer', 0)"
        )
    status, _, document = request(served.url, method="GET", path="/readyz")
    assert status == 503
    migrations = document["checks"]["migrations"]
    assert (migrations["ok"], migrations["applied"]) == (False, 999)
    assert migrations["expected"] < 999
    assert document["checks"]["database"] == {"ok": True}
