"""State transitions per second of JSONata states, next to the same chain in JSONPath.

The workload mirrors ``bench_interpreter.py``: a chain of N states alternating Pass and
Choice, history recorded, as one execution run by the pure interpreter in a single step.
In JSONata mode each Pass state evaluates small expressions (``Output`` with three of them
and an ``Assign``), each Choice state one ``Condition``: plain paths and comparisons, which
oncue decides without the library, and a second chain doing the same work through library
calls (``$uppercase``, ``$count``, arithmetic, ``and``); the JSONPath chain is
``bench_interpreter.chain`` (InputPath + Parameters + ResultPath, a numeric rule). Both are
measured in the same run, their runs interleaved, best of ``--repeat``.

Expressions are parsed once, when the definition is validated: the script also reports how
long validation takes per expression, and checks that running never parses.

    python benchmarks/bench_jsonata.py [--states 1000] [--repeat 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from bench_interpreter import INFO, NOW, chain, payload
from jsonata import parser as jsonata_parser

from oncue.asl.interpreter import Interpreter
from oncue.asl.validate import parse_definition

#: Expressions of the two JSONata chains: plain paths and comparisons (decided without the
#: library), or the same work through library calls.
SIMPLE = {
    "order": "{% $states.input.order %}",
    "id": "{% $states.input.order.id %}",
    "total": "{% $states.input.order.total %}",
    "seen": "{% $states.input.order.total > 10 %}",
    "condition": "{% $states.input.order.total > 10 %}",
}
LIBRARY = {
    "order": "{% $merge([$states.input.order, {}]) %}",
    "id": "{% $uppercase($states.input.order.id) %}",
    "total": "{% $states.input.order.total * 1 %}",
    "seen": "{% $count($states.input.order.items) %}",
    "condition": "{% $states.input.order.total > 10 and $count($states.input.order.items) > 0 %}",
}


def jsonata_chain(n: int, exprs: dict[str, str] = SIMPLE) -> dict[str, Any]:
    states: dict[str, Any] = {}
    for i in range(n):
        name, nxt = f"S{i}", f"S{i + 1}"
        last = i == n - 1
        if i % 2 == 0:
            state: dict[str, Any] = {
                "Type": "Pass",
                "Output": {
                    "order": exprs["order"],
                    "last": {"id": exprs["id"], "total": exprs["total"], "step": i},
                },
                "Assign": {"seen": exprs["seen"]},
            }
            if last:
                state["End"] = True
            else:
                state["Next"] = nxt
        else:
            state = {
                "Type": "Choice",
                "Choices": [{"Condition": exprs["condition"], "Next": nxt}],
                "Default": nxt,
            }
            if last:
                state = {"Type": "Succeed"}
        states[name] = state
    return {"QueryLanguage": "JSONata", "StartAt": "S0", "States": states}


def best_rates(definitions: list[dict[str, Any]], n: int, repeat: int) -> list[float]:
    """Best transitions/s of each definition, runs interleaved so both see the same load."""
    interpreters = [Interpreter(parse_definition(d)) for d in definitions]
    best = [float("inf")] * len(interpreters)
    for round_ in range(repeat + 1):  # the first round warms caches
        for index, interpreter in enumerate(interpreters):
            started = time.perf_counter()
            step = interpreter.start(INFO, payload(), now=NOW, seed=1)
            elapsed = time.perf_counter() - started
            assert step.state.status == "SUCCEEDED", step.state.error
            if round_:
                best[index] = min(best[index], elapsed)
    return [n / seconds for seconds in best]


def parses_while_running(definition: dict[str, Any]) -> int:
    interpreter = Interpreter(parse_definition(definition))
    calls = 0
    original = jsonata_parser.Parser.parse

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(self, *args, **kwargs)

    jsonata_parser.Parser.parse = counting
    try:
        interpreter.start(INFO, payload(), now=NOW, seed=1)
    finally:
        jsonata_parser.Parser.parse = original
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--states", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    n = args.states
    definition = jsonata_chain(n)
    expressions = (n // 2) * 4 + (n // 2)
    started = time.perf_counter()
    parse_definition(definition)
    validate_seconds = time.perf_counter() - started
    jsonpath, jsonata, library = best_rates(
        [chain(n), definition, jsonata_chain(n, LIBRARY)], n, args.repeat
    )
    print(f"chain of {n} Pass/Choice states, history recorded, best of {args.repeat}:")
    print(f"  JSONPath transitions per second: {jsonpath:12,.0f}")
    print(f"  JSONata  transitions per second: {jsonata:12,.0f}  ({jsonata / jsonpath:.0%})")
    print(f"  JSONata, every expression through the library: {library:,.0f}")
    print(
        f"  validation with parsing: {validate_seconds * 1e3:.0f} ms for ~{expressions} "
        f"expressions ({validate_seconds / expressions * 1e6:.0f} us each)"
    )
    print(f"  parses while running: {parses_while_running(definition)}")


if __name__ == "__main__":
    main()
