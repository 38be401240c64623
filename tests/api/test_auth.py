"""``--api-keys``: only requests signed (SigV4) with a known access key are served."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from click.testing import CliRunner

from conftest import client, start_server, stop_server
from oncue.api.sigv4 import parse_authorization, signature
from oncue.app import App
from oncue.cli.main import cli
from oncue.errors import IncompleteSignature, MissingAuthenticationToken

KEYS = {"AKIDOPERATOR": "operator-secret", "AKIDCI": "ci-secret"}
TARGET = "AWSStepFunctions.ListStateMachines"


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    server, thread = start_server(App(f"sqlite:///{tmp_path / 'auth.db'}"), keys=KEYS)
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        stop_server(server, thread)


def signed(url: str, body: str, key: str, secret: str) -> dict[str, str]:
    """The headers botocore's own SigV4 signer puts on a request."""
    request = AWSRequest(
        method="POST",
        url=url + "/",
        data=body,
        headers={"X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.0"},
    )
    SigV4Auth(Credentials(key, secret), "states", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def send(url: str, body: str, headers: dict[str, str]) -> tuple[int, Any]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.request("POST", "/", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_requests_signed_with_a_known_key_are_served(url: str) -> None:
    sfn = client("stepfunctions", url, "AKIDOPERATOR", "operator-secret")
    assert sfn.list_state_machines()["stateMachines"] == []
    events = client("events", url, "AKIDCI", "ci-secret")
    assert [b["Name"] for b in events.list_event_buses()["EventBuses"]] == ["default"]


@pytest.mark.parametrize(
    ("key", "secret", "code", "status"),
    [
        ("AKIDOPERATOR", "wrong-secret", "InvalidSignatureException", 403),
        ("AKIDUNKNOWN", "operator-secret", "InvalidClientTokenId", 403),
    ],
)
def test_a_wrong_secret_or_an_unknown_key_is_refused(
    url: str, key: str, secret: str, code: str, status: int
) -> None:
    with pytest.raises(ClientError) as info:
        client("stepfunctions", url, key, secret).list_state_machines()
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_unsigned_malformed_expired_and_tampered_requests_are_refused(url: str) -> None:
    body = "{}"
    plain = {"X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.0"}
    assert send(url, body, plain) == (
        403,
        {
            "__type": "MissingAuthenticationToken",
            "message": "Request is missing Authentication Token",
        },
    )
    status, document = send(url, body, {**plain, "Authorization": "AWS4-HMAC-SHA256 nonsense"})
    assert (status, document["__type"]) == (400, "IncompleteSignature")

    headers = signed(url, body, "AKIDOPERATOR", "operator-secret")
    assert send(url, body, headers)[0] == 200
    # The same signature over another body: refused.
    status, document = send(url, '{"maxResults": 1}', headers)
    assert (status, document["__type"]) == (403, "InvalidSignatureException")
    # Dated 20 minutes ago: refused before the signature is even checked.
    stale = datetime.now(UTC) - timedelta(minutes=20)
    expired = {**headers, "X-Amz-Date": stale.strftime("%Y%m%dT%H%M%SZ")}
    status, document = send(url, body, expired)
    assert (status, document["__type"]) == (400, "RequestExpired")


def test_health_probes_need_no_signature(url: str) -> None:
    parts = urlsplit(url)
    for path in ("/healthz", "/readyz"):
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        connection.request("GET", path)
        assert connection.getresponse().status == 200
        connection.close()


def test_the_signature_matches_botocores_for_the_same_request() -> None:
    """The pure check agrees with botocore's signer, byte for byte."""
    headers = signed("http://127.0.0.1:8000", '{"a": 1}', "AKIDCI", "ci-secret")
    # botocore signs the Host it derives from the URL; the HTTP client sends that header.
    lower = {"host": "127.0.0.1:8000", **{name.lower(): v for name, v in headers.items()}}
    auth = parse_authorization(lower["authorization"])
    assert auth.access_key == "AKIDCI"
    assert auth.scope.endswith("/us-east-1/states/aws4_request")
    computed = signature(
        "ci-secret",
        method="POST",
        path="/",
        query="",
        headers=lower,
        signed_headers=auth.signed_headers,
        body=b'{"a": 1}',
        amz_date=lower["x-amz-date"],
        scope=auth.scope,
    )
    assert computed == auth.signature
    with pytest.raises(MissingAuthenticationToken):
        parse_authorization(None)
    with pytest.raises(IncompleteSignature):
        parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/x, SignedHeaders=host, Signature=0")


def test_serve_refuses_malformed_api_keys(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "serve",
            "--api-keys",
            "no-secret-here",
            "--database-url",
            f"sqlite:///{tmp_path / 'k.db'}",
        ],
    )
    assert result.exit_code == 2
    assert "ACCESS_KEY_ID:SECRET" in result.output
