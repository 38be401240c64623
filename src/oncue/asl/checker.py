"""The problem collector and the checks every part of a definition shares.

A :class:`Checker` walks one definition. It never raises: each check appends a
:class:`~oncue.errors.Problem` (an RFC 6901 pointer and a message that starts with the AWS
diagnostic code) and returns what it could compile, or None. The validator keeps going after
a problem so that one run reports everything, and only builds the model when nothing was
found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from oncue.asl.evaluation import Expression, ReferenceTarget
from oncue.asl.fields import (
    CATCHER_FIELDS,
    EXPRESSION_CAPABLE_FIELDS,
    JSONATA_ONLY_FIELDS,
    JSONPATH_ONLY_FIELDS,
    MAX_SECONDS,
    RETRIER_FIELDS,
    SCHEMA_VALIDATION_FAILED,
    Kind,
    child,
    is_jsonata_expression,
    kind_matches,
    kind_name,
    problem,
)
from oncue.asl.model import Catcher, QueryLanguage, Retrier
from oncue.asl.paths import compile_path, compile_reference_path
from oncue.asl.template import TemplateError, compile_template, find_template_problems
from oncue.asl.validate_jsonata import compile_assign, compile_field
from oncue.errors import Problem
from oncue.types import Json

__all__ = ["Checker"]

_HAS_CODE: Final = re.compile(r"[A-Z][A-Z_]+: ")
#: Retry's MaxDelaySeconds: "a value greater than 0 and less than 31622401" (Error handling).
_MAX_DELAY_SECONDS: Final = 31_622_400
_JITTER_STRATEGIES: Final = ("FULL", "NONE")
_STATES_ALL: Final = "States.ALL"


@dataclass(slots=True)
class Checker:
    """Collects problems for one definition; ``language`` is the top-level QueryLanguage."""

    problems: list[Problem]
    language: QueryLanguage = "JSONPath"
    #: Every state name seen so far, anywhere in the definition, with its pointer.
    names: dict[str, str] = field(default_factory=dict)

    def report(self, pointer: str, code: str, message: str) -> None:
        self.problems.append(problem(pointer, code, message))

    def schema(self, pointer: str, message: str) -> None:
        self.report(pointer, SCHEMA_VALIDATION_FAILED, message)

    def mark(self) -> int:
        return len(self.problems)

    def clean_since(self, mark: int) -> bool:
        return len(self.problems) == mark

    # -- fields ------------------------------------------------------------------------

    def fields(
        self,
        raw: Mapping[str, Json],
        table: Mapping[str, Kind],
        pointer: str,
        *,
        owner: str,
        language: QueryLanguage | None = None,
        unsupported: frozenset[str] = frozenset(),
    ) -> dict[str, Json]:
        """Check every field of ``raw`` against ``table``; return the well-typed ones.

        ``language`` (None where it does not apply) forbids the fields of the other query
        language, and lets a JSONata state write an expression where a literal is expected.
        """
        good: dict[str, Json] = {}
        for key, value in raw.items():
            at = child(pointer, key)
            kind = table.get(key)
            if key in unsupported:
                self.schema(at, f"Field '{key}' is not supported (inline Map only)")
            elif kind is None:
                self.schema(at, f"Field '{key}' is not supported by {owner}")
            elif language == "JSONata" and key in JSONPATH_ONLY_FIELDS:
                self.schema(at, f"Field '{key}' is only supported when QueryLanguage is JSONPath")
            elif language == "JSONPath" and key in JSONATA_ONLY_FIELDS:
                self.schema(at, f"Field '{key}' is only supported when QueryLanguage is JSONata")
            elif (
                language == "JSONata"
                and key in EXPRESSION_CAPABLE_FIELDS
                and is_jsonata_expression(value)
            ):
                good[key] = value
            elif not kind_matches(kind, value):
                self.schema(at, f"The value for the field '{key}' must be {kind_name(kind)}")
            else:
                good[key] = value
        return good

    def integer(
        self, good: Mapping[str, Json], key: str, pointer: str, *, low: int, high: int
    ) -> int | None:
        """An integer field within [low, high]; None when absent, an expression or wrong."""
        value = good.get(key)
        if not isinstance(value, int):
            return None
        if not low <= value <= high:
            self.schema(
                child(pointer, key),
                f"The value for the field '{key}' must be between {low} and {high}",
            )
            return None
        return value

    def exclusive(self, raw: Mapping[str, Json], pointer: str, *keys: str) -> None:
        """At most one of ``keys`` may be present."""
        present = [key for key in keys if key in raw]
        if len(present) > 1:
            names = ", ".join(f"'{key}'" for key in present)
            self.schema(pointer, f"Only one of {names} may be specified")

    # -- paths and templates -----------------------------------------------------------

    def path(self, text: str, pointer: str, key: str) -> Expression | None:
        try:
            return compile_path(text)
        except ValueError as error:
            self.schema(
                pointer, f"The value for the field '{key}' must be a valid JSONPath: {error}"
            )
            return None

    def reference(
        self, text: str, pointer: str, key: str, *, allow_context: bool = True
    ) -> ReferenceTarget | None:
        try:
            return compile_reference_path(text, allow_context=allow_context)
        except ValueError as error:
            self.schema(
                pointer, f"The value for the field '{key}' must be a valid reference path: {error}"
            )
            return None

    def optional_reference(
        self, good: Mapping[str, Json], key: str, pointer: str
    ) -> ReferenceTarget | None:
        """A ``*Path`` field that reads one value (TimeoutSecondsPath, ItemsPath, ...)."""
        value = good.get(key)
        if not isinstance(value, str):
            return None
        return self.reference(value, child(pointer, key), key)

    def io_path(self, good: Mapping[str, Json], key: str, pointer: str) -> Expression | None:
        """InputPath / OutputPath: ``$`` when absent, None when ``null`` (see the model)."""
        if key not in good:
            return compile_path("$")
        value = good[key]
        if value is None:
            return None
        return self.path(value, child(pointer, key), key)

    def result_path(
        self, good: Mapping[str, Json], key: str, pointer: str
    ) -> ReferenceTarget | None:
        """ResultPath: ``$`` when absent, None when ``null``; it cannot write into ``$$``."""
        if key not in good:
            return compile_reference_path("$")
        value = good[key]
        if value is None:
            return None
        return self.reference(value, child(pointer, key), key, allow_context=False)

    def template(self, good: Mapping[str, Json], key: str, pointer: str) -> Expression | None:
        """A payload template (Parameters, ResultSelector, ItemSelector) or None when absent."""
        if key not in good:
            return None
        at = child(pointer, key)
        value = good[key]
        found = find_template_problems(value)
        for relative, message in found:
            self._template_problem(at, relative, message)
        if found:
            return None
        try:
            return compile_template(value)
        except TemplateError as error:  # find_template_problems should have said so
            self._template_problem(at, error.pointer, error.message)
            return None

    def _template_problem(self, at: str, relative: str, message: str) -> None:
        if relative and not relative.startswith("/"):
            relative = f"/{relative}"
        if _HAS_CODE.match(message):
            self.problems.append(Problem(pointer=at + relative, message=message))
        else:
            self.schema(at + relative, message)

    # -- Retry and Catch ---------------------------------------------------------------

    def _error_equals(
        self, raw: Mapping[str, Json], pointer: str, *, last: bool, what: str
    ) -> tuple[str, ...]:
        """ErrorEquals: a non-empty array of strings; States.ALL alone and last."""
        value = raw.get("ErrorEquals")
        at = child(pointer, "ErrorEquals")
        if "ErrorEquals" not in raw:
            self.schema(pointer, f"The field 'ErrorEquals' is required in a {what}")
            return ()
        if not isinstance(value, list):  # reported with the field types
            return ()
        if not value:
            self.schema(at, "The value for the field 'ErrorEquals' must be a non-empty array")
            return ()
        names: list[str] = []
        for index, name in enumerate(value):
            if isinstance(name, str):
                names.append(name)
            else:
                self.schema(child(at, index), "An error name must be a string")
        # "The reserved name States.ALL ... must appear alone in the ErrorEquals array and
        # must appear in the last Retrier/Catcher" (Error handling in Step Functions).
        if _STATES_ALL in names and len(value) > 1:
            self.schema(at, "States.ALL must appear alone in 'ErrorEquals'")
        if _STATES_ALL in names and not last:
            self.schema(at, f"A {what} with States.ALL must be the last one")
        return tuple(names)

    def retriers(self, good: Mapping[str, Json], pointer: str) -> tuple[Retrier, ...]:
        items = good.get("Retry")
        if not isinstance(items, list):
            return ()
        retriers: list[Retrier] = []
        for index, raw in enumerate(items):
            at = child(pointer, "Retry", index)
            if not isinstance(raw, dict):
                self.schema(at, "A Retrier must be an object")
                continue
            mark = self.mark()
            fields = self.fields(raw, RETRIER_FIELDS, at, owner="a Retrier")
            errors = self._error_equals(raw, at, last=index == len(items) - 1, what="Retrier")
            interval = self.integer(fields, "IntervalSeconds", at, low=1, high=MAX_SECONDS)
            attempts = self.integer(fields, "MaxAttempts", at, low=0, high=MAX_SECONDS)
            delay = self.integer(fields, "MaxDelaySeconds", at, low=1, high=_MAX_DELAY_SECONDS)
            backoff = fields.get("BackoffRate")
            if backoff is not None and backoff < 1.0:
                self.schema(
                    child(at, "BackoffRate"),
                    "The value for the field 'BackoffRate' must be at least 1.0",
                )
            jitter = fields.get("JitterStrategy", "NONE")
            if jitter not in _JITTER_STRATEGIES:
                self.schema(
                    child(at, "JitterStrategy"),
                    "The value for the field 'JitterStrategy' must be FULL or NONE",
                )
                jitter = "NONE"
            if self.clean_since(mark):
                retriers.append(
                    Retrier(
                        error_equals=errors,
                        interval_seconds=1 if interval is None else interval,
                        max_attempts=3 if attempts is None else attempts,
                        backoff_rate=2.0 if backoff is None else float(backoff),
                        max_delay_seconds=delay,
                        jitter_strategy="FULL" if jitter == "FULL" else "NONE",
                    )
                )
        return tuple(retriers)

    def catchers(
        self, good: Mapping[str, Json], pointer: str, language: QueryLanguage
    ) -> tuple[Catcher, ...]:
        """Catchers; whether each ``Next`` names a state is checked with the transitions."""
        items = good.get("Catch")
        if not isinstance(items, list):
            return ()
        catchers: list[Catcher] = []
        for index, raw in enumerate(items):
            at = child(pointer, "Catch", index)
            if not isinstance(raw, dict):
                self.schema(at, "A Catcher must be an object")
                continue
            mark = self.mark()
            fields = self.fields(raw, CATCHER_FIELDS, at, owner="a Catcher", language=language)
            errors = self._error_equals(raw, at, last=index == len(items) - 1, what="Catcher")
            if "Next" not in raw:
                self.schema(at, "The field 'Next' is required in a Catcher")
            result_path = self.result_path(fields, "ResultPath", at)
            assign = compile_assign(self, fields.get("Assign"), child(at, "Assign"), language)
            output = compile_field(self, fields, "Output", at)
            if self.clean_since(mark):
                catchers.append(
                    Catcher(
                        error_equals=errors,
                        next=fields["Next"],
                        result_path=result_path,
                        output=output,
                        assign=assign,
                    )
                )
        return tuple(catchers)
