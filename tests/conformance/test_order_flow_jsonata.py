"""The article's order flow written twice, in JSONPath and in JSONata mode, runs the same.

``examples/order_flow/order_flow.jsonata.asl.json`` is the JSONata rewrite shown in
docs/jsonata.md; both definitions run here with the example's own handlers, through the same
public entry point ``oncue execute`` uses.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from oncue import execute
from oncue.app import load_handlers

EXAMPLE = Path(__file__).parents[2] / "examples" / "order_flow"
START = datetime(2024, 1, 1, tzinfo=UTC)


def _run(definition: str) -> tuple[object, list[str]]:
    result = execute(
        (EXAMPLE / definition).read_text(encoding="utf-8"),
        json.loads((EXAMPLE / "order.json").read_text(encoding="utf-8")),
        handlers=load_handlers(str(EXAMPLE / "handlers.py")),
        time_skipping=True,
        start_time=START,
        seed=0,
    )
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    states = [
        event["stateEnteredEventDetails"]["name"]
        for event in result.history
        if "stateEnteredEventDetails" in event
    ]
    return result.output, states


def test_both_query_languages_give_the_same_order_flow() -> None:
    jsonpath = _run("order_flow.asl.json")
    jsonata = _run("order_flow.jsonata.asl.json")
    assert jsonata == jsonpath
    assert jsonata[0] == {
        "orderId": "o-1001",
        "status": "COMPLETED",
        "deliveredAt": "2026-01-01T12:30:00Z",
    }
