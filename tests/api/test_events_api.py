"""boto3's EventBridge client against ``oncue serve``: real HTTP, SigV4-signed requests."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import LAMBDA, Served, call_api, finished, wait_until

ORDER_PLACED = json.dumps({"source": ["food.orders"], "detail-type": ["order_placed"]})


def error_code(info: pytest.ExceptionInfo[ClientError]) -> str:
    code: str = info.value.response["Error"]["Code"]
    return code


def test_buses_create_describe_list_and_delete(served: Served) -> None:
    events = served.events
    created = events.create_event_bus(Name="orders", Description="order events")
    assert created["EventBusArn"] == "arn:aws:events:us-east-1:123456789012:event-bus/orders"
    described = events.describe_event_bus(Name="orders")
    assert (described["Name"], described["Description"]) == ("orders", "order events")
    assert isinstance(described["CreationTime"], datetime)
    assert events.describe_event_bus()["Name"] == "default"
    events.create_event_bus(Name="payments")
    names = [b["Name"] for b in events.list_event_buses()["EventBuses"]]
    assert set(names) == {"default", "orders", "payments"}
    first = events.list_event_buses(Limit=1)
    assert len(first["EventBuses"]) == 1 and first["NextToken"]
    rest = events.list_event_buses(Limit=5, NextToken=first["NextToken"])["EventBuses"]
    assert [first["EventBuses"][0]["Name"], *(b["Name"] for b in rest)] == sorted(names)
    events.delete_event_bus(Name="payments")
    with pytest.raises(ClientError) as gone:
        events.describe_event_bus(Name="payments")
    assert error_code(gone) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exists:
        events.create_event_bus(Name="orders")
    assert error_code(exists) == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as default:
        events.delete_event_bus(Name="default")
    assert error_code(default) == "ValidationException"


def test_rules_and_targets_with_partial_failures(served: Served) -> None:
    events = served.events
    events.create_event_bus(Name="orders")
    rule_arn = events.put_rule(Name="placed", EventPattern=ORDER_PLACED, EventBusName="orders")[
        "RuleArn"
    ]
    assert rule_arn == "arn:aws:events:us-east-1:123456789012:rule/orders/placed"
    put = events.put_targets(
        Rule="placed",
        EventBusName="orders",
        Targets=[
            {"Id": "notify", "Arn": LAMBDA + "notify", "RetryPolicy": {"MaximumRetryAttempts": 3}},
            {"Id": "broken", "Arn": "not-an-arn"},
        ],
    )
    assert put["FailedEntryCount"] == 1
    assert put["FailedEntries"][0]["TargetId"] == "broken"
    assert put["FailedEntries"][0]["ErrorCode"]
    targets = events.list_targets_by_rule(Rule="placed", EventBusName="orders")["Targets"]
    assert [(t["Id"], t["Arn"]) for t in targets] == [("notify", LAMBDA + "notify")]
    assert targets[0]["RetryPolicy"]["MaximumRetryAttempts"] == 3

    with pytest.raises(ClientError) as has_targets:
        events.delete_rule(Name="placed", EventBusName="orders")
    assert error_code(has_targets) == "ValidationException"
    removed = events.remove_targets(Rule="placed", EventBusName="orders", Ids=["notify"])
    assert removed["FailedEntryCount"] == 0
    events.delete_rule(Name="placed", EventBusName="orders")
    with pytest.raises(ClientError) as gone:
        events.describe_rule(Name="placed", EventBusName="orders")
    assert error_code(gone) == "ResourceNotFoundException"


def test_rules_list_page_enable_disable_and_schedules(served: Served) -> None:
    events = served.events
    for name in ("a-rule", "b-rule", "c-rule"):
        events.put_rule(Name=name, EventPattern=ORDER_PLACED, Description=name)
    events.put_rule(Name="nightly", ScheduleExpression="cron(0 2 * * ? *)")
    first = events.list_rules(Limit=2)
    assert [r["Name"] for r in first["Rules"]] == ["a-rule", "b-rule"]
    second = events.list_rules(Limit=2, NextToken=first["NextToken"])
    assert [r["Name"] for r in second["Rules"]] == ["c-rule", "nightly"]
    assert [r["Name"] for r in events.list_rules(NamePrefix="b")["Rules"]] == ["b-rule"]
    events.disable_rule(Name="b-rule")
    described = events.describe_rule(Name="b-rule")
    assert (described["State"], described["EventPattern"]) == ("DISABLED", ORDER_PLACED)
    assert described["Arn"].endswith(":rule/b-rule")
    events.enable_rule(Name="b-rule")
    assert events.describe_rule(Name="b-rule")["State"] == "ENABLED"
    assert events.describe_rule(Name="nightly")["ScheduleExpression"] == "cron(0 2 * * ? *)"


def test_put_events_reports_each_failed_entry(served: Served) -> None:
    events = served.events
    response = events.put_events(
        Entries=[
            {
                "Source": "food.orders",
                "DetailType": "order_placed",
                "Detail": json.dumps({"order_id": "42"}),
                "Time": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),  # sent as epoch seconds
            },
            {"Source": "food.orders", "DetailType": "order_placed", "Detail": "{not json"},
            {
                "Source": "food.orders",
                "DetailType": "order_placed",
                "Detail": "{}",
                "EventBusName": "missing",
            },
        ]
    )
    assert response["FailedEntryCount"] == 2
    first, malformed, missing = response["Entries"]
    assert set(first) == {"EventId"}
    assert malformed["ErrorCode"] == "MalformedDetail"
    assert missing["ErrorCode"] == "ResourceNotFoundException"


def test_test_event_pattern(served: Served) -> None:
    events = served.events
    event = {
        "id": "1",
        "account": "123456789012",
        "source": "food.orders",
        "time": "2025-01-01T00:00:00Z",
        "region": "us-east-1",
        "detail-type": "order_placed",
        "resources": [],
        "detail": {},
    }
    assert events.test_event_pattern(EventPattern=ORDER_PLACED, Event=json.dumps(event))["Result"]
    event["source"] = "food.payments"
    assert not events.test_event_pattern(EventPattern=ORDER_PLACED, Event=json.dumps(event))[
        "Result"
    ]


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda ev: ev.describe_rule(Name="nope"), "ResourceNotFoundException"),
        (
            lambda ev: ev.put_rule(Name="r", EventPattern=ORDER_PLACED, EventBusName="nope"),
            "ResourceNotFoundException",
        ),
        (
            lambda ev: ev.put_rule(Name="r", EventPattern='{"source": "not-a-list"}'),
            "InvalidEventPatternException",
        ),
        (lambda ev: ev.put_rule(Name="r"), "ValidationException"),
        (
            lambda ev: ev.put_rule(Name="r", EventPattern=ORDER_PLACED, State="ON"),
            "ValidationException",
        ),
        (lambda ev: ev.list_rules(NextToken="garbage"), "ValidationException"),
        (
            lambda ev: ev.put_targets(Rule="nope", Targets=[{"Id": "1", "Arn": LAMBDA + "f"}]),
            "ResourceNotFoundException",
        ),
    ],
)
def test_errors_surface_with_eventbridge_names(shared: Served, call: Any, code: str) -> None:
    with pytest.raises(ClientError) as info:
        call(shared.events)
    assert error_code(info) == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_rule_has_at_most_five_targets(served: Served) -> None:
    events = served.events
    events.put_rule(Name="many", EventPattern=ORDER_PLACED)
    targets = [{"Id": str(i), "Arn": LAMBDA + f"f{i}"} for i in range(5)]
    assert events.put_targets(Rule="many", Targets=targets)["FailedEntryCount"] == 0
    with pytest.raises(ClientError) as limit:
        events.put_targets(Rule="many", Targets=[{"Id": "6", "Arn": LAMBDA + "f6"}])
    assert error_code(limit) == "LimitExceededException"


def test_events_put_over_http_reach_handler_and_state_machine_targets(served: Served) -> None:
    events, sfn = served.events, served.sfn
    machine = served.machine(
        "double",
        {
            "StartAt": "Double",
            "States": {
                "Double": {
                    "Type": "Task",
                    "Resource": LAMBDA + "double",
                    "InputPath": "$.detail",
                    "End": True,
                }
            },
        },
    )
    events.create_event_bus(Name="orders")
    events.put_rule(Name="placed", EventPattern=ORDER_PLACED, EventBusName="orders")
    put = events.put_targets(
        Rule="placed",
        EventBusName="orders",
        Targets=[
            {"Id": "record", "Arn": LAMBDA + "record"},
            {
                "Id": "flow",
                "Arn": machine,
                "RoleArn": "arn:aws:iam::123456789012:role/events-invoke",
            },
        ],
    )
    assert put["FailedEntryCount"] == 0, put
    sent = events.put_events(
        Entries=[
            {
                "Source": "food.orders",
                "DetailType": "order_placed",
                "Detail": json.dumps({"value": 21}),
                "EventBusName": "orders",
            },
            {  # matches no rule: accepted, delivered nowhere
                "Source": "food.payments",
                "DetailType": "order_placed",
                "Detail": "{}",
                "EventBusName": "orders",
            },
        ]
    )
    assert sent["FailedEntryCount"] == 0
    event = served.seen.get(timeout=15)
    assert event["id"] == sent["Entries"][0]["EventId"]
    assert (event["source"], event["detail"]) == ("food.orders", {"value": 21})

    def one_execution() -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = sfn.list_executions(stateMachineArn=machine)["executions"]
        return listed

    started = wait_until(one_execution, 15, "the rule to start an execution")
    assert len(started) == 1
    result = finished(sfn, started[0]["executionArn"])
    assert json.loads(result["output"]) == {"value": 42}
    assert served.seen.empty()


def test_dead_letters_are_listed_and_redriven_over_http(served: Served) -> None:
    events = served.events
    events.put_rule(Name="fragile", EventPattern=ORDER_PLACED)
    events.put_targets(
        Rule="fragile",
        Targets=[
            {"Id": "flaky", "Arn": LAMBDA + "flaky", "RetryPolicy": {"MaximumRetryAttempts": 0}}
        ],
    )
    sent = events.put_events(
        Entries=[{"Source": "food.orders", "DetailType": "order_placed", "Detail": "{}"}]
    )

    def dead_letters() -> list[dict[str, Any]]:
        status, document = call_api(served.url, "OncueEvents.ListDeadLetters", {})
        assert status == 200, document
        letters: list[dict[str, Any]] = document["DeadLetters"]
        return letters

    (dead,) = wait_until(dead_letters, 15, "the failed delivery to reach the dead letters")
    assert (dead["EventId"], dead["TargetId"]) == (sent["Entries"][0]["EventId"], "flaky")
    served.flaky_fails[0] = False
    status, redriven = call_api(served.url, "OncueEvents.RedriveDeadLetters", {"Ids": [dead["Id"]]})
    assert (status, redriven["RedrivenCount"]) == (200, 1), redriven
    assert served.seen.get(timeout=15)["id"] == dead["EventId"]  # delivered this time
    assert dead_letters() == []
    status, refused = call_api(served.url, "OncueEvents.RedriveDeadLetters", {"Ids": []})
    assert (status, refused["__type"]) == (400, "ValidationException")


def test_archives_replays_connections_and_api_destinations(served: Served) -> None:
    events = served.events
    bus_arn = "arn:aws:events:us-east-1:123456789012:event-bus/default"
    archive = events.create_archive(
        ArchiveName="all-orders", EventSourceArn=bus_arn, EventPattern=ORDER_PLACED
    )
    assert archive["ArchiveArn"].endswith(":archive/all-orders")
    assert events.describe_archive(ArchiveName="all-orders")["EventSourceArn"] == bus_arn
    assert [a["ArchiveName"] for a in events.list_archives()["Archives"]] == ["all-orders"]
    events.update_archive(ArchiveName="all-orders", RetentionDays=7)
    assert events.describe_archive(ArchiveName="all-orders")["RetentionDays"] == 7
    replay = events.start_replay(
        ReplayName="again",
        EventSourceArn=archive["ArchiveArn"],
        EventStartTime=datetime(2025, 1, 1, tzinfo=UTC),
        EventEndTime=datetime(2025, 1, 2, tzinfo=UTC),
        Destination={"Arn": bus_arn},
    )
    assert replay["ReplayArn"].endswith(":replay/again")
    assert events.describe_replay(ReplayName="again")["ReplayName"] == "again"
    assert [r["ReplayName"] for r in events.list_replays()["Replays"]] == ["again"]

    connection = events.create_connection(
        Name="kitchen-api",
        AuthorizationType="API_KEY",
        AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "X-Key", "ApiKeyValue": "s3cret"}},
    )
    destination = events.create_api_destination(
        Name="kitchen",
        ConnectionArn=connection["ConnectionArn"],
        InvocationEndpoint="https://kitchen.example/orders",
        HttpMethod="POST",
    )
    described = events.describe_api_destination(Name="kitchen")
    assert (described["ApiDestinationArn"], described["HttpMethod"]) == (
        destination["ApiDestinationArn"],
        "POST",
    )
    assert [c["Name"] for c in events.list_connections()["Connections"]] == ["kitchen-api"]
    events.delete_api_destination(Name="kitchen")
    with pytest.raises(ClientError) as gone:
        events.describe_api_destination(Name="kitchen")
    assert error_code(gone) == "ResourceNotFoundException"
    events.delete_connection(Name="kitchen-api")
    events.delete_archive(ArchiveName="all-orders")
    with pytest.raises(ClientError) as no_archive:
        events.describe_archive(ArchiveName="all-orders")
    assert error_code(no_archive) == "ResourceNotFoundException"
