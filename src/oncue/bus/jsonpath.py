"""The JSONPath subset EventBridge evaluates on events (InputPath, InputPathsMap).

*Amazon EventBridge input transformation*: "EventBridge does not support all JSON Path syntax
and evaluate it at runtime. Supported syntax includes: dot notation (for example,
``$.detail``), dashes, underscores, alphanumeric characters, array indices, wildcards (*),
forward slashes". A target's ``InputPath`` may also use bracket notation (Target.InputPath:
"You may use JSON dot notation or bracket notation"), so ``['name']`` steps are read too.

A path with no wildcard selects one value or nothing; a wildcard selects the JSON array of every
match (as JSONPath implementations do), and nothing when there is no match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from oncue.types import Json

__all__ = ["EventPath", "compile_event_path"]

#: One step: ``.name``, ``.*``, ``[index]``, ``[*]`` or ``['name']``.
_STEP: Final = re.compile(
    r"""\.(?P<name>[^.\[\]*'"\s]+)
      | \.(?P<dot_star>\*)
      | \[\s*(?P<index>\d+)\s*\]
      | \[\s*(?P<star>\*)\s*\]
      | \[\s*'(?P<quoted>[^']*)'\s*\]""",
    re.VERBOSE,
)
_WILDCARD: Final = object()


@dataclass(frozen=True, slots=True, kw_only=True)
class EventPath:
    """A compiled path; :meth:`find` returns ``(found, value)``."""

    source: str
    steps: tuple[str | int | object, ...]
    wildcard: bool

    def find(self, document: Json) -> tuple[bool, Json]:
        matches = _walk(document, self.steps)
        if self.wildcard:
            return (True, matches) if matches else (False, None)
        return (True, matches[0]) if matches else (False, None)


def compile_event_path(text: str, *, bracket_names: bool = True) -> EventPath | None:
    """The compiled path, or None when ``text`` is not a path of the supported subset.

    ``bracket_names=False`` refuses ``['name']`` steps: InputPathsMap values "must use JSON dot
    notation, not bracket notation" (array indices stay allowed).
    """
    if not text.startswith("$"):
        return None
    steps: list[str | int | object] = []
    position = 1
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None:
            return None
        if match["name"] is not None:
            steps.append(match["name"])
        elif match["quoted"] is not None:
            if not bracket_names:
                return None
            steps.append(match["quoted"])
        elif match["index"] is not None:
            steps.append(int(match["index"]))
        else:
            steps.append(_WILDCARD)
        position = match.end()
    return EventPath(source=text, steps=tuple(steps), wildcard=_WILDCARD in steps)


def _walk(value: Json, steps: tuple[str | int | object, ...]) -> list[Json]:
    current = [value]
    for step in steps:
        following: list[Json] = []
        for node in current:
            if step is _WILDCARD:
                if isinstance(node, dict):
                    following.extend(node.values())
                elif isinstance(node, list):
                    following.extend(node)
            elif isinstance(step, int):
                if isinstance(node, list) and step < len(node):
                    following.append(node[step])
            elif isinstance(node, dict) and step in node:
                following.append(node[step])
        current = following
    return current
