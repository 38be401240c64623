"""Workflow variables: ``Assign``, what each state sees, the size limits and the history.

AWS "Passing data between states with variables":

* **Where.** Pass, Task, Map, Parallel, Choice (and each Choice rule) and Wait states, and
  every Catcher, may carry ``Assign``: an object whose keys name variables. In a JSONata
  state its values are JSON with ``{% %}`` expressions; in a JSONPath state a key ending in
  ``.$`` takes the value of a path or intrinsic, as in a payload template.
* **When.** Every expression of a state reads the variable values of the moment the state
  was entered, ``Assign`` included (so ``{"a": "{% $b %}", "b": "{% $a %}"}`` swaps); the new
  values exist from the next state on. They are recorded in the ``*StateExited`` event as
  ``assignedVariables`` (each value as JSON text) with ``assignedVariablesDetails``.
* **What ``$`` is** in a JSONPath ``Assign``: the state's result before ``ResultPath`` (the
  task result after ``ResultSelector``, the Pass state's ``Result`` or ``Parameters``
  output), the effective input of a Choice or Wait state, the error output in a Catcher.
* **Scope.** The top-level states share one scope; each Parallel branch and Map iteration
  has a scope of its own that reads the enclosing scopes (a Distributed Map's iterations do
  not). An inner scope cannot assign a variable that an enclosing scope assigns (checked at
  definition time, :func:`check_scopes`); its variables end with it -- return data with
  ``Output``.
* **Names** follow the identifier rules (a letter or ``_``, then letters, digits or ``_``;
  Unicode letters allowed), at most 80 characters, and ``states`` is reserved.
* **Size.** One variable's value may take 256 KiB, all values of one ``Assign`` together
  256 KiB, and all the variables an execution holds 10 MiB (as UTF-8 JSON); beyond that the
  state fails with ``States.DataLimitExceeded``. The 10 MiB count every open scope: the top
  level and every running branch and iteration (``ExecutionState.variable_bytes``).
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from oncue.asl.evaluation import Expression, Scope, StatesFailure
from oncue.asl.jsonata_eval import Bindings
from oncue.asl.jsonata_template import JsonataTemplate
from oncue.asl.jsonutil import dumps
from oncue.types import Json

if TYPE_CHECKING:
    from oncue.asl.frames import ExecutionState, Frame

__all__ = [
    "MAX_ASSIGN_BYTES",
    "MAX_TOTAL_BYTES",
    "MAX_VARIABLE_BYTES",
    "MAX_VARIABLE_NAME",
    "Assignment",
    "assigned_details",
    "check_variable_name",
    "store",
    "visible",
]

MAX_VARIABLE_BYTES: Final = 256 * 1024
MAX_ASSIGN_BYTES: Final = 256 * 1024
MAX_TOTAL_BYTES: Final = 10 * 1024 * 1024
MAX_VARIABLE_NAME: Final = 80
_RESERVED: Final = frozenset({"states"})
_SUFFIX: Final = ".$"


def check_variable_name(name: str) -> str | None:
    """Why ``name`` cannot name a variable, or None when it can."""
    if not name or len(name) > MAX_VARIABLE_NAME:
        return f"Variable names must be 1 to {MAX_VARIABLE_NAME} characters long: '{name}'"
    if not name.isidentifier():
        return (
            f"Invalid variable name '{name}': it must start with a letter or '_' and hold "
            "only letters, digits and '_'"
        )
    if name in _RESERVED:
        return f"'{name}' is a reserved variable name"
    return None


def variable_name(key: str) -> str:
    """The variable a JSONPath Assign key names (``total.$`` assigns ``total``)."""
    return key[: -len(_SUFFIX)] if key.endswith(_SUFFIX) else key


@dataclass(frozen=True, slots=True)
class Assignment:
    """A compiled ``Assign``: a JSONata template or a JSONPath payload template."""

    names: tuple[str, ...]
    jsonata: JsonataTemplate | None = None
    jsonpath: Expression | None = None

    def evaluate_jsonata(self, bindings: Bindings) -> dict[str, Json]:
        assert self.jsonata is not None
        values = self.jsonata.evaluate(bindings, "Assign")
        assert isinstance(values, dict)
        return values

    def evaluate_jsonpath(self, scope: Scope) -> dict[str, Json]:
        assert self.jsonpath is not None
        values = self.jsonpath.evaluate(scope)
        assert isinstance(values, dict)
        return values


def visible(frame: Frame) -> Mapping[str, Json]:
    """The variables a state of ``frame`` reads: its own scope, then the enclosing ones."""
    if frame.parent is None or frame.isolated:
        return frame.variables
    scopes: list[Mapping[str, Json]] = [frame.variables]
    outer: Frame | None = frame.parent
    while outer is not None:
        scopes.append(outer.variables)
        if outer.isolated:
            break
        outer = outer.parent
    return ChainMap(*scopes)  # type: ignore[arg-type]


def _size(value: Json) -> int:
    return len(dumps(value).encode("utf-8"))


def store(
    execution: ExecutionState, frame: Frame, values: Mapping[str, Json], state: str
) -> dict[str, str]:
    """Check the limits, then keep ``values`` in ``frame``'s scope; returns them as JSON text.

    Raises :class:`StatesFailure` (``States.DataLimitExceeded``) before changing anything.
    """
    texts = {name: dumps(value) for name, value in values.items()}
    sizes = {name: len(text.encode("utf-8")) for name, text in texts.items()}
    for name, size in sizes.items():
        if size > MAX_VARIABLE_BYTES:
            raise StatesFailure(
                "States.DataLimitExceeded",
                f"The state '{state}' assigned the variable '{name}' a value of {size} bytes; "
                f"a variable holds at most {MAX_VARIABLE_BYTES} bytes.",
            )
    if sum(sizes.values()) > MAX_ASSIGN_BYTES:
        raise StatesFailure(
            "States.DataLimitExceeded",
            f"The state '{state}' assigned {sum(sizes.values())} bytes of variables; one "
            f"Assign holds at most {MAX_ASSIGN_BYTES} bytes.",
        )
    replaced = sum(frame.variable_sizes.get(name, 0) for name in sizes)
    total = execution.variable_bytes - replaced + sum(sizes.values())
    if total > MAX_TOTAL_BYTES:
        raise StatesFailure(
            "States.DataLimitExceeded",
            f"The state '{state}' would bring the execution's variables to {total} bytes; "
            f"an execution holds at most {MAX_TOTAL_BYTES} bytes of variables.",
        )
    frame.variables.update(values)
    frame.variable_sizes.update(sizes)
    execution.variable_bytes = total
    return texts


def assigned_details(texts: Mapping[str, str]) -> dict[str, object]:
    """The ``*StateExited`` members AWS records for an Assign."""
    return {"assignedVariables": dict(texts), "assignedVariablesDetails": {"truncated": False}}
