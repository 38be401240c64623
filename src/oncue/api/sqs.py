"""The internal queues as the SQS API reads them (``X-Amz-Target: AmazonSQS.<Action>``,
awsJson1_0).

A rule target ``arn:aws:sqs:REGION:ACCOUNT:NAME`` (or a dead-letter queue) delivers into an
internal queue (:mod:`oncue.bus.queues`); a consumer in another process reads it with boto3's
SQS client pointed at ``oncue serve``: GetQueueUrl, then ReceiveMessage (with its long poll,
``WaitTimeSeconds`` up to 20), DeleteMessage once processed; SendMessage puts a message in.
A queue URL is ``<endpoint>/<account>/<name>``, where the endpoint is the URL the client
reached the server at. A queue exists as soon as its name is used, so GetQueueUrl never
answers QueueDoesNotExist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import urlsplit

from oncue.api.operations import Action, Param, Service, table
from oncue.bus.queues import check_queue_name
from oncue.bus.service import EventBus
from oncue.errors import InvalidAddress, InvalidInput
from oncue.types import Json

__all__ = ["CONTENT_TYPE", "SQS", "Queues"]

CONTENT_TYPE: Final = "application/x-amz-json-1.0"
#: ReceiveMessage: "WaitTimeSeconds ... between 0 and 20 seconds".
MAX_WAIT_SECONDS: Final = 20.0


def queue_name(queue_url: str) -> str:
    """The queue a queue URL names (its last path segment; a bare name passes)."""
    path = urlsplit(queue_url).path if "://" in queue_url else queue_url
    name = path.rstrip("/").rpartition("/")[2]
    try:
        return check_queue_name(name)
    except InvalidInput:
        raise InvalidAddress(f"The address {queue_url} is not valid for this endpoint.") from None


def _string_attributes(attributes: Mapping[str, Json] | None) -> dict[str, str] | None:
    """SQS message attributes ({"k": {"DataType": "String", "StringValue": "v"}}) as the
    internal queue keeps them (names to strings); String and Number types only."""
    if not attributes:
        return None
    result: dict[str, str] = {}
    for name, value in attributes.items():
        kind = value.get("DataType", "") if isinstance(value, dict) else ""
        text = value.get("StringValue") if isinstance(value, dict) else None
        if not isinstance(kind, str) or kind.split(".")[0] not in ("String", "Number"):
            raise InvalidInput(
                f"Message attribute {name!r}: only String and Number attributes are supported."
            )
        if not isinstance(text, str):
            raise InvalidInput(f"Message attribute {name!r} must have a StringValue.")
        result[name] = text
    return result


class Queues:
    """The SQS actions over an app's EventBridge facade (its internal queues)."""

    def __init__(self, events: EventBus) -> None:
        self.events = events

    def get_queue_url(self, queue_name: str, endpoint: str) -> dict[str, Json]:
        name = check_queue_name(queue_name)
        return {"QueueUrl": f"{endpoint.rstrip('/')}/{self.events.account}/{name}"}

    def send_message(
        self, queue_url: str, body: str, attributes: Mapping[str, Json] | None = None
    ) -> dict[str, Json]:
        return self.events.send_message(queue_name(queue_url), body, _string_attributes(attributes))

    def receive_message(
        self, queue_url: str, max_messages: int = 1, visibility_timeout: int = 30
    ) -> dict[str, Json]:
        received = self.events.receive_messages(
            queue_name(queue_url), max_messages, visibility_timeout
        )
        # SQS answers an empty receive with no Messages member at all.
        return received if received.get("Messages") else {}

    def delete_message(self, queue_url: str, receipt_handle: str) -> dict[str, Json]:
        return self.events.delete_message(queue_name(queue_url), receipt_handle)


_URL = Param(aws="QueueUrl", name="queue_url", required=True)

SQS: Final = Service(
    prefix="AmazonSQS",
    content_type=CONTENT_TYPE,
    renames={
        "InvalidExecutionInput": "InvalidParameterValue",
        "ValidationException": "InvalidParameterValue",
        "InternalFailure": "InternalError",
    },
    actions=table(
        Action(
            name="GetQueueUrl",
            call=Queues.get_queue_url,
            params=(
                Param(aws="QueueName", name="queue_name", required=True),
                Param(aws="endpoint", name="endpoint", from_request=True),
            ),
        ),
        Action(
            name="SendMessage",
            call=Queues.send_message,
            params=(
                _URL,
                Param(aws="MessageBody", name="body", required=True),
                Param(aws="MessageAttributes", name="attributes", kind="structure"),
            ),
        ),
        Action(
            name="ReceiveMessage",
            call=Queues.receive_message,
            params=(
                _URL,
                Param(aws="MaxNumberOfMessages", name="max_messages", kind="integer"),
                Param(aws="VisibilityTimeout", name="visibility_timeout", kind="integer"),
                Param(aws="WaitTimeSeconds", name="wait_seconds", kind="integer"),
            ),
            long_poll=MAX_WAIT_SECONDS,
            wait="wait_seconds",
        ),
        Action(
            name="DeleteMessage",
            call=Queues.delete_message,
            params=(_URL, Param(aws="ReceiptHandle", name="receipt_handle", required=True)),
        ),
    ),
)
