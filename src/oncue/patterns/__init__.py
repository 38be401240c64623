"""EventBridge event patterns: compile, flatten, match. A pure core: no I/O, no clock.

- :func:`compile_pattern` validates a pattern once and returns an immutable :class:`Pattern`;
- :func:`flatten` turns an event into its (path, value) leaves;
- :func:`matches` is the reference matcher, the definition of a match;
- :class:`RuleIndex` holds the rules of a bus and matches an event against all of them at a
  cost that stays roughly flat as rules are added; tests check it against :func:`matches`.
"""

from __future__ import annotations

from oncue.patterns.compile import Condition, Pattern, compile_pattern
from oncue.patterns.envelope import REQUIRED_TEST_EVENT_FIELDS, parse_test_event
from oncue.patterns.flatten import Leaf, flatten
from oncue.patterns.index import RuleIndex
from oncue.patterns.reference import matches

__all__ = [
    "REQUIRED_TEST_EVENT_FIELDS",
    "Condition",
    "Leaf",
    "Pattern",
    "RuleIndex",
    "compile_pattern",
    "flatten",
    "matches",
    "parse_test_event",
]
