"""Event-pattern matching throughput: the rule index against the reference matcher.

Run: ``.venv/bin/python benchmarks/bench_patterns.py`` (``--quick`` for a short run).

Events are realistic ~1 KB EventBridge envelopes with a nested ``detail`` (an order with
items, a customer, an address). Rule sets mix exact, prefix, numeric and anything-but
conditions the way a bus's rules do: each names a source and a detail-type and most add one
content filter. The table shows events per CPU second (one core) through ``RuleIndex.match`` and
through the reference matcher applied to every rule in turn, with the rules that matched per
event as a check that the work is real. The ``met`` row makes every event carry the envelope
of one of its 5 rules, so that it does the per-event work of the 10,000-rule row (whose events
nearly all meet some rule's envelope) and the ratio between them compares like with like. The
``wide`` row gives every rule a field of its own, so that one state of the index tests 10,000
paths: its cost must not grow with them. The ``+9995`` rows take a 5-rule row's rules and
events and add 9,995 mixed rules on sources no event carries: the events do exactly the same
work against an index 2,000 times larger, so the ratio is the cost of the number of rules
alone.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from typing import Any

from oncue.patterns import Pattern, RuleIndex, compile_pattern, matches

__all__ = ["main"]

SOURCES = [f"com.example.{name}" for name in ("orders", "payments", "shipping", "promo")] + [
    f"com.example.service{i}" for i in range(196)
]
DETAIL_TYPES = [
    f"{kind} {verb}"
    for kind in ("Order", "Payment", "Parcel", "Coupon")
    for verb in ("Placed", "Accepted", "Rejected", "Completed", "Cancelled")
]
TIERS = ["bronze", "silver", "gold", "platinum"]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]


def make_event(rng: random.Random, number: int) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {
            "sku": f"SKU-{rng.randrange(10_000):05d}",
            "quantity": rng.randrange(1, 5),
            "price": round(rng.uniform(1, 80), 2),
        }
        for _ in range(rng.randrange(1, 4))
    ]
    return {
        "version": "0",
        "id": f"6a7e8feb-b491-4cf7-a9f1-{number:012d}",
        "detail-type": rng.choice(DETAIL_TYPES),
        "source": rng.choice(SOURCES),
        "account": "111122223333",
        "time": "2024-05-01T12:34:56Z",
        "region": rng.choice(REGIONS),
        "resources": [f"arn:aws:states:us-east-1:111122223333:execution:order:{number}"],
        "detail": {
            "order": {
                "id": f"ORD-{rng.randrange(100):02d}-{number:08d}",
                "total": round(sum(i["price"] * i["quantity"] for i in items), 2),
                "currency": "EUR",
                "items": items,
                "promo": {"code": rng.choice(["SPRING10", "WELCOME", None]), "applied": True},
            },
            "customer": {
                "id": f"C-{rng.randrange(50_000)}",
                "tier": rng.choice(TIERS),
                "email": f"user{rng.randrange(50_000)}@example.com",
                "address": {"city": "Lisbon", "country": "PT", "postcode": "1100-148"},
            },
            "restaurant": {"id": f"R-{rng.randrange(500)}", "name": "Cantina", "rating": 4.5},
            "metadata": {"trace-id": f"1-{number:08x}-abcdef012345", "retries": 0},
        },
    }


def make_wide_rule(rng: random.Random, number: int) -> dict[str, Any]:
    """A rule on a field of its own: 10,000 of them make one state test 10,000 paths."""
    return {"detail": {"order": {f"attribute-{number}": [rng.choice(TIERS)]}}}


def make_rule(rng: random.Random, exact_only: bool) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "source": [rng.choice(SOURCES)],
        "detail-type": [rng.choice(DETAIL_TYPES)],
    }
    kind = "exact" if exact_only else rng.choice(["exact", "prefix", "numeric", "anything-but"])
    if kind == "prefix":
        rule["detail"] = {"order": {"id": [{"prefix": f"ORD-{rng.randrange(100):02d}"}]}}
    elif kind == "numeric":
        low = rng.randrange(0, 200)
        rule["detail"] = {"order": {"total": [{"numeric": [">=", low, "<", low + 100]}]}}
    elif kind == "anything-but":
        rule["detail"] = {"customer": {"tier": [{"anything-but": rng.sample(TIERS, 2)}]}}
    return rule


#: Each figure is the best of this many timed rounds, so that a burst of load from other
#: processes on the machine lowers one round, not the figure.
ROUNDS = 10


def throughput(
    run: Callable[[dict[str, Any]], int], events: list[dict[str, Any]], seconds: float
) -> tuple[float, float]:
    """(events per CPU second, matches per event): the best of :data:`ROUNDS` rounds of
    looping over ``events`` for ``seconds / ROUNDS`` each. The clock is the process's CPU
    time: matching is single-threaded, so this is events per second on one core, and other
    processes sharing the machine do not count against it."""
    best = 0.0
    done = hits = 0
    for _ in range(ROUNDS):
        count = 0
        start = time.process_time()
        while True:
            for event in events:
                hits += run(event)
            count += len(events)
            elapsed = time.process_time() - start
            if elapsed >= seconds / ROUNDS:
                break
        done += count
        best = max(best, count / elapsed)
    return best, hits / done


#: Sources no benchmark event carries: the rules on them add to the index, never to the work.
OTHER_SOURCES = [f"com.partner.service{i}" for i in range(200)]


def bench(
    rule_count: int, mix: str, seconds: float, *, others: int = 0
) -> tuple[float, float, float]:
    """``others`` adds that many mixed rules on :data:`OTHER_SOURCES` after the events are
    made: the same events do the same work against an index that many rules larger."""
    rng = random.Random(rule_count)
    rules: dict[str, Pattern] = {
        f"rule-{i}": compile_pattern(
            json.dumps(make_wide_rule(rng, i) if mix == "wide" else make_rule(rng, mix == "exact"))
        )
        for i in range(rule_count)
    }
    index = RuleIndex()
    for rule_id, compiled in rules.items():
        index.add(rule_id, compiled)
    events = [make_event(rng, n) for n in range(500)]
    if mix == "met":
        # Every event carries the source and detail-type of one of the rules, as nearly every
        # event meets some rule's envelope among 10,000: the content tests run on each event.
        envelopes = [pattern.source for pattern in rules.values()]
        for event in events:
            envelope = rng.choice(envelopes)
            event["source"], event["detail-type"] = (
                envelope["source"][0],
                envelope["detail-type"][0],
            )
    # Make a few events carry the envelope of rule-0 so that every table row has real hits.
    first = rules["rule-0"].source
    for event in events[:3]:
        if mix == "wide":
            event["detail"]["order"]["attribute-0"] = first["detail"]["order"]["attribute-0"][0]
        else:
            event["source"], event["detail-type"] = first["source"][0], first["detail-type"][0]
    spare = random.Random(-1)
    patterns = list(rules.values())
    for i in range(others):
        other = make_rule(spare, exact_only=False)
        other["source"] = [spare.choice(OTHER_SOURCES)]
        patterns.append(compile_pattern(json.dumps(other)))
        index.add(f"other-{i}", patterns[-1])
    indexed, per_event = throughput(lambda e: len(index.match(e)), events, seconds)
    reference_events = events if len(patterns) <= 100 else events[:20]
    reference, _ = throughput(
        lambda e: sum(matches(p, e) for p in patterns), reference_events, seconds
    )
    return indexed, reference, per_event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="0.3 s per figure instead of 2 s")
    seconds = 0.3 if parser.parse_args().quick else 2.0
    size = len(json.dumps(make_event(random.Random(0), 1)))
    print(f"event size ~{size} bytes of JSON; CPU time on one core; {seconds:g} s per figure\n")
    print(f"{'rules':>6}  {'mix':<10} {'index ev/s':>9} {'reference ev/s':>15} {'hits/ev':>8}")
    figures = []
    for count, mix, others in [
        (5, "exact", 0),
        (5, "mixed", 0),
        (5, "met", 0),
        (100, "mixed", 0),
        (10_000, "mixed", 0),
        (10_000, "wide", 0),
        (5, "met", 9_995),
        (5, "exact", 9_995),
    ]:
        indexed, reference, hits = bench(count, mix, seconds, others=others)
        figures.append(indexed)
        label = f"{mix}+{others}" if others else mix
        total = count + others
        print(f"{total:>6}  {label:<10} {indexed:>9,.0f} {reference:>15,.0f} {hits:>8.2f}")
    print(f"\nindex slowdown from 5 exact rules: {figures[0] / figures[3]:.2f}x at 100 mixed rules")
    print(
        f"index slowdown, 5 -> 10,000 rules: {figures[0] / figures[4]:.2f}x from 5 exact rules, "
        f"{figures[1] / figures[4]:.2f}x for the same mix, "
        f"{figures[2] / figures[4]:.2f}x for the same mix with every envelope met"
    )
    print(
        "index slowdown, 5 -> 10,000 rules, the same events doing the same work: "
        f"{figures[2] / figures[6]:.2f}x (met), {figures[0] / figures[7]:.2f}x (exact)"
    )
    print("mixed = exact, prefix, numeric and anything-but rules in equal shares")
    print("met   = mixed, and every event has the source and detail-type of one of the rules")
    print("wide  = every rule tests its own field of detail.order (10,000 paths in one state)")
    print("+9995 = the 5 rules and their events, and 9,995 mixed rules on sources no event has")


if __name__ == "__main__":
    main()
