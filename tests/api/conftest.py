"""A real ``oncue serve`` server (uvicorn on a free 127.0.0.1 port) and boto3 clients for it.

The server runs in a thread of the test process, with an :class:`oncue.App` whose handlers
live here: ``double`` doubles, ``park`` hands its task token to the test (the machine waits
for a callback), ``record`` hands the events it receives to the test, ``flaky`` fails until the
test lets it succeed (then hands what it received to the test too).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config

from oncue.api import ApiServer
from oncue.app import App

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/oncue-test"
LAMBDA = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
STARTUP_SECONDS = 20.0

DOUBLE = {
    "StartAt": "Double",
    "States": {"Double": {"Type": "Task", "Resource": LAMBDA + "double", "End": True}},
}
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
PARK = {
    "StartAt": "Park",
    "States": {
        "Park": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "park", "Payload": {"token.$": "$$.Task.Token"}},
            "End": True,
        }
    },
}
FLAKY = {
    "StartAt": "Flaky",
    "States": {"Flaky": {"Type": "Task", "Resource": LAMBDA + "flaky", "End": True}},
}


def client(service: str, url: str, key: str = "AKIDEXAMPLE", secret: str = "dummy-secret") -> Any:
    """A boto3 client for the server: region us-east-1, dummy credentials, no retries (so a
    test sees the first answer)."""
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=70),
    )


def call_api(url: str, target: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """One unsigned JSON-protocol request (for actions no AWS SDK models); status and body."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request("POST", "/", body=json.dumps(body), headers={"X-Amz-Target": target})
        response = connection.getresponse()
        document: dict[str, Any] = json.loads(response.read())
        return response.status, document
    finally:
        connection.close()


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Poll a predicate (work in another thread or process) until it answers truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(0.01)


def finished(sfn: Any, arn: str, timeout: float = 15.0) -> dict[str, Any]:
    """DescribeExecution once the execution is no longer RUNNING."""

    def done() -> dict[str, Any] | None:
        description: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        return description if description["status"] != "RUNNING" else None

    result: dict[str, Any] = wait_until(done, timeout, f"{arn} to finish")
    return result


@dataclass
class Served:
    """A running server: its URL, its app, and what the handlers told the test."""

    url: str
    app: App
    server: ApiServer
    tokens: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    flaky_fails: list[bool] = field(default_factory=lambda: [True])

    @property
    def sfn(self) -> Any:
        return client("stepfunctions", self.url)

    @property
    def events(self) -> Any:
        return client("events", self.url)

    @property
    def sqs(self) -> Any:
        return client("sqs", self.url)

    def machine(self, name: str, definition: dict[str, Any]) -> str:
        response = self.sfn.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=ROLE
        )
        arn: str = response["stateMachineArn"]
        return arn

    def token(self, timeout: float = 15.0) -> str:
        return self.tokens.get(timeout=timeout)


def start_server(
    app: App, *, worker: bool = True, keys: dict[str, str] | None = None
) -> tuple[ApiServer, threading.Thread]:
    server = ApiServer(
        app, port=0, worker=worker, keys=keys, log_level="warning", graceful_seconds=5
    )
    thread = threading.Thread(target=server.run, name="oncue-api-test", daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), STARTUP_SECONDS, "startup")
    assert server.started, "the server did not start"
    return server, thread


def stop_server(server: ApiServer, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(30)
    assert not thread.is_alive(), "the server did not stop"


@contextlib.contextmanager
def serving(database: Path) -> Iterator[Served]:
    """A server over a new database, with the test handlers, for the duration of the block."""
    app = App(f"sqlite:///{database}", poll_seconds=0.05, grace_seconds=1.0)
    tokens: queue.Queue[str] = queue.Queue()
    seen: queue.Queue[dict[str, Any]] = queue.Queue()
    flaky_fails = [True]

    @app.handler("double")
    def double(event: dict[str, Any]) -> dict[str, Any]:
        return {"value": event["value"] * 2}

    @app.handler("park")
    def park(event: dict[str, Any]) -> None:
        tokens.put(event["token"])

    @app.handler("record")
    def record(event: dict[str, Any]) -> None:
        seen.put(event)

    @app.handler("flaky")
    def flaky(event: dict[str, Any]) -> dict[str, Any]:
        if flaky_fails[0]:
            raise RuntimeError("not yet")
        seen.put(event)
        return {"ok": True}

    server, thread = start_server(app)
    try:
        yield Served(
            url=f"http://127.0.0.1:{server.port}",
            app=app,
            server=server,
            tokens=tokens,
            seen=seen,
            flaky_fails=flaky_fails,
        )
    finally:
        stop_server(server, thread)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path / "api.db") as running:
        yield running


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for a module's tests that change nothing (bad requests, refusals)."""
    with serving(tmp_path_factory.mktemp("shared") / "api.db") as running:
        yield running
