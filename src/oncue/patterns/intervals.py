"""A static centred interval tree: which closed integer ranges contain a point.

Numeric ranges (as comparables) and CIDR blocks (as integer addresses) are both closed integer
intervals, and an event value must find every interval that contains it in time that grows with
the number of hits, not with the number of intervals. Neither the standard library nor the
project's dependencies offer a stabbing query, hence these sixty lines.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["IntervalTree"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Node(Generic[T]):
    centre: int
    by_low: tuple[tuple[int, T], ...]  # intervals containing centre, ascending low
    by_high: tuple[tuple[int, T], ...]  # the same intervals, descending high
    left: _Node[T] | None
    right: _Node[T] | None


class IntervalTree(Generic[T]):
    """Immutable; build a new tree when the intervals change."""

    __slots__ = ("_root", "size")

    def __init__(self, intervals: Sequence[tuple[int, int, T]]) -> None:
        self.size = len(intervals)
        self._root = _build(list(intervals))

    def stab(self, point: int) -> Iterator[T]:
        """Every payload whose interval ``[low, high]`` contains ``point``."""
        node = self._root
        while node is not None:
            if point < node.centre:
                for low, payload in node.by_low:
                    if low > point:
                        break
                    yield payload
                node = node.left
            elif point > node.centre:
                for high, payload in node.by_high:
                    if high < point:
                        break
                    yield payload
                node = node.right
            else:
                for _, payload in node.by_low:
                    yield payload
                return


def _build(intervals: list[tuple[int, int, T]]) -> _Node[T] | None:
    if not intervals:
        return None
    ends = sorted(end for low, high, _ in intervals for end in (low, high))
    centre = ends[len(ends) // 2]
    here = [item for item in intervals if item[0] <= centre <= item[1]]
    left = [item for item in intervals if item[1] < centre]
    right = [item for item in intervals if item[0] > centre]
    return _Node(
        centre=centre,
        by_low=tuple((low, payload) for low, _, payload in sorted(here, key=lambda i: i[0])),
        by_high=tuple((high, payload) for _, high, payload in sorted(here, key=lambda i: -i[1])),
        left=_build(left),
        right=_build(right),
    )
