"""What every expression in a definition is evaluated against, and how evaluation fails.

Paths, payload templates, intrinsic functions, choice rules and (later) JSONata expressions
all implement the small protocols below, so the interpreter never needs to know which query
language produced a value. A failing evaluation raises :class:`StatesFailure`, which carries an
ASL error name (``States.Runtime``, ``States.IntrinsicFailure``, ...) and a cause; the
interpreter turns it into a state failure that Retry and Catch see. It is internal control
flow, never shown to users as a traceback.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from oncue.types import Json

__all__ = [
    "Expression",
    "PathNotFound",
    "ReferenceTarget",
    "Scope",
    "StatesFailure",
]


class StatesFailure(Exception):
    """An ASL error raised while evaluating: ``error`` is the name Retry/Catch match on."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


class PathNotFound(LookupError):
    """A definite JSONPath matched nothing. The caller knows the field and words the cause."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


@dataclass(slots=True, kw_only=True)
class Scope:
    """The values an expression can see.

    ``input`` is what ``$`` means, ``context`` what ``$$`` means (the context object),
    ``variables`` the workflow variables visible here (``$name``), and ``rng`` the
    deterministic random source the interpreter seeded for this step (``States.MathRandom``,
    ``States.UUID``): the pure core draws nothing from the operating system.
    """

    input: Json
    context: Json
    variables: Mapping[str, Json] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(0))


class Expression(Protocol):
    """Anything that evaluates to a JSON value in a scope (a path, template, intrinsic...)."""

    @property
    def source(self) -> str: ...

    def evaluate(self, scope: Scope) -> Json: ...


class ReferenceTarget(Protocol):
    """A reference path that can also be written to (``ResultPath``)."""

    @property
    def source(self) -> str: ...

    def evaluate(self, scope: Scope) -> Json: ...

    def assign(self, document: Json, value: Json) -> Json:
        """Return ``document`` with ``value`` placed at this path (copying what it changes).

        Raises :class:`StatesFailure` with ``States.ResultPathMatchFailure`` when the path
        cannot be placed in ``document`` (for example, it descends into a string).
        """
        ...
