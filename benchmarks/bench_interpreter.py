"""State transitions per second of the pure ASL interpreter, and `oncue execute` end to end.

The workload: a chain of N states alternating Pass (InputPath + Parameters + ResultPath)
and Choice (a numeric rule on a reference path), history recorded, as one execution. The
interpreter runs it in a single step; we time that step, then check that memory other than
the history does not grow with the number of states executed.

    python benchmarks/bench_interpreter.py [--states 1000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oncue.asl.commands import ExecutionInfo
from oncue.asl.interpreter import Interpreter
from oncue.asl.validate import parse_definition

INFO = ExecutionInfo.named("run", "Bench", region="us-east-1", account="123456789012")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def chain(n: int) -> dict[str, Any]:
    states: dict[str, Any] = {}
    for i in range(n):
        name, nxt = f"S{i}", f"S{i + 1}"
        last = i == n - 1
        if i % 2 == 0:
            state: dict[str, Any] = {
                "Type": "Pass",
                "InputPath": "$.order",
                "Parameters": {"id.$": "$.id", "total.$": "$.total", "step": i},
                "ResultPath": "$.last",
            }
            if last:
                state["End"] = True
            else:
                state["Next"] = nxt
        else:
            state = {
                "Type": "Choice",
                "Choices": [{"Variable": "$.order.total", "NumericGreaterThan": 10, "Next": nxt}],
                "Default": nxt,
            }
            if last:
                state = {"Type": "Succeed"}
        states[name] = state
    return {"StartAt": "S0", "States": states}


def payload() -> dict[str, Any]:
    return {"order": {"id": "o-1", "total": 42.5, "items": ["a", "b", "c"]}}


def run_once(interpreter: Interpreter) -> tuple[float, int]:
    started = time.perf_counter()
    step = interpreter.start(INFO, payload(), now=NOW, seed=1)
    elapsed = time.perf_counter() - started
    assert step.state.status == "SUCCEEDED", step.state.error
    return elapsed, len(step.history)


def transitions_per_second(n: int, repeat: int) -> float:
    interpreter = Interpreter(parse_definition(chain(n)))
    run_once(interpreter)  # warm caches
    best = min(run_once(interpreter)[0] for _ in range(repeat))
    return n / best


def memory_profile(n: int) -> tuple[int, int]:
    """Peak traced memory of a run, and the size of its history alone (both in bytes)."""
    interpreter = Interpreter(parse_definition(chain(n)))
    run_once(interpreter)
    gc.collect()
    tracemalloc.start()
    step = interpreter.start(INFO, payload(), now=NOW, seed=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    history_bytes = len(json.dumps(step.history))
    return peak, history_bytes


def cli_seconds(n: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "chain.json"
        path.write_text(json.dumps(chain(n)))
        command = [sys.executable, "-m", "oncue.cli", "execute", str(path)]
        command += ["--input", json.dumps(payload())]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        assert result.returncode == 0, result.stderr
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--states", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    rate = transitions_per_second(args.states, args.repeat)
    print(f"interpreter: {args.states} Pass/Choice states, history recorded")
    print(f"  transitions per second (best of {args.repeat}): {rate:,.0f}")
    print("  memory per run (tracemalloc peak vs. history JSON size):")
    for n in (1000, 2000, 4000):
        peak, history = memory_profile(n)
        print(
            f"    {n:5d} states: peak {peak / 1e6:6.2f} MB, history {history / 1e6:6.2f} MB, "
            f"peak/history {peak / history:4.2f}"
        )
    for n in (10, args.states):
        print(f"oncue execute, {n} states, whole process: {cli_seconds(n) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
