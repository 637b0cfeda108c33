"""The random draws the model makes millions of, cheaper than ``random.Random``'s general ones."""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import TypeVar

T = TypeVar("T")
Weighted = tuple[tuple[T, ...], tuple[float, ...]]


def weighted(items: Iterable[T], weights: Iterable[float]) -> Weighted:
    """Items with their cumulative weights, for ``Draws.pick``."""
    return tuple(items), tuple(accumulate(weights))


class Draws(random.Random):
    """``random.Random`` (same seeding, same stream) with fast uniform and weighted picks."""

    def between(self, low: int, high: int) -> int:
        """A whole number from ``low`` to ``high`` inclusive."""
        return low + int(self.random() * (high - low + 1))

    def one(self, items: Sequence[T]) -> T:
        return items[int(self.random() * len(items))]

    def pick(self, table: Weighted) -> T:
        items, cumulative = table
        return items[bisect(cumulative, self.random() * cumulative[-1])]
