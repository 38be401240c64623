"""Definition-time checks of JSONata fields and of variables, and their compiled forms.

Every expression is parsed here, once, and kept on the model; a fault is reported with the
JSON pointer of the very string that holds it (``/States/Charge/Arguments/amount``), with the
diagnostic code ``SCHEMA_VALIDATION_FAILED``. ``Assign`` is checked in both query languages:
each key must name a valid variable (:func:`oncue.asl.variables.check_variable_name`), and
:func:`check_scopes` enforces the scope rule of "Passing data between states with variables":
a state inside a Parallel branch or Map iteration cannot assign a variable that an enclosing
scope assigns.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from oncue.asl.fields import child
from oncue.asl.jsonata_template import JsonataTemplate, TemplateFault, compile_template
from oncue.asl.template import compile_template as compile_payload
from oncue.asl.template import find_template_problems
from oncue.asl.variables import Assignment, check_variable_name, variable_name
from oncue.types import Json

if TYPE_CHECKING:
    from oncue.asl.checker import Checker
    from oncue.asl.model import QueryLanguage

__all__ = ["check_scopes", "compile_assign", "compile_field", "compile_value"]


def compile_value(checker: Checker, raw: Json, pointer: str) -> JsonataTemplate | None:
    """Compile a JSONata field value found at ``pointer``; None (reported) when faulty."""
    faults: list[TemplateFault] = []
    template = compile_template(raw, faults)
    for relative, message in faults:
        checker.schema(pointer + relative, message)
    return None if faults else template


def compile_field(
    checker: Checker, good: Mapping[str, Json], key: str, pointer: str
) -> JsonataTemplate | None:
    """A JSONata field of a state (``Output``, ``Arguments``, ...); None when absent."""
    if key not in good:
        return None
    return compile_value(checker, good[key], child(pointer, key))


def compile_assign(
    checker: Checker, raw: Json, pointer: str, language: QueryLanguage
) -> Assignment | None:
    """``Assign`` at ``pointer`` (already known to be an object, or absent when None)."""
    if not isinstance(raw, dict):
        return None
    mark = checker.mark()
    names: list[str] = []
    for key in raw:
        name = variable_name(key) if language == "JSONPath" else key
        problem = check_variable_name(name)
        if problem is not None:
            checker.schema(child(pointer, key), problem)
        names.append(name)
    if language == "JSONata":
        template = compile_value(checker, raw, pointer)
        if template is None or not checker.clean_since(mark):
            return None
        return Assignment(names=tuple(names), jsonata=template)
    found = find_template_problems(raw)
    for relative, message in found:
        below = relative if not relative or relative.startswith("/") else f"/{relative}"
        checker.schema(pointer + below, message)
    if not checker.clean_since(mark):
        return None
    return Assignment(names=tuple(names), jsonpath=compile_payload(raw))


# -- scopes ---------------------------------------------------------------------------------


def _assigned(raw_state: Mapping[str, Json]) -> Iterator[tuple[str, str]]:
    """(variable name, pointer below the state) of every Assign key in a raw state."""
    places: list[tuple[Json, str]] = [(raw_state.get("Assign"), "/Assign")]
    for key in ("Choices", "Catch"):
        items = raw_state.get(key)
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, dict):
                    places.append((item.get("Assign"), f"/{key}/{index}/Assign"))
    for assign, at in places:
        if isinstance(assign, dict):
            for key in assign:
                yield variable_name(key), child(at, key)


def _bodies(raw_state: Mapping[str, Json], pointer: str) -> Iterator[tuple[Json, str]]:
    branches = raw_state.get("Branches")
    if isinstance(branches, list):
        for index, branch in enumerate(branches):
            yield branch, child(pointer, "Branches", index)
    for key in ("ItemProcessor", "Iterator"):
        if isinstance(raw_state.get(key), dict):
            yield raw_state[key], child(pointer, key)


def check_scopes(
    checker: Checker, body: Json, pointer: str = "", outer: frozenset[str] = frozenset()
) -> None:
    """Report an inner-scope Assign of a name that an enclosing scope assigns."""
    if not isinstance(body, dict) or not isinstance(body.get("States"), dict):
        return
    states: Mapping[str, Json] = body["States"]
    here: set[str] = set()
    for name, raw_state in states.items():
        if not isinstance(raw_state, dict):
            continue
        at = child(pointer, "States", name)
        for variable, relative in _assigned(raw_state):
            here.add(variable)
            if variable in outer:
                checker.schema(
                    at + relative,
                    f"The variable '{variable}' is assigned in an enclosing scope; a state in a "
                    "Parallel branch or Map iteration cannot assign it",
                )
    scope = frozenset(outer | here)
    for name, raw_state in states.items():
        if isinstance(raw_state, dict):
            at = child(pointer, "States", name)
            for inner, inner_at in _bodies(raw_state, at):
                check_scopes(checker, inner, inner_at, scope)
