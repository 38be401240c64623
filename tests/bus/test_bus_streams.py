"""The JetStream layout and the fate of a failed delivery (pure)."""

from __future__ import annotations

import pytest

from oncue.bus.handlers import Failure
from oncue.bus.retry import EXHAUSTED_EVENT_AGE, EXHAUSTED_RETRY_ATTEMPTS, RetryPolicy
from oncue.bus.streams import Layout, Relayed, decide, message_id, token
from oncue.errors import InvalidInput
from oncue.transport.memory import subject_matches

FAILED = Failure(code="ERROR_FROM_TARGET", message="boom")


def test_names_become_single_subject_tokens() -> None:
    assert token("orders") == "orders"
    assert token("orders.eu") == "orders%2Eeu"
    assert token("a*b>c d%") == "a%2Ab%3Ec%20d%25"
    assert token("aws.partner/x.y") == "aws%2Epartner/x%2Ey"
    layout = Layout()
    subject = layout.subject("orders.eu", "placed", "t.1")
    assert subject == "oncue.events.orders%2Eeu.placed.t%2E1"
    assert len(subject.split(".")) == 5
    assert subject_matches(layout.stream_config().subjects[0], subject)
    # Distinct targets never share a subject or a durable, even when the names look alike.
    assert layout.subject("a.b", "c", "d") != layout.subject("a", "b.c", "d")
    assert layout.durable("a.b", "c", "d") != layout.durable("a", "b.c", "d")
    durable = layout.durable("orders.eu", "placed", "t.1")
    assert all(c.isalnum() or c in "_-" for c in durable)


def test_the_message_id_names_the_row_version() -> None:
    assert message_id("e1", "r", "t", 1.5) == message_id("e1", "r", "t", 1.5)
    assert message_id("e1", "r", "t", 1.5) != message_id("e1", "r", "t", 2.5)  # redriven
    assert message_id("e1", "r", "t", 1.5).startswith("e1/")


def test_a_relayed_delivery_round_trips_and_garbage_is_refused() -> None:
    relayed = Relayed(
        event_id="e", bus="b", rule="r", target_id="t", envelope='{"id":"e"}', ingested=1.25
    )
    assert Relayed.decode(relayed.encode()) == relayed
    for bad in (b"\xff", b"[]", b'{"event_id": 1}', b"{}"):
        with pytest.raises(InvalidInput, match="not a relayed delivery"):
            Relayed.decode(bad)


def test_decide_retries_with_back_off_until_the_policy_runs_out() -> None:
    policy = RetryPolicy(maximum_retry_attempts=2, maximum_event_age_seconds=60)
    first = decide(policy, FAILED, deliveries=1, age=0.0, draw=0.5)
    assert first.retry and first.delay == pytest.approx(0.5)
    second = decide(policy, FAILED, deliveries=2, age=0.0, draw=0.5)
    assert second.retry and second.delay == pytest.approx(1.0)  # the ceiling doubled
    third = decide(policy, FAILED, deliveries=3, age=0.0, draw=0.5)
    assert (third.retry, third.attempts, third.exhausted) == (False, 3, EXHAUSTED_RETRY_ATTEMPTS)
    old = decide(policy, FAILED, deliveries=1, age=61.0, draw=0.5)
    assert (old.retry, old.exhausted) == (False, EXHAUSTED_EVENT_AGE)
    final = Failure(code="NO_RESOURCE", message="gone", retryable=False)
    never = decide(policy, final, deliveries=1, age=0.0, draw=0.5)
    assert (never.retry, never.attempts, never.exhausted) == (False, 1, None)
    assert decide(policy, FAILED, deliveries=1, age=0.0, draw=1.0).delay < 1.0
