"""``oncue events ...`` through real processes over one SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_support import Oncue, make_oncue

QUEUE = "arn:aws:sqs:us-east-1:123456789012:orders"
EVENTS = "arn:aws:events:us-east-1:123456789012:"


@pytest.fixture
def oncue(tmp_path: Path) -> Oncue:
    return make_oncue(tmp_path)


def fails(oncue: Oncue, code: int, aws_name: str, *args: str) -> str:
    done = oncue(*args, check=False)
    assert done.returncode == code, (args, done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {aws_name}: "), done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def test_buses_rules_targets_and_put(oncue: Oncue) -> None:
    assert oncue("events", "buses", "create", "orders").stdout.strip() == (
        EVENTS + "event-bus/orders"
    )
    assert "orders" in oncue("events", "buses", "list").stdout
    pattern = json.dumps({"source": ["shop"]})
    rule = oncue("events", "rules", "put", "placed", "--bus", "orders", "--pattern", pattern)
    assert rule.stdout.strip() == EVENTS + "rule/orders/placed"
    described = oncue.json("events", "rules", "describe", "placed", "--bus", "orders")
    assert described["EventPattern"] == pattern and described["State"] == "ENABLED"
    oncue("events", "rules", "disable", "placed", "--bus", "orders")
    listed = oncue.json("events", "rules", "list", "--bus", "orders")
    assert [(r["Name"], r["State"]) for r in listed["Rules"]] == [("placed", "DISABLED")]
    oncue("events", "rules", "enable", "placed", "--bus", "orders")
    oncue("events", "targets", "put", "placed", "--bus", "orders", "--id", "q", "--arn", QUEUE)
    targets = oncue.json("events", "targets", "list", "placed", "--bus", "orders")
    assert targets["Targets"] == [{"Id": "q", "Arn": QUEUE}]
    put = oncue(
        "events",
        "put",
        "--bus",
        "orders",
        "--source",
        "shop",
        "--detail-type",
        "Placed",
        "--detail",
        '{"order": 1}',
    )
    assert len(put.stdout.strip()) == 36  # the event id
    partial = oncue(
        "events",
        "put",
        "--entries",
        json.dumps([{"Source": "shop", "DetailType": "x", "Detail": "{}"}, {"Source": "shop"}]),
        check=False,
    )
    assert partial.returncode == 1
    assert len(partial.stdout.split()) == 1
    assert "error: entry 1: InvalidArgument" in partial.stderr
    fails(oncue, 2, "ValidationException", "events", "rules", "delete", "placed", "--bus", "orders")
    oncue("events", "targets", "remove", "placed", "q", "--bus", "orders")
    oncue("events", "rules", "delete", "placed", "--bus", "orders")
    fails(
        oncue,
        2,
        "InvalidEventPatternException",
        "events",
        "rules",
        "put",
        "bad",
        "--pattern",
        '{"source": "shop"}',
    )
    fails(oncue, 2, "ResourceNotFoundException", "events", "buses", "describe", "nowhere")


def test_archive_export_and_replay(oncue: Oncue) -> None:
    created = oncue(
        "events",
        "archives",
        "create",
        "shop",
        "--pattern",
        '{"source": ["shop"]}',
        "--retention-days",
        "30",
    )
    assert created.stdout.strip() == EVENTS + "archive/shop"
    now = datetime.now(UTC).replace(microsecond=0)
    times = [now - timedelta(hours=h) for h in (3, 2, 1)]
    entries = [
        {
            "Source": source,
            "DetailType": "Placed",
            "Detail": json.dumps({"n": n}),
            "Time": moment.isoformat(),
        }
        for n, (source, moment) in enumerate(zip(("shop", "shop", "other"), times, strict=True))
    ]
    oncue("events", "put", "--entries", json.dumps(entries))
    described = oncue.json("events", "archives", "describe", "shop")
    assert described["EventCount"] == 2 and described["RetentionDays"] == 30
    table = oncue("events", "archives", "list").stdout
    assert "shop" in table and "ENABLED" in table
    exported = oncue("events", "archive", "export", "shop", "--since", "150m").stdout
    lines = [json.loads(line) for line in exported.splitlines()]
    assert [e["detail"] for e in lines] == [{"n": 1}]
    everything = oncue("events", "archives", "export", "shop").stdout.splitlines()
    assert [json.loads(line)["detail"]["n"] for line in everything] == [0, 1]

    started = oncue(
        "events",
        "replay",
        "start",
        "again",
        "--archive",
        "shop",
        "--start",
        "4h",
        "--end",
        (now - timedelta(minutes=1)).isoformat(),
    )
    assert started.stdout.strip() == EVENTS + "replay/again"
    replay = oncue.json("events", "replay", "describe", "again")
    assert replay["State"] == "STARTING"
    assert replay["Destination"] == {"Arn": EVENTS + "event-bus/default"}
    assert "again" in oncue("events", "replay", "list").stdout
    assert oncue("events", "replay", "cancel", "again").stdout.strip() == "CANCELLING"
    fails(oncue, 2, "IllegalStatusException", "events", "replay", "cancel", "again")
    fails(
        oncue,
        2,
        "ResourceAlreadyExistsException",
        "events",
        "replay",
        "start",
        "again",
        "--archive",
        "shop",
        "--start",
        "4h",
        "--end",
        "1h",
    )
    fails(oncue, 2, "ResourceNotFoundException", "events", "archives", "describe", "none")
    fails(oncue, 2, "ValidationException", "events", "archives", "create", "bad name")
    oncue("events", "archives", "delete", "shop")


def test_connections_api_destinations_and_dead_letters(oncue: Oncue) -> None:
    oncue(
        "events",
        "connections",
        "create",
        "partner",
        "--auth-type",
        "BASIC",
        "--username",
        "me",
        "--password",
        "s3cret",
    )
    described = oncue("events", "connections", "describe", "partner", "--json").stdout
    assert "s3cret" not in described
    assert json.loads(described)["AuthParameters"] == {"BasicAuthParameters": {"Username": "me"}}
    arn = oncue(
        "events",
        "api-destinations",
        "create",
        "hook",
        "--connection",
        "partner",
        "--endpoint",
        "https://example.com/orders/*",
        "--method",
        "put",
        "--rate-limit",
        "5",
    ).stdout.strip()
    assert arn.startswith(EVENTS + "api-destination/hook/")
    listed = oncue.json("events", "api-destinations", "list")["ApiDestinations"]
    assert [(d["Name"], d["HttpMethod"]) for d in listed] == [("hook", "PUT")]
    oncue("events", "api-destinations", "update", "hook", "--method", "POST")
    assert "POST" in oncue("events", "api-destinations", "describe", "hook").stdout
    fails(
        oncue,
        2,
        "ResourceNotFoundException",
        "events",
        "api-destinations",
        "create",
        "x",
        "--connection",
        "none",
        "--endpoint",
        "https://example.com",
    )
    assert oncue.json("events", "dlq", "list") == {"DeadLetters": []}
    done = oncue("events", "dlq", "redrive", "7", check=False)
    assert done.returncode == 2 and "ResourceNotFoundException" in done.stderr
    oncue("events", "api-destinations", "delete", "hook")
    oncue("events", "connections", "delete", "partner")
    assert oncue.json("events", "connections", "list") == {"Connections": []}
