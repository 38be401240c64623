"""boto3's SQS client reads the internal queues that rule targets deliver to."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import Served, client

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:"


def test_events_delivered_to_a_queue_target_are_received_and_deleted(served: Served) -> None:
    events, sqs = served.events, served.sqs
    events.put_rule(Name="to-queue", EventPattern=json.dumps({"source": ["food.orders"]}))
    events.put_targets(Rule="to-queue", Targets=[{"Id": "q", "Arn": QUEUE_ARN + "kitchen"}])
    url = sqs.get_queue_url(QueueName="kitchen")["QueueUrl"]
    assert url == f"{served.url}/123456789012/kitchen"
    sent = events.put_events(
        Entries=[{"Source": "food.orders", "DetailType": "order_placed", "Detail": '{"id": 7}'}]
    )
    received = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=15, VisibilityTimeout=60)
    (message,) = received["Messages"]
    event = json.loads(message["Body"])
    assert (event["id"], event["detail"]) == (sent["Entries"][0]["EventId"], {"id": 7})
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)


def test_receive_long_polls_until_a_message_is_sent(served: Served) -> None:
    sqs = served.sqs
    url = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
    got: dict[str, Any] = {}
    poller = threading.Thread(
        target=lambda: got.update(
            client("sqs", served.url).receive_message(
                QueueUrl=url, WaitTimeSeconds=15, VisibilityTimeout=0, MessageAttributeNames=["All"]
            )
        )
    )
    began = time.monotonic()
    poller.start()
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="bake",
        MessageAttributes={"oven": {"DataType": "String", "StringValue": "2"}},
    )
    poller.join(20)
    assert time.monotonic() - began < 10
    (message,) = got["Messages"]
    assert (message["MessageId"], message["Body"]) == (sent["MessageId"], "bake")
    assert message["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert message["MessageAttributes"]["oven"]["StringValue"] == "2"
    # Not deleted and its visibility timeout (0 s) over: received again, counted twice.
    (again,) = sqs.receive_message(QueueUrl=url)["Messages"]
    assert again["MessageId"] == sent["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    assert again["ReceiptHandle"] != message["ReceiptHandle"]


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda sqs: sqs.receive_message(QueueUrl="http://x/123/bad name"), "InvalidAddress"),
        (
            lambda sqs: sqs.receive_message(QueueUrl="jobs", MaxNumberOfMessages=11),
            "InvalidParameterValue",
        ),
        (
            lambda sqs: sqs.receive_message(QueueUrl="jobs", WaitTimeSeconds=21),
            "InvalidParameterValue",
        ),
        (lambda sqs: sqs.send_message(QueueUrl="jobs", MessageBody=""), "InvalidParameterValue"),
        (
            lambda sqs: sqs.send_message(
                QueueUrl="jobs",
                MessageBody="x",
                MessageAttributes={"b": {"DataType": "Binary", "BinaryValue": b"1"}},
            ),
            "InvalidParameterValue",
        ),
    ],
)
def test_sqs_errors(shared: Served, call: Any, code: str) -> None:
    with pytest.raises(ClientError) as info:
        call(shared.sqs)
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
