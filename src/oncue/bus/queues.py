"""Internal queues: where ``arn:aws:sqs:REGION:ACCOUNT:NAME`` targets (and dead-letter
queues) deliver, read the way Amazon SQS standard queues are read.

*Amazon SQS visibility timeout*: a received message stays in the queue, hidden from other
consumers for the visibility timeout; the consumer deletes it with the receipt handle of that
receive once processed. If it does not, the message becomes visible again and is received
again, with a new receipt handle and a higher ``ApproximateReceiveCount`` (at-least-once
delivery). A delete with the handle of an earlier receive "succeeds, but the message will not be
deleted" (DeleteMessage). A queue exists as soon as a message is sent to it.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Final

from oncue.asl.jsonutil import dumps, loads
from oncue.errors import InvalidInput
from oncue.store.bus_sql import BusTx, QueueMessage
from oncue.types import Json

__all__ = [
    "MAX_RECEIVE",
    "MAX_VISIBILITY_SECONDS",
    "check_queue_name",
    "delete_message",
    "receive_messages",
    "send_in_tx",
    "send_message",
]

#: ReceiveMessage: "MaxNumberOfMessages ... Valid values: 1 to 10".
MAX_RECEIVE: Final = 10
#: "The maximum visibility timeout for a message is 12 hours".
MAX_VISIBILITY_SECONDS: Final = 12 * 3600
#: "A queue name can have up to 80 characters ... alphanumeric characters, hyphens (-), and
#: underscores (_)".
_QUEUE_NAME: Final = re.compile(r"[\w-]{1,80}")


def check_queue_name(queue: object) -> str:
    if not isinstance(queue, str) or not _QUEUE_NAME.fullmatch(queue):
        raise InvalidInput(f"Queue name {queue!r} is not valid: up to 80 letters, digits, - and _.")
    return queue


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def send_in_tx(
    btx: BusTx, queue: str, body: str, attributes: Mapping[str, str] | None, now: datetime
) -> str:
    """Put a message in the queue (visible at once); its MessageId."""
    message_id = str(uuid.uuid4())
    btx.send_messages(
        [
            (
                queue,
                message_id,
                body,
                dumps(dict(attributes)) if attributes else None,
                now.timestamp(),
            )
        ]
    )
    return message_id


def send_message(
    btx: BusTx, queue: str, body: str, attributes: Mapping[str, str] | None, now: datetime
) -> dict[str, Json]:
    check_queue_name(queue)
    if not isinstance(body, str) or not body:
        raise InvalidInput("The message body must be a non-empty string.")
    message_id = send_in_tx(btx, queue, body, attributes, now)
    return {"MessageId": message_id, "MD5OfMessageBody": _md5(body)}


def _document(message: QueueMessage) -> dict[str, Json]:
    document: dict[str, Json] = {
        "MessageId": message.message_id,
        "ReceiptHandle": message.receipt,
        "MD5OfBody": _md5(message.body),
        "Body": message.body,
        "Attributes": {
            "ApproximateReceiveCount": str(message.receive_count),
            "SentTimestamp": str(round(message.sent * 1000)),
        },
    }
    if message.attributes is not None:
        attributes = loads(message.attributes)
        document["MessageAttributes"] = {
            name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
        }
    return document


def receive_messages(
    btx: BusTx, queue: str, max_messages: int, visibility_timeout: float, now: datetime
) -> dict[str, Json]:
    """ReceiveMessage: up to ``max_messages`` visible messages, hidden for
    ``visibility_timeout`` seconds from now."""
    check_queue_name(queue)
    if isinstance(max_messages, bool) or not isinstance(max_messages, int):
        raise InvalidInput("MaxNumberOfMessages must be an integer.")
    if not 1 <= max_messages <= MAX_RECEIVE:
        raise InvalidInput(
            f"Value {max_messages} for parameter MaxNumberOfMessages is invalid. Reason: Must "
            f"be between 1 and {MAX_RECEIVE}, if provided."
        )
    if not isinstance(visibility_timeout, int | float) or not (
        0 <= visibility_timeout <= MAX_VISIBILITY_SECONDS
    ):
        raise InvalidInput(
            f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: "
            f"Must be between 0 and {MAX_VISIBILITY_SECONDS}, if provided."
        )
    moment = now.timestamp()
    received = btx.receive_messages(
        queue,
        now=moment,
        invisible_until=moment + visibility_timeout,
        receipts=[uuid.uuid4().hex for _ in range(max_messages)],
    )
    return {"Messages": [_document(message) for message in received]}


def delete_message(btx: BusTx, queue: str, receipt_handle: str) -> dict[str, Json]:
    """DeleteMessage: acknowledge a received message by the handle of its latest receive."""
    check_queue_name(queue)
    if not isinstance(receipt_handle, str) or not receipt_handle:
        raise InvalidInput("ReceiptHandleIsInvalid: the receipt handle is empty.")
    btx.delete_message(queue, receipt_handle)
    return {}
