"""Checks of a body of states as a graph: state names, transition targets, reachability.

A body is a set of states with a start: the top level, a Parallel branch or a Map's
ItemProcessor. These checks read the raw states, so they also find faults in states whose own
fields are invalid. The sections of the AWS documentation each check implements are named next
to it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from oncue.asl.checker import Checker
from oncue.asl.fields import (
    DUPLICATE_STATE_NAME,
    INVALID_STATE_NAME,
    MAX_STATE_NAME_LENGTH,
    MISSING_END_STATE,
    MISSING_TRANSITION_TARGET,
    child,
)
from oncue.types import Json

__all__ = ["check_graph", "check_state_name"]


def check_state_name(checker: Checker, name: object, pointer: str) -> None:
    if not isinstance(name, str):  # a YAML key such as `Yes:` reads as a boolean
        checker.report(pointer, INVALID_STATE_NAME, f"A state name must be a string: {name!r}")
        return
    if not name or len(name) > MAX_STATE_NAME_LENGTH:
        checker.report(
            pointer,
            INVALID_STATE_NAME,
            f"State names must be 1 to {MAX_STATE_NAME_LENGTH} characters long; "
            f"this one has {len(name)}",
        )
    # State names are unique across the whole state machine, Parallel branches and Map
    # processors included, because history events and the context object name states only.
    if name in checker.names:
        checker.report(
            pointer,
            DUPLICATE_STATE_NAME,
            f"Duplicate State name: {name} (also at {checker.names[name]})",
        )
    else:
        checker.names[name] = pointer


def _targets(raw: Json, pointer: str) -> Iterator[tuple[str, str]]:
    """Every (state name, pointer) a raw state can transition to, whatever its shape."""
    if not isinstance(raw, dict):
        return
    for key in ("Next", "Default"):
        if isinstance(raw.get(key), str):
            yield raw[key], child(pointer, key)
    for key in ("Choices", "Catch"):
        items = raw.get(key)
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, dict) and isinstance(item.get("Next"), str):
                    yield item["Next"], child(pointer, key, index, "Next")


def check_graph(
    checker: Checker, start_at: Json, raw_states: Mapping[str, Json], pointer: str
) -> None:
    """ "A transition can only target a state in the same States object; every state must be
    reachable; a body needs a terminal state" (Amazon States Language, Transitions)."""
    edges: dict[str, list[str]] = {}
    for name, raw in raw_states.items():
        edges[name] = []
        for target, at in _targets(raw, child(pointer, "States", name)):
            if target in raw_states:
                edges[name].append(target)
            else:
                checker.report(at, MISSING_TRANSITION_TARGET, f"Missing 'Next' target: {target}")
    if isinstance(start_at, str):
        if start_at not in raw_states:
            checker.report(
                child(pointer, "StartAt"),
                MISSING_TRANSITION_TARGET,
                f"Missing 'StartAt' target: {start_at}",
            )
        else:
            seen = {start_at}
            todo = [start_at]
            while todo:
                for target in edges[todo.pop()]:
                    if target not in seen:
                        seen.add(target)
                        todo.append(target)
            for name in raw_states:
                if name not in seen:
                    checker.report(
                        child(pointer, "States", name),
                        MISSING_TRANSITION_TARGET,
                        f'State "{name}" is not reachable.',
                    )
    if not any(_is_terminal(raw) for raw in raw_states.values()):
        checker.report(pointer, MISSING_END_STATE, "Workflow has no terminal state")


def _is_terminal(raw: Json) -> bool:
    return isinstance(raw, dict) and (
        raw.get("Type") in ("Succeed", "Fail") or raw.get("End") is True
    )
