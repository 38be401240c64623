"""Cost of storing an execution state between steps: dump_state + load_state, and JSON.

A durable driver dumps the state after every transition and loads it for the next event,
so both run once per step. Three typical states are measured: a task waiting for its
callback (token, heartbeat and timeout timers), a Parallel state with two branches in
flight, and an inline Map of 20 items with 5 iterations running.

    python benchmarks/bench_snapshot.py [--repeat 2000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from oncue.asl.commands import ExecutionInfo
from oncue.asl.frames import ExecutionState
from oncue.asl.interpreter import Interpreter
from oncue.asl.model import StateMachine
from oncue.asl.snapshot import dump_state, load_state
from oncue.asl.validate import parse_definition

INFO = ExecutionInfo.named("run", "Bench", region="us-east-1", account="123456789012")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:f"
ORDER = {"order": {"id": "o-1", "total": 42.5, "items": ["a", "b", "c"]}}


def task(**fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": LAMBDA, "End": True, **fields}


CASES: dict[str, tuple[dict[str, Any], Any]] = {
    "task with token": (
        {
            "StartAt": "Accept",
            "States": {
                "Accept": task(
                    Resource="arn:aws:states:::lambda:invoke.waitForTaskToken",
                    Parameters={"FunctionName": "f", "Payload": {"token.$": "$$.Task.Token"}},
                    HeartbeatSeconds=60,
                    TimeoutSeconds=600,
                    Retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
                )
            },
        },
        ORDER,
    ),
    "parallel, 2 branches": (
        {
            "StartAt": "Fan",
            "States": {
                "Fan": {
                    "Type": "Parallel",
                    "End": True,
                    "Branches": [
                        {"StartAt": "Notify", "States": {"Notify": task()}},
                        {
                            "StartAt": "Hold",
                            "States": {"Hold": {"Type": "Wait", "Seconds": 600, "End": True}},
                        },
                    ],
                }
            },
        },
        ORDER,
    ),
    "map, 20 items, 5 running": (
        {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "MaxConcurrency": 5,
                    "ItemsPath": "$.items",
                    "ItemProcessor": {"StartAt": "Work", "States": {"Work": task()}},
                    "End": True,
                }
            },
        },
        {"items": [{"sku": f"s-{i}", "qty": i} for i in range(20)]},
    ),
}


def best_microseconds(work: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeat):
            work()
        best = min(best, (time.perf_counter() - started) / repeat)
    return best * 1e6


def measure(machine: StateMachine, state: ExecutionState, repeat: int) -> tuple[float, ...]:
    dumped = dump_state(state)
    text = orjson.dumps(dumped)
    roundtrip = best_microseconds(lambda: load_state(machine, dump_state(state)), repeat)
    encode = best_microseconds(lambda: orjson.dumps(dump_state(state)), repeat)
    decode = best_microseconds(lambda: load_state(machine, orjson.loads(text)), repeat)
    return roundtrip, encode, decode, float(len(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    print("snapshot per step (best of 5 x repeat), microseconds")
    print(f"{'state':28} {'dump+load':>10} {'dump+json':>10} {'json+load':>10} {'bytes':>7}")
    for name, (definition, data) in CASES.items():
        machine = parse_definition(definition)
        state = Interpreter(machine).start(INFO, data, now=NOW, seed=1).state
        roundtrip, encode, decode, size = measure(machine, state, args.repeat)
        print(f"{name:28} {roundtrip:10.1f} {encode:10.1f} {decode:10.1f} {size:7.0f}")


if __name__ == "__main__":
    main()
