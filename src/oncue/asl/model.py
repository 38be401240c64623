"""The validated state machine: frozen, slotted, keyword-only dataclasses.

:func:`oncue.asl.validate.parse_definition` builds these from a raw definition after checking
it; the interpreter only ever sees this model, never the raw dictionaries. Field names follow
the ASL field names in snake case. Where ASL distinguishes an absent field from ``null``
(``InputPath``, ``OutputPath``, ``ResultPath``, a Catcher's ``ResultPath``) the validator
always fills the field: the compiled path ``$`` when the field is absent, ``None`` when it is
``null``. So ``None`` in the model always means ``null``, and the interpreter applies the ASL
rules without re-reading the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeAlias

from oncue.asl.evaluation import Expression, ReferenceTarget, Scope
from oncue.asl.jsonata_template import JsonataTemplate
from oncue.asl.variables import Assignment
from oncue.types import Json

__all__ = [
    "BodyLike",
    "Catcher",
    "ChoiceRule",
    "ChoiceState",
    "FailState",
    "MapState",
    "ParallelState",
    "PassState",
    "QueryLanguage",
    "Retrier",
    "State",
    "StateBase",
    "StateMachine",
    "States",
    "SucceedState",
    "TaskState",
    "WaitState",
]

QueryLanguage: TypeAlias = Literal["JSONPath", "JSONata"]


class ChoiceRule(Protocol):
    """A compiled Choice rule. Top-level rules carry ``next``; nested ones have ``None``."""

    @property
    def next(self) -> str | None: ...

    def matches(self, scope: Scope) -> bool:
        """Evaluate the rule; raises StatesFailure (States.Runtime) for an invalid path."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Retrier:
    error_equals: tuple[str, ...]
    interval_seconds: int = 1
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_seconds: int | None = None
    jitter_strategy: Literal["FULL", "NONE"] = "NONE"


@dataclass(frozen=True, slots=True, kw_only=True)
class Catcher:
    error_equals: tuple[str, ...]
    next: str
    #: Where the error output goes; None means ``null`` (keep the state input).
    result_path: ReferenceTarget | None
    #: JSONata mode: the catcher's Output (default: the error output).
    output: JsonataTemplate | None = None
    assign: Assignment | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StateBase:
    name: str
    comment: str | None = None
    #: The name of the next state, or None when the state ends its branch.
    next: str | None = None
    end: bool = False
    query_language: QueryLanguage = "JSONPath"
    #: None means ``"InputPath": null`` (the state sees ``{}``); absent means ``$``.
    input_path: Expression | None = None
    output_path: Expression | None = None
    #: Variables (both query languages) and JSONata's Output.
    assign: Assignment | None = None
    output: JsonataTemplate | None = None
    #: JSONata mode: the fields written as ``{% %}`` instead of a literal (TimeoutSeconds,
    #: Seconds, Timestamp, MaxConcurrency, ToleratedFailure*, Error, Cause), by field name.
    expressions: Mapping[str, JsonataTemplate] = field(default_factory=dict)

    @property
    def type(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True, slots=True, kw_only=True)
class PassState(StateBase):
    parameters: Expression | None = None
    #: Result is a literal; ``has_result`` tells an absent Result from ``"Result": null``.
    result: Json = None
    has_result: bool = False
    result_path: ReferenceTarget | None = None

    @property
    def type(self) -> str:
        return "Pass"


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskState(StateBase):
    resource: str
    parameters: Expression | None = None
    result_selector: Expression | None = None
    result_path: ReferenceTarget | None = None
    timeout_seconds: int | None = None
    timeout_seconds_path: Expression | None = None
    heartbeat_seconds: int | None = None
    heartbeat_seconds_path: Expression | None = None
    retry: tuple[Retrier, ...] = ()
    catch: tuple[Catcher, ...] = ()
    arguments: JsonataTemplate | None = None

    @property
    def type(self) -> str:
        return "Task"


@dataclass(frozen=True, slots=True, kw_only=True)
class ChoiceState(StateBase):
    choices: tuple[ChoiceRule, ...]
    default: str | None = None

    @property
    def type(self) -> str:
        return "Choice"


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitState(StateBase):
    seconds: int | None = None
    timestamp: str | None = None
    seconds_path: Expression | None = None
    timestamp_path: Expression | None = None

    @property
    def type(self) -> str:
        return "Wait"


@dataclass(frozen=True, slots=True, kw_only=True)
class SucceedState(StateBase):
    @property
    def type(self) -> str:
        return "Succeed"


@dataclass(frozen=True, slots=True, kw_only=True)
class FailState(StateBase):
    error: str | None = None
    cause: str | None = None
    error_path: Expression | None = None
    cause_path: Expression | None = None

    @property
    def type(self) -> str:
        return "Fail"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParallelState(StateBase):
    branches: tuple[BodyLike, ...]
    parameters: Expression | None = None
    result_selector: Expression | None = None
    result_path: ReferenceTarget | None = None
    retry: tuple[Retrier, ...] = ()
    catch: tuple[Catcher, ...] = ()
    arguments: JsonataTemplate | None = None

    @property
    def type(self) -> str:
        return "Parallel"


@dataclass(frozen=True, slots=True, kw_only=True)
class MapState(StateBase):
    item_processor: BodyLike
    items_path: Expression | None = None
    #: ItemSelector, or the older Parameters (the validator maps both here).
    item_selector: Expression | None = None
    result_selector: Expression | None = None
    result_path: ReferenceTarget | None = None
    max_concurrency: int = 0
    max_concurrency_path: Expression | None = None
    tolerated_failure_count: int | None = None
    tolerated_failure_count_path: Expression | None = None
    tolerated_failure_percentage: float | None = None
    tolerated_failure_percentage_path: Expression | None = None
    retry: tuple[Retrier, ...] = ()
    catch: tuple[Catcher, ...] = ()
    #: JSONata mode: Items (an array or an expression) and ItemSelector.
    items: JsonataTemplate | None = None
    jsonata_item_selector: JsonataTemplate | None = None
    #: ProcessorConfig Mode DISTRIBUTED: iterations do not see the enclosing variables.
    distributed: bool = False

    @property
    def type(self) -> str:
        return "Map"


State: TypeAlias = (
    PassState
    | TaskState
    | ChoiceState
    | WaitState
    | SucceedState
    | FailState
    | ParallelState
    | MapState
)

States: TypeAlias = Mapping[str, State]


@dataclass(frozen=True, slots=True, kw_only=True)
class BodyLike:
    """A set of states with a start: the top level, a Parallel branch, a Map processor."""

    start_at: str
    states: Mapping[str, State]
    query_language: QueryLanguage = "JSONPath"
    comment: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StateMachine(BodyLike):
    """A whole definition. ``raw`` keeps the source dictionary (for describe/export)."""

    timeout_seconds: int | None = None
    version: str = "1.0"
    raw: Mapping[str, Json] = field(default_factory=dict)
