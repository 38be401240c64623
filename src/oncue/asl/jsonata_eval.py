"""JSONata expressions: parsed once per definition, evaluated purely and within a budget.

AWS "Transforming data with JSONata in Step Functions": a JSONata expression is a string
written ``{% ... %}``; Step Functions implements JSONata 2.0.6, with every built-in function
except ``$eval`` (use ``$parse``), plus the functions of :mod:`oncue.asl.jsonata_functions`.
The language itself comes from the ``jsonata-python`` library (a port of the reference
implementation that runs its test suite); this module owns everything around it:

* **Parse once.** :func:`compile_expression` parses the text when the definition is
  validated; the model keeps the parsed tree, so an evaluation never parses.
* **Pure.** ``$now()``/``$millis()`` read the step's ``now`` (the library would read the
  wall clock), and ``$random``/``$uuid``/``$shuffle`` draw from the step's seeded generator,
  so a replay gives the same values.
* **Bindings.** ``$states`` (``input``, ``result``, ``errorOutput``, ``context``) and the
  workflow variables visible in the state are looked up through the frame chain the library
  already walks; nothing is copied per evaluation.
* **Budget.** JSONata is Turing-complete. Every evaluation step is counted (a deterministic
  limit, :data:`MAX_STEPS`), the eval-apply depth is capped (:data:`MAX_DEPTH`), every
  intermediate string or array is checked against :data:`MAX_VALUE_ITEMS`, the ``..`` range
  operator and ``$pad`` are checked *before* they allocate, and a wall-clock deadline
  (:data:`MAX_SECONDS`) backs it all up. Exceeding any of them fails the state with
  ``States.QueryEvaluationError``: an expression never hangs the engine. (A regular
  expression that backtracks catastrophically inside one library call cannot be interrupted;
  the Python ``re`` engine is the library's.)
* **JSON out.** The result is converted to plain JSON (library sequences become lists,
  integral floats become ints as JavaScript would print them); a function or a non-finite
  number is an error, and ``undefined`` is reported to the caller as :data:`UNDEFINED`.
"""

from __future__ import annotations

import math
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

# Importing the library raises the process-wide recursion limit to 10,000 ("similar to
# JavaScript"). That is not the library's to change: other parts of the program rely on the
# interpreter's limit (oncue.api refuses JSON nested past it), and a deep Python stack can
# overflow the C stack. The limit is put back; expressions are bounded by MAX_DEPTH instead.
_RECURSION_LIMIT = sys.getrecursionlimit()
from jsonata import jexception  # noqa: E402
from jsonata import jsonata as _library  # noqa: E402
from jsonata.jsonata import Jsonata  # noqa: E402
from jsonata.utils import Utils  # noqa: E402

sys.setrecursionlimit(_RECURSION_LIMIT)

from oncue.asl.evaluation import StatesFailure  # noqa: E402
from oncue.types import Json  # noqa: E402

__all__ = [
    "MAX_DEPTH",
    "MAX_SECONDS",
    "MAX_STEPS",
    "MAX_VALUE_ITEMS",
    "QUERY_EVALUATION_ERROR",
    "UNDEFINED",
    "Bindings",
    "BudgetExceeded",
    "Environment",
    "JsonataExpression",
    "compile_expression",
    "native",
    "to_json",
]

QUERY_EVALUATION_ERROR: Final = "States.QueryEvaluationError"
#: Evaluation steps (nodes of the expression tree entered) one evaluation may take.
MAX_STEPS: Final = 200_000
#: How deep the eval-apply recursion may go (recursive functions, nested lambdas).
MAX_DEPTH: Final = 200
#: Characters of a string, items of an array an expression may build at any point.
MAX_VALUE_ITEMS: Final = 1_000_000
#: Wall-clock backstop for one evaluation, for steps that are slow one by one. It is far
#: above what MAX_STEPS takes even on a loaded machine (about 0.5 s), so whether an
#: evaluation is stopped, and why, stays a deterministic function of the expression.
MAX_SECONDS: Final = 10.0


def _quiet(*args: object, **kwargs: object) -> None:
    """Stands in for ``print`` in the library's module."""


# The library prints a debugging line to stdout before it raises T1006 (a call of something
# that is not a function). stdout belongs to the program (``oncue execute`` prints its JSON
# result there), so that module's ``print`` is silenced; the error itself is still raised.
setattr(_library, "print", _quiet)  # noqa: B010


class _Undefined:
    """JSONata's ``undefined``: no value at all (``None`` is JSON null)."""

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Final = _Undefined()


class BudgetExceeded(Exception):
    """An evaluation went past one of the limits above."""


@dataclass(slots=True, kw_only=True)
class Bindings:
    """What one evaluation sees: ``$states``, the visible variables, the step's time and rng.

    ``frame`` caches the library frame built from them, shared by the evaluations of a state.
    """

    states: Mapping[str, Json]
    variables: Mapping[str, Json]
    now: datetime
    rng: random.Random
    frame: Any = None


class _Runner(Jsonata):  # type: ignore[misc]
    """The library's evaluator with the range operator checked before it allocates."""

    def evaluate_range_expression(self, lhs: Any, rhs: Any) -> Any:
        if isinstance(lhs, int) and isinstance(rhs, int) and rhs - lhs + 1 > MAX_VALUE_ITEMS:
            raise BudgetExceeded(f"the range [{lhs}..{rhs}] has more than {MAX_VALUE_ITEMS} items")
        return super().evaluate_range_expression(lhs, rhs)


_LOCAL = threading.local()


def _runner() -> _Runner:
    runner: _Runner | None = getattr(_LOCAL, "runner", None)
    if runner is None:
        runner = _Runner("0")
        _LOCAL.runner = runner
    return runner


class Environment(Jsonata.Frame):  # type: ignore[misc]
    """The evaluation's root frame: own bindings, then the variables, then the built-ins."""

    def __init__(self, parent: Any, variables: Mapping[str, Json]) -> None:
        super().__init__(parent)
        self.variables = variables

    def lookup(self, name: str) -> Any:
        value = self.bindings.get(name, Utils.NONE)
        if value is not Utils.NONE:
            return value
        value = self.variables.get(name, Utils.NONE)
        if value is not Utils.NONE:
            # A variable holding JSON null is null, not undefined (None to the library).
            return Utils.NULL_VALUE if value is None else value
        return self.parent.lookup(name)


_SIZED: Final = (str, list)


class _Budget:
    """Counts steps and depth through the library's evaluate entry/exit callbacks."""

    __slots__ = ("deadline", "depth", "steps")

    def __init__(self) -> None:
        self.steps = 0
        self.depth = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def enter(self, expr: Any, input: Any, env: Any) -> None:
        if env.is_parallel_call:
            return
        self.steps += 1
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise BudgetExceeded(f"the expression nests deeper than {MAX_DEPTH} calls")
        if self.steps > MAX_STEPS:
            raise BudgetExceeded(f"the expression took more than {MAX_STEPS} evaluation steps")
        if self.steps % 1024 == 0 and time.monotonic() > self.deadline:
            raise BudgetExceeded(f"the expression ran for more than {MAX_SECONDS} seconds")

    def exit(self, expr: Any, input: Any, env: Any, result: Any) -> None:
        if env.is_parallel_call:
            return
        self.depth -= 1
        if isinstance(result, _SIZED) and len(result) > MAX_VALUE_ITEMS:
            raise BudgetExceeded(
                f"the expression built a value of more than {MAX_VALUE_ITEMS} items"
            )


#: Attributes of a parsed step that make it more than a plain ``.name`` step.
_NOT_PLAIN: Final = (
    "stages",
    "predicate",
    "group",
    "focus",
    "index",
    "tuple",
    "keep_array",
    "keep_singleton_array",
    "ancestor",
    "seeking_parent",
    "consarray",
)
_MISSING: Final = object()


def _plain_path(ast: Any) -> tuple[str, tuple[str, ...]] | None:
    """``$name.key.key`` with nothing else: (variable, keys), evaluated without the library."""
    steps = ast.steps if getattr(ast, "type", None) == "path" else [ast]
    if not steps or any(getattr(ast, attr, None) for attr in _NOT_PLAIN):
        return None
    first, rest = steps[0], steps[1:]
    if first.type != "variable" or first.value in ("", "$"):
        return None
    for step in steps:
        if any(getattr(step, attr, None) for attr in _NOT_PLAIN):
            return None
    if any(step.type != "name" or not isinstance(step.value, str) for step in rest):
        return None
    return first.value, tuple(step.value for step in rest)


_Operand = tuple[str, Any]  # ("path", (name, keys)) or ("literal", value)
_COMPARISONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _operand(ast: Any) -> _Operand | None:
    kind = getattr(ast, "type", None)
    if kind in ("number", "string") and not any(getattr(ast, a, None) for a in _NOT_PLAIN):
        value = ast.value
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return None
        return ("literal", value)
    path = _plain_path(ast)
    return None if path is None else ("path", path)


def _comparison(ast: Any) -> tuple[str, _Operand, _Operand] | None:
    """``operand op operand`` with plain paths and number/string literals only."""
    if getattr(ast, "type", None) != "binary" or ast.value not in _COMPARISONS:
        return None
    left, right = _operand(ast.lhs), _operand(ast.rhs)
    if left is None or right is None:
        return None
    return ast.value, left, right


def _kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "number"
    return None


@dataclass(frozen=True, slots=True)
class JsonataExpression:
    """One parsed ``{% ... %}`` expression; ``source`` is the text between the delimiters.

    ``path`` is set for the commonest expressions, a variable followed by field names
    (``$states.input.order.id``, ``$total``): they are walked directly while every value on
    the way is an object and the value found is not an array, which is exactly what the
    library would return; anything else goes to the library.
    """

    source: str
    ast: Any
    path: tuple[str, tuple[str, ...]] | None = None
    #: A comparison of plain paths and literals (``$states.input.total > 10``), decided
    #: directly when both sides are numbers or both strings, as the library would.
    comparison: tuple[str, _Operand, _Operand] | None = None

    def evaluate(self, bindings: Bindings) -> Json:
        """The expression's JSON value, or :data:`UNDEFINED`.

        Raises :class:`StatesFailure` (``States.QueryEvaluationError``) with the library's
        error code and message, or the budget that was exceeded.
        """
        if self.path is not None:
            value = self._walk(bindings, *self.path)
            if value is not _MISSING:
                return value
        elif self.comparison is not None:
            value = self._compare(bindings, *self.comparison)
            if value is not _MISSING:
                return value
        return self._evaluate(bindings)

    def _compare(self, bindings: Bindings, op: str, left: _Operand, right: _Operand) -> Any:
        values = []
        for kind, operand in (left, right):
            value = operand if kind == "literal" else self._walk(bindings, *operand)
            if value is _MISSING:
                return _MISSING
            values.append(value)
        a, b = values
        if a is UNDEFINED or b is UNDEFINED:
            # The library: = and != are false, an ordering is undefined.
            return False if op in ("=", "!=") else UNDEFINED
        category = _kind(a)
        if category is None or category != _kind(b):
            return _MISSING  # mixed or other types: the library words the error
        return _COMPARISONS[op](a, b)

    @staticmethod
    def _walk(bindings: Bindings, name: str, keys: tuple[str, ...]) -> Any:
        if name == "states":
            value: Any = bindings.states
        else:
            value = bindings.variables.get(name, _MISSING)
            if value is _MISSING:
                return _MISSING  # maybe a function: let the library decide
        for key in keys:
            if not isinstance(value, dict):
                return _MISSING
            value = value.get(key, UNDEFINED)
            if value is UNDEFINED:
                return UNDEFINED
        return _MISSING if isinstance(value, list) else value

    def _evaluate(self, bindings: Bindings) -> Json:
        from oncue.asl.jsonata_functions import step_frame

        runner = _runner()
        budget = _Budget()
        env = Jsonata.Frame(step_frame(bindings))
        env.bind("$", None)
        env.bind("__evaluate_entry", budget.enter)
        env.bind("__evaluate_exit", budget.exit)
        # $now() and $millis() read the running instance's timestamp: the step's time.
        runner.timestamp = int(bindings.now.timestamp() * 1000)
        previous = getattr(Jsonata.CURRENT, "jsonata", None)
        Jsonata.CURRENT.jsonata = runner
        try:
            result = runner.eval(self.ast, None, env)
            return to_json(result)
        except BudgetExceeded as exc:
            raise StatesFailure(QUERY_EVALUATION_ERROR, f"Evaluation stopped: {exc}") from None
        except jexception.JException as exc:
            raise StatesFailure(QUERY_EVALUATION_ERROR, _message(exc)) from None
        except StatesFailure:
            raise
        except RecursionError:
            raise StatesFailure(
                QUERY_EVALUATION_ERROR, "Evaluation stopped: the expression nests too deeply"
            ) from None
        except (
            TypeError,
            ValueError,
            ArithmeticError,
            AttributeError,
            LookupError,
            re.error,
        ) as exc:
            # The library lets a few Python errors through for inputs it does not check.
            raise StatesFailure(QUERY_EVALUATION_ERROR, f"{type(exc).__name__}: {exc}") from None
        finally:
            Jsonata.CURRENT.jsonata = previous if previous is not None else runner


def _message(exc: jexception.JException) -> str:
    code = getattr(exc, "error", None)
    text = str(exc)
    return f"{code}: {text}" if code and not text.startswith(str(code)) else text


def compile_expression(source: str) -> JsonataExpression:
    """Parse the text between ``{%`` and ``%}``; ValueError (with the reason) if it is bad."""
    try:
        parsed = _Runner(source)
    except jexception.JException as exc:
        raise ValueError(_message(exc)) from None
    except (RecursionError, ValueError, TypeError, LookupError, AttributeError, re.error) as exc:
        raise ValueError(f"the expression cannot be parsed: {exc}") from None
    if parsed.errors:
        raise ValueError(str(parsed.errors[0]))
    path = _plain_path(parsed.ast)
    comparison = None if path is not None else _comparison(parsed.ast)
    return JsonataExpression(source=source, ast=parsed.ast, path=path, comparison=comparison)


def to_json(value: Any) -> Json:
    """The library's result as plain JSON, or UNDEFINED; raises StatesFailure if not JSON."""
    if value is None:
        return UNDEFINED
    if value is Utils.NULL_VALUE:
        return None
    if Utils.is_sequence(value) and len(value) == 0:
        return UNDEFINED  # an empty sequence is JSONata's "nothing"
    return _plain(value, [0])


def _plain(value: Any, size: list[int]) -> Json:
    size[0] += 1
    if size[0] > MAX_VALUE_ITEMS:
        raise BudgetExceeded(f"the result has more than {MAX_VALUE_ITEMS} values")
    if value is Utils.NULL_VALUE:
        return None
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise StatesFailure(QUERY_EVALUATION_ERROR, "The result is not a finite number")
        # JSON has one number type: 3.0 prints as 3 in the reference implementation.
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, dict):
        # Inside a value None is JSON null: the library itself leaves undefined out.
        return {str(key): _plain(item, size) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, size) for item in value]
    raise StatesFailure(
        QUERY_EVALUATION_ERROR,
        "The expression returned a function, which is not a JSON value",
    )


#: Builds a function the library can call, from a Python callable.
def native(function: Callable[..., Any]) -> Any:
    return Jsonata.JLambda(function)
