"""Properties of the pure parts of the API: whatever arrives, the answer is an AWS error or
well-typed arguments, never another exception."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from oncue.api import SERVICES
from oncue.api.operations import KINDS, bind
from oncue.api.protocol import decode_body, resolve
from oncue.api.sigv4 import verify
from oncue.errors import AuthError, OncueError, RequestError, ValidationException

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
ACTIONS = [action for service in SERVICES.values() for action in service.actions.values()]


@settings(max_examples=300, deadline=None)
@given(action=st.sampled_from(ACTIONS), data=st.data())
def test_bind_gives_typed_arguments_or_an_aws_error(action: Any, data: st.DataObject) -> None:
    names = [p.aws for p in action.params] + ["Unmodelled"]
    body = data.draw(st.dictionaries(st.sampled_from(names), JSON, max_size=len(names)))
    try:
        arguments = bind(action, body, {"endpoint": "http://127.0.0.1:8000"})
    except (RequestError, ValidationException):
        return
    for param in action.params:
        if param.name in arguments:
            value = arguments[param.name]
            assert isinstance(value, KINDS[param.kind])
            assert param.kind == "boolean" or not isinstance(value, bool)
        else:
            assert not param.required


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=200) | JSON.map(lambda v: repr(v).encode()))
def test_any_body_decodes_to_an_object_or_a_serialization_error(body: bytes) -> None:
    try:
        assert isinstance(decode_body(body), dict)
    except RequestError as error:
        assert error.aws_name == "SerializationException"


@settings(max_examples=200, deadline=None)
@given(target=st.none() | st.text(max_size=40))
def test_any_target_resolves_or_is_an_unknown_operation(target: str | None) -> None:
    try:
        service, action = resolve(target, SERVICES)
    except RequestError as error:
        assert error.aws_name == "UnknownOperationException"
    else:
        assert target == f"{service.prefix}.{action.name}"


@settings(max_examples=300, deadline=None)
@given(
    authorization=st.none() | st.text(max_size=120),
    amz_date=st.text(max_size=20) | st.just("20250102T030405Z"),
)
def test_any_authorization_is_accepted_only_with_a_valid_signature(
    authorization: str | None, amz_date: str
) -> None:
    headers = {"host": "127.0.0.1", "x-amz-date": amz_date}
    if authorization is not None:
        headers["authorization"] = authorization
    try:
        verify(
            {"AKID": "secret"},
            method="POST",
            path="/",
            query="",
            headers=headers,
            body=b"{}",
            now=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        )
    except AuthError:
        return
    except OncueError as error:  # pragma: no cover - a wrong family is a defect
        raise AssertionError(f"unexpected error {error!r}") from error
    raise AssertionError("a random Authorization header was accepted")


def test_the_api_modules_public_names_are_pinned() -> None:
    import oncue.api

    assert set(oncue.api.__all__) == {
        "EVENTS",
        "ONCUE_EVENTS",
        "SERVICES",
        "SQS",
        "STEP_FUNCTIONS",
        "Action",
        "ApiServer",
        "Backend",
        "Param",
        "Service",
        "create_api",
    }
    assert set(SERVICES) == {"AWSStepFunctions", "AWSEvents", "AmazonSQS", "OncueEvents"}
    for name in oncue.api.__all__:
        assert hasattr(oncue.api, name)
