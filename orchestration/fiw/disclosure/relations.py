"""The relations between published outcome counts, as data: read from the ``disclosure`` block of
``dbt_project/models/marts/outcome_metrics.yml`` (docs/audiences.md, "The intruder").

Both the suppression (which metrics are hidden together) and the audit (the intruder's linear
programme) read them from here; no relation between metrics is written in Python. What *is* Python
is the meaning of each kind of declaration:

- every count is a whole number >= 0 and every numerator is at most its denominator;
- ``not_additive_over_segments``: those metrics' segment counts do not add up to ``all``; ``all``
  is at least each segment's and at most their sum (a child can count in several segments). Every
  other metric's segments add up to ``all``, numerators and denominators alike;
- ``dated``: the ``all`` count of a window is the sum of its months' counts, so windows that
  overlap share unknown monthly counts;
- ``distinct``: the ``all`` count of a window is at least that of a window inside it and at most
  the sum of the counts of windows that together cover it;
- ``relations``: ``equal`` (two counts are equal), ``at_most`` (the sum of the first list is at most
  the sum of the second) and ``zero`` (the count is 0), each in every window and segment, or only
  in the windows ``when`` names (:func:`condition_holds`).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from functools import cache, cached_property
from pathlib import Path

import yaml

NUMERATOR = "numerator"
DENOMINATOR = "denominator"

Count = tuple[str, str]  # (metric, NUMERATOR | DENOMINATOR)

CONDITIONS = ("follow_up_complete", "no_follow_up")
FOLLOW_UP_MONTHS = 12  # re_referral_after_closure_rate: close date + 12 months <= as_of_date


@dataclass(frozen=True)
class Relation:
    """``sum(left) == sum(right)`` (kind ``equal``), ``sum(left) <= sum(right)`` (``at_most``) or
    ``sum(left) == 0`` (``zero``, ``right`` empty), in the windows where ``when`` holds."""

    kind: str
    left: tuple[Count, ...]
    right: tuple[Count, ...]
    when: str | None = None


@dataclass(frozen=True)
class Declared:
    """The ``disclosure`` block of outcome_metrics.yml."""

    not_additive: frozenset[str]
    dated: frozenset[Count]
    distinct: frozenset[Count]
    relations: tuple[Relation, ...]

    @cached_property
    def families(self) -> dict[str, str]:
        """metric -> the metric its family is named after: metrics linked by an ``equal``
        relation are hidden together in a window and segment (a hidden one beside a published
        one would be given away). The name is the one the most relations point to (the rate)."""
        parent: dict[str, str] = {}

        def find(m: str) -> str:
            while parent.setdefault(m, m) != m:
                m = parent[m]
            return m

        weight: dict[str, int] = {}
        for rel in self.relations:
            if rel.kind != "equal":
                continue
            metrics = [m for m, _ in (*rel.left, *rel.right)]
            for m in metrics:
                weight[m] = weight.get(m, 0) + (1 if (m, NUMERATOR) in rel.right else 0)
            first = find(metrics[0])
            for m in metrics[1:]:
                other = find(m)
                if other != first:
                    parent[other] = first
        groups: dict[str, list[str]] = {}
        for m in parent:
            groups.setdefault(find(m), []).append(m)
        out = {}
        for members in groups.values():
            root = max(sorted(members), key=lambda m: weight.get(m, 0))
            out.update({m: root for m in members})
        return out

    def family_of(self, metric: str) -> str:
        return self.families.get(metric, metric)


def _count(text: str) -> Count:
    metric, _, count = text.rpartition(".")
    if not metric or count not in (NUMERATOR, DENOMINATOR):
        raise ValueError(f"disclosure relations: not a count: {text!r}")
    return metric, count


def _counts(value) -> tuple[Count, ...]:
    items = value if isinstance(value, list) else [value]
    return tuple(_count(str(v)) for v in items)


def parse(block: dict) -> Declared:
    """The ``disclosure`` meta block as :class:`Declared` (ValueError on anything unknown)."""
    unknown = set(block) - {"not_additive_over_segments", "dated", "distinct", "relations"}
    if unknown:
        raise ValueError(f"disclosure relations: unknown keys {sorted(unknown)}")
    relations = []
    for item in block.get("relations") or []:
        kinds = [k for k in ("equal", "at_most", "zero") if k in item]
        if len(kinds) != 1 or set(item) - {*kinds, "when"}:
            raise ValueError(f"disclosure relations: not a relation: {item!r}")
        kind, when = kinds[0], item.get("when")
        if when is not None and when not in CONDITIONS:
            raise ValueError(f"disclosure relations: unknown condition {when!r}")
        sides = item[kind]
        if kind == "zero":
            relations.append(Relation(kind, _counts(sides), (), when))
            continue
        if not isinstance(sides, list) or len(sides) != 2:
            raise ValueError(f"disclosure relations: {kind} takes two sides: {item!r}")
        relations.append(Relation(kind, _counts(sides[0]), _counts(sides[1]), when))
    return Declared(
        not_additive=frozenset(block.get("not_additive_over_segments") or []),
        dated=frozenset(_count(c) for c in block.get("dated") or []),
        distinct=frozenset(_count(c) for c in block.get("distinct") or []),
        relations=tuple(relations),
    )


def models_yml() -> Path:
    from fiw.settings import DBT_PROJECT_DIR

    return DBT_PROJECT_DIR / "models" / "marts" / "outcome_metrics.yml"


@cache
def declared(path: Path | None = None) -> Declared:
    """The relations declared beside the metric definitions (cached: read once a process)."""
    doc = yaml.safe_load((path or models_yml()).read_text())
    for model in doc.get("models", []):
        if model.get("name") == "outcome_metrics":
            return parse(model["config"]["meta"]["disclosure"])
    raise ValueError("outcome_metrics.yml declares no disclosure relations")


def add_months(day: date, months: int) -> date:
    """``day + INTERVAL months MONTH`` as DuckDB (and the dbt macro add_months) computes it: the
    same day of the month, or the month's last day when it has fewer."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def condition_holds(when: str | None, start: date | None, end: date | None, as_of: date | None):
    """Whether a relation restricted by ``when`` holds in the window ``[start, end]``; None when
    it cannot be told (a window or extract date unknown): such a relation is left out."""
    if when is None:
        return True
    if start is None or end is None or as_of is None:
        return None
    if when == "follow_up_complete":
        return add_months(end, FOLLOW_UP_MONTHS) <= as_of
    if when == "no_follow_up":
        return add_months(start, FOLLOW_UP_MONTHS) > as_of
    raise ValueError(f"unknown condition {when!r}")
