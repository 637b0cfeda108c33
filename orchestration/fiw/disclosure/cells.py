"""The table that disclosure control works on: one cell per window x segment x metric.

A cell is a row of ``outcome_metrics`` (or of the monthly trends, whose windows are the rolling
12-month windows): a numerator and a denominator of whole counts. Suppressing a cell hides its
numerator, its denominator and its rate together.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL_SEGMENTS = "all"

# The "Outcome metrics" table of docs/metrics.md, in order.
METRICS = (
    "de_escalation_rate",
    "de_escalation_cp_to_cin_share",
    "de_escalation_lac_to_cin_share",
    "closure_rate",
    "closure_nfa_share",
    "closed_last_on_cin_plan_share",
    "re_referral_rate",
    "re_referral_after_closure_rate",
    "repeat_cp_plan_rate",
    "cp_plan_2yr_plus_rate",
    "returned_home_rate",
)

DEFAULT_THRESHOLD = 5


@dataclass(frozen=True)
class CellKey:
    window_name: str
    segment: str
    metric: str

    def __str__(self) -> str:
        return f"{self.window_name} / {self.segment} / {self.metric}"


@dataclass(frozen=True)
class Cell:
    """An unsuppressed cell, as the internal mart holds it."""

    key: CellKey
    numerator: int
    denominator: int


@dataclass(frozen=True)
class PublishedCell:
    """A cell as a reader of the release sees it: its counts, or None where suppressed."""

    key: CellKey
    numerator: int | None
    denominator: int | None

    @property
    def suppressed(self) -> bool:
        return self.numerator is None


def is_primary(cell: Cell, threshold: int = DEFAULT_THRESHOLD) -> bool:
    """Numerator, denominator or their difference between 1 and the threshold (zero is not a
    small number)."""
    return any(
        1 <= value <= threshold
        for value in (cell.numerator, cell.denominator, cell.denominator - cell.numerator)
    )


def publish(cells: list[Cell], suppressed: set[CellKey]) -> list[PublishedCell]:
    """The reader's view of ``cells`` once ``suppressed`` are hidden."""
    return [
        PublishedCell(c.key, None, None)
        if c.key in suppressed
        else PublishedCell(c.key, c.numerator, c.denominator)
        for c in cells
    ]
