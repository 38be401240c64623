"""The EventBridge API over a real SQLite file: buses, rules, targets, PutEvents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oncue.bus.service import EventBus
from oncue.errors import (
    LimitExceededException,
    ManagedRuleException,
    PatternError,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ValidationException,
)
from oncue.store import SQLiteStore

FN = "arn:aws:lambda:us-east-1:123456789012:function:"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:"
ORDER_PLACED = json.dumps({"source": ["shop"], "detail-type": ["OrderPlaced"]})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(f"sqlite:///{tmp_path / 'oncue.db'}")
    yield opened
    opened.close()


@pytest.fixture
def bus(store: SQLiteStore) -> EventBus:
    return EventBus(store)


def entry(detail: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "Source": "shop",
        "DetailType": "OrderPlaced",
        "Detail": json.dumps(detail or {"order": 1}),
        **fields,
    }


def rows(store: SQLiteStore, sql: str) -> list[Any]:
    with store.read() as tx:
        return tx.all(sql)


# --- event buses -------------------------------------------------------------------------


def test_the_default_bus_always_exists_and_cannot_be_deleted(bus: EventBus) -> None:
    described = bus.describe_event_bus()
    assert described["Name"] == "default"
    assert described["Arn"] == "arn:aws:events:us-east-1:123456789012:event-bus/default"
    assert bus.describe_event_bus(str(described["Arn"]))["Name"] == "default"
    assert [b["Name"] for b in bus.list_event_buses()["EventBuses"]] == ["default"]
    with pytest.raises(ValidationException, match="Cannot delete event bus default"):
        bus.delete_event_bus("default")


def test_custom_buses_are_created_listed_paged_and_deleted_with_their_rules(
    bus: EventBus, store: SQLiteStore
) -> None:
    created = bus.create_event_bus("orders", description="order events")
    assert created == {
        "EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/orders",
        "Description": "order events",
    }
    bus.create_event_bus("payments")
    with pytest.raises(ResourceAlreadyExistsException, match="Event bus orders already exists"):
        bus.create_event_bus("orders")
    for bad in ("", "a b", "x" * 257, "has/slash", "default"):
        with pytest.raises((ValidationException, ResourceAlreadyExistsException)):
            bus.create_event_bus(bad)
    assert bus.describe_event_bus("orders")["Description"] == "order events"

    first = bus.list_event_buses(limit=2)
    assert [b["Name"] for b in first["EventBuses"]] == ["default", "orders"]
    second = bus.list_event_buses(limit=2, next_token=str(first["NextToken"]))
    assert [b["Name"] for b in second["EventBuses"]] == ["payments"]
    assert "NextToken" not in second
    assert [b["Name"] for b in bus.list_event_buses(name_prefix="pay")["EventBuses"]] == [
        "payments"
    ]

    bus.put_rule("r", event_pattern=ORDER_PLACED, event_bus_name="orders")
    bus.put_targets("r", [{"Id": "t", "Arn": FN + "f"}], event_bus_name="orders")
    assert bus.delete_event_bus("orders") == {}
    assert bus.delete_event_bus("orders") == {}  # deleting again succeeds
    with pytest.raises(ResourceNotFoundException, match="Event bus orders does not exist"):
        bus.describe_event_bus("orders")
    assert rows(store, "SELECT * FROM event_rules") == []
    assert rows(store, "SELECT * FROM event_targets") == []


# --- rules -------------------------------------------------------------------------------


def test_put_rule_creates_and_replaces_a_rule(bus: EventBus) -> None:
    arn = bus.put_rule("placed", event_pattern=ORDER_PLACED, description="new orders")
    assert arn == {"RuleArn": "arn:aws:events:us-east-1:123456789012:rule/placed"}
    assert bus.describe_rule("placed") == {
        "Name": "placed",
        "Arn": arn["RuleArn"],
        "EventPattern": ORDER_PLACED,
        "State": "ENABLED",
        "Description": "new orders",
        "EventBusName": "default",
        "CreatedBy": "123456789012",
    }
    # "If you omit arguments in PutRule, the old values for those arguments are not kept."
    bus.put_rule("placed", schedule_expression="rate(5 minutes)", state="DISABLED")
    replaced = bus.describe_rule("placed")
    assert replaced["ScheduleExpression"] == "rate(5 minutes)"
    assert replaced["State"] == "DISABLED"
    assert "EventPattern" not in replaced and "Description" not in replaced

    bus.create_event_bus("orders")
    custom = bus.put_rule("placed", event_pattern=ORDER_PLACED, event_bus_name="orders")
    assert custom["RuleArn"] == "arn:aws:events:us-east-1:123456789012:rule/orders/placed"


def test_put_rule_validates_like_eventbridge(bus: EventBus) -> None:
    with pytest.raises(PatternError) as caught:
        bus.put_rule("r", event_pattern='{"source": "not-an-array"}')
    assert caught.value.aws_name == "InvalidEventPatternException"
    with pytest.raises(PatternError):
        bus.put_rule("r", event_pattern="{not json")
    with pytest.raises(ValidationException, match="ScheduleExpression"):
        bus.put_rule("r", schedule_expression="rate(1 minutes)")
    with pytest.raises(ValidationException, match="EventPattern or ScheduleExpression"):
        bus.put_rule("r")
    with pytest.raises(ValidationException, match="state"):
        bus.put_rule("r", event_pattern=ORDER_PLACED, state="PAUSED")
    with pytest.raises(ValidationException):
        bus.put_rule("bad name", event_pattern=ORDER_PLACED)
    with pytest.raises(ValidationException, match="description"):
        bus.put_rule("r", event_pattern=ORDER_PLACED, description="x" * 513)
    bus.create_event_bus("orders")
    with pytest.raises(ValidationException, match="only on the default event bus"):
        bus.put_rule("r", schedule_expression="rate(1 minute)", event_bus_name="orders")
    with pytest.raises(ResourceNotFoundException, match="Event bus nowhere does not exist"):
        bus.put_rule("r", event_pattern=ORDER_PLACED, event_bus_name="nowhere")
    assert bus.list_rules()["Rules"] == []
    assert bus.list_rules(event_bus_name="orders")["Rules"] == []


def test_rules_are_listed_by_prefix_and_paged_and_switched_on_and_off(bus: EventBus) -> None:
    for name in ("b-1", "a-1", "a-2", "a-3"):
        bus.put_rule(name, event_pattern=ORDER_PLACED)
    page = bus.list_rules(name_prefix="a-", limit=2)
    assert [r["Name"] for r in page["Rules"]] == ["a-1", "a-2"]
    rest = bus.list_rules(name_prefix="a-", limit=2, next_token=str(page["NextToken"]))
    assert [r["Name"] for r in rest["Rules"]] == ["a-3"]
    assert "NextToken" not in rest
    with pytest.raises(ValidationException, match="NextToken"):
        bus.list_rules(next_token="garbage!")
    with pytest.raises(ValidationException, match="limit"):
        bus.list_rules(limit=0)

    bus.disable_rule("a-2")
    assert bus.describe_rule("a-2")["State"] == "DISABLED"
    bus.enable_rule("a-2")
    assert bus.describe_rule("a-2")["State"] == "ENABLED"
    with pytest.raises(
        ResourceNotFoundException, match="Rule zzz does not exist on EventBus default"
    ):
        bus.enable_rule("zzz")
    with pytest.raises(ResourceNotFoundException):
        bus.describe_rule("zzz")


def test_a_rule_with_targets_cannot_be_deleted(bus: EventBus) -> None:
    bus.put_rule("r", event_pattern=ORDER_PLACED)
    bus.put_targets("r", [{"Id": "t", "Arn": FN + "f"}])
    with pytest.raises(ValidationException, match="Rule can't be deleted since it has targets"):
        bus.delete_rule("r")
    assert bus.remove_targets("r", ["t"]) == {"FailedEntryCount": 0, "FailedEntries": []}
    assert bus.delete_rule("r") == {}
    assert bus.delete_rule("r") == {}  # "all calls will succeed"
    with pytest.raises(ResourceNotFoundException):
        bus.describe_rule("r")
    with pytest.raises(ResourceNotFoundException, match="Event bus nowhere"):
        bus.delete_rule("r", event_bus_name="nowhere")


def test_a_managed_rule_changes_only_with_force(bus: EventBus) -> None:
    bus.put_rule("managed", event_pattern=ORDER_PLACED, managed_by="oncue.schedules")
    assert bus.describe_rule("managed")["ManagedBy"] == "oncue.schedules"
    with pytest.raises(ManagedRuleException, match="managed rule"):
        bus.put_rule("managed", event_pattern=ORDER_PLACED)
    with pytest.raises(ManagedRuleException, match="managed rule"):
        bus.disable_rule("managed")
    with pytest.raises(ManagedRuleException, match="managed rule"):
        bus.delete_rule("managed")
    assert bus.delete_rule("managed", force=True) == {}


# --- targets -----------------------------------------------------------------------------


def test_put_targets_reports_each_bad_target_and_applies_the_others(
    bus: EventBus, store: SQLiteStore
) -> None:
    bus.put_rule("r", event_pattern=ORDER_PLACED)
    transformer = {
        "InputPathsMap": {"order": "$.detail.order"},
        "InputTemplate": '{"order": <order>}',
    }
    response = bus.put_targets(
        "r",
        [
            {
                "Id": "handler",
                "Arn": FN + "notify",
                "InputTransformer": transformer,
                "RetryPolicy": {"MaximumRetryAttempts": 3},
                "DeadLetterConfig": {"Arn": QUEUE + "dlq"},
                "RoleArn": "arn:aws:iam::123456789012:role/events",
            },
            {"Id": "queue", "Arn": QUEUE + "orders", "InputPath": "$.detail"},
            {"Id": "unknown-kind", "Arn": "arn:aws:sns:us-east-1:123456789012:topic"},
            {"Id": "two-inputs", "Arn": FN + "f", "Input": "{}", "InputPath": "$.detail"},
            {"Id": "bad-retry", "Arn": FN + "f", "RetryPolicy": {"MaximumRetryAttempts": 200}},
            {"Id": "itself", "Arn": "arn:aws:events:us-east-1:123456789012:event-bus/default"},
        ],
    )
    assert response["FailedEntryCount"] == 4
    failed = response["FailedEntries"]
    assert isinstance(failed, list)
    assert [f["TargetId"] for f in failed] == ["unknown-kind", "two-inputs", "bad-retry", "itself"]
    assert all(f["ErrorCode"] == "ValidationException" for f in failed)
    assert "Only one of Input, InputPath, or InputTransformer" in failed[1]["ErrorMessage"]

    listed = bus.list_targets_by_rule("r")["Targets"]
    assert listed == [
        {
            "Id": "handler",
            "Arn": FN + "notify",
            "InputTransformer": transformer,
            "RetryPolicy": {"MaximumRetryAttempts": 3},
            "DeadLetterConfig": {"Arn": QUEUE + "dlq"},
            "RoleArn": "arn:aws:iam::123456789012:role/events",
        },
        {"Id": "queue", "Arn": QUEUE + "orders", "InputPath": "$.detail"},
    ]
    page = bus.list_targets_by_rule("r", limit=1)
    assert [t["Id"] for t in page["Targets"]] == ["handler"]
    assert [
        t["Id"] for t in bus.list_targets_by_rule("r", next_token=str(page["NextToken"]))["Targets"]
    ] == ["queue"]

    # Replacing a target by its id changes it in place.
    bus.put_targets("r", [{"Id": "queue", "Arn": QUEUE + "other"}])
    assert bus.list_targets_by_rule("r")["Targets"][1] == {"Id": "queue", "Arn": QUEUE + "other"}
    assert rows(store, "SELECT COUNT(*) FROM event_targets") == [(2,)]


def test_put_targets_refuses_a_sixth_target_and_unknown_rules(
    bus: EventBus, store: SQLiteStore
) -> None:
    bus.put_rule("r", event_pattern=ORDER_PLACED)
    bus.put_targets("r", [{"Id": f"t{n}", "Arn": FN + "f"} for n in range(5)])
    with pytest.raises(LimitExceededException, match="at most 5 targets"):
        bus.put_targets("r", [{"Id": "t9", "Arn": FN + "f"}])
    assert rows(store, "SELECT COUNT(*) FROM event_targets") == [(5,)]
    with pytest.raises(ResourceNotFoundException, match="Rule nope does not exist"):
        bus.put_targets("nope", [{"Id": "t", "Arn": FN + "f"}])
    with pytest.raises(ResourceNotFoundException):
        bus.list_targets_by_rule("nope")
    with pytest.raises(ValidationException):
        bus.put_targets("r", [])
    with pytest.raises(ValidationException):
        bus.put_targets("r", [{"Id": "bad id", "Arn": FN + "f"}])
    with pytest.raises(ValidationException):
        bus.remove_targets("r", [])


# --- PutEvents ---------------------------------------------------------------------------


def test_put_events_accepts_the_good_entries_and_reports_the_bad_ones(
    bus: EventBus, store: SQLiteStore
) -> None:
    bus.put_rule("placed", event_pattern=ORDER_PLACED)
    bus.put_targets("placed", [{"Id": "a", "Arn": FN + "a"}, {"Id": "b", "Arn": QUEUE + "b"}])
    response = bus.put_events(
        [
            entry({"order": 1}),
            {"Source": "shop", "DetailType": "OrderPlaced"},
            entry(Detail="[1, 2]"),
            entry(EventBusName="nowhere"),
            entry({"order": 2}, DetailType="Other"),  # matches no rule
            {**entry(), "Source": "aws.events"},
        ]
    )
    assert response["FailedEntryCount"] == 4
    results = response["Entries"]
    assert isinstance(results, list)
    assert [r.get("ErrorCode") for r in results] == [
        None,
        "InvalidArgument",
        "MalformedDetail",
        "ResourceNotFoundException",
        None,
        "NotAuthorizedForSourceException",
    ]
    assert results[3]["ErrorMessage"] == "Event bus nowhere does not exist."
    matched, unmatched = results[0]["EventId"], results[4]["EventId"]
    assert matched != unmatched
    # One stored event, one delivery per target of the matching rule; the unmatched event is
    # not kept (nothing would ever read it).
    assert rows(store, "SELECT id FROM bus_events") == [(matched,)]
    assert sorted(rows(store, "SELECT event_id, rule, target_id, kind FROM bus_deliveries")) == [
        (matched, "placed", "a", "handler"),
        (matched, "placed", "b", "queue"),
    ]
    envelope = json.loads(rows(store, "SELECT envelope FROM bus_events")[0][0])
    assert envelope["detail"] == {"order": 1}
    assert envelope["source"] == "shop"
    assert envelope["id"] == matched


def test_a_request_with_no_valid_entry_fails_whole_and_stores_nothing(
    bus: EventBus, store: SQLiteStore
) -> None:
    with pytest.raises(ValidationException):
        bus.put_events([{"Source": "shop"}])
    with pytest.raises(ValidationException):
        bus.put_events([entry()] * 11)
    assert rows(store, "SELECT COUNT(*) FROM bus_events") == [(0,)]


def test_disabled_rules_match_nothing_and_every_matching_rule_delivers(
    bus: EventBus, store: SQLiteStore
) -> None:
    bus.put_rule("placed", event_pattern=ORDER_PLACED)
    bus.put_rule("all-shop", event_pattern=json.dumps({"source": ["shop"]}))
    bus.put_rule("off", event_pattern=ORDER_PLACED, state="DISABLED")
    for rule in ("placed", "all-shop", "off"):
        bus.put_targets(rule, [{"Id": "t", "Arn": FN + rule}])
    bus.put_events([entry()])
    assert sorted(rows(store, "SELECT rule, target FROM bus_deliveries")) == [
        ("all-shop", "all-shop"),
        ("placed", "placed"),
    ]


def test_rule_changes_by_another_process_are_noticed_at_the_next_put(
    store: SQLiteStore, tmp_path: Path
) -> None:
    ours = EventBus(store)
    theirs_store = SQLiteStore(f"sqlite:///{tmp_path / 'oncue.db'}")
    theirs = EventBus(theirs_store)  # its own router and rule cache, like another process
    try:
        ours.put_events([entry()])  # caches the (empty) rules of the default bus
        theirs.put_rule("placed", event_pattern=ORDER_PLACED)
        theirs.put_targets("placed", [{"Id": "t", "Arn": FN + "f"}])
        ours.put_events([entry()])
        assert rows(store, "SELECT COUNT(*) FROM bus_deliveries") == [(1,)]
        theirs.disable_rule("placed")
        ours.put_events([entry()])
        assert rows(store, "SELECT COUNT(*) FROM bus_deliveries") == [(1,)]
        theirs.enable_rule("placed")
        theirs.put_targets("placed", [{"Id": "u", "Arn": QUEUE + "q"}])
        ours.put_events([entry()])
        assert rows(store, "SELECT COUNT(*) FROM bus_deliveries") == [(3,)]
    finally:
        theirs_store.close()


def test_events_go_to_the_bus_each_entry_names(bus: EventBus, store: SQLiteStore) -> None:
    bus.create_event_bus("orders")
    bus.put_rule("placed", event_pattern=ORDER_PLACED, event_bus_name="orders")
    bus.put_targets("placed", [{"Id": "t", "Arn": FN + "f"}], event_bus_name="orders")
    arn = "arn:aws:events:us-east-1:123456789012:event-bus/orders"
    response = bus.put_events([entry(), entry(EventBusName="orders"), entry(EventBusName=arn)])
    assert response["FailedEntryCount"] == 0
    assert rows(store, "SELECT bus, COUNT(*) FROM bus_events GROUP BY bus") == [("orders", 2)]
