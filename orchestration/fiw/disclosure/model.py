"""The intruder's model of a release: every published count, and every linear relation between
counts that docs/ lets a reader know (docs/audiences.md, "The intruder").

A :class:`Model` holds the counts (a value where published, None where suppressed), the relations
between them, and any unknowns that are not published at all (a month's count inside overlapping
windows). :func:`fiw.disclosure.audit.audit_model` then bounds every suppressed count by linear
programming over it. Builders:

- :func:`metric_model`: an outcome-metrics table (programme windows, the release's years), with
  the relations declared in outcome_metrics.yml (:mod:`fiw.disclosure.relations`), within each
  window and, for segment ``all``, across windows that overlap;
- :mod:`fiw.disclosure.release` adds caseloads and the matched tables, for a whole release.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from fiw.disclosure.cells import ALL_SEGMENTS, CellKey, PublishedCell
from fiw.disclosure.relations import (
    DENOMINATOR,
    NUMERATOR,
    Declared,
    condition_holds,
    declared,
)

Var = tuple[Hashable, str]  # (what the count belongs to, which count)
MAX_COVER = 4
COMPLEMENT = "denominator - numerator"


@dataclass(frozen=True)
class Linear:
    """``sum(coef * var for coef, var in terms)`` is ``== rhs`` (equality) or ``<= rhs``."""

    terms: tuple[tuple[float, Var], ...]
    rhs: float
    equality: bool
    label: str
    anchor: Hashable


@dataclass(frozen=True)
class MonthKey:
    """An unknown that no file publishes: the ``all`` count of one metric over one stretch of
    months that overlapping windows share (``dated`` counts)."""

    metric: str
    start: date
    end: date

    def __str__(self) -> str:
        return f"{self.metric} from {self.start} to {self.end} (not published)"


@dataclass
class Model:
    """Counts, relations and unpublished unknowns. ``values`` is in release order (findings are
    reported in that order); ``complements`` name counts that are differences of two others
    (``denominator - numerator``: a small one is as telling as a small numerator)."""

    values: dict[Var, float | None] = field(default_factory=dict)
    relations: list[Linear] = field(default_factory=list)
    complements: list[tuple[Hashable, Var, Var]] = field(default_factory=list)  # key, big, small
    auxiliary: list[Var] = field(default_factory=list)

    def count(self, var: Var, value: float | None) -> None:
        if var in self.values:
            raise ValueError(f"{var[0]} {var[1]} appears twice in the release")
        self.values[var] = value

    def equal(self, terms: Sequence[tuple[float, Var]], label: str, anchor: Hashable) -> None:
        self.relations.append(Linear(tuple(terms), 0.0, True, label, anchor))

    def at_most(
        self, terms: Sequence[tuple[float, Var]], rhs: float, label: str, anchor: Hashable
    ) -> None:
        self.relations.append(Linear(tuple(terms), rhs, False, label, anchor))

    def extend(self, other: Model) -> None:
        for var, value in other.values.items():
            self.count(var, value)
        self.relations += other.relations
        self.complements += other.complements
        self.auxiliary += other.auxiliary


@dataclass(frozen=True)
class Window:
    start: date
    end: date


def metric_model(
    cells: Iterable[PublishedCell],
    *,
    windows: dict[str, Window] | None = None,
    as_of: date | None = None,
    spec: Declared | None = None,
    inequalities: bool = True,
) -> Model:
    """The model of an outcome-metrics table. ``windows`` (name -> dates) and ``as_of`` let the
    conditional relations and the relations across overlapping windows in; without them only
    what holds in every window is used. ``inequalities=False`` leaves out the declared
    ``at_most`` relations between metrics (the model the analysts' monthly trends are suppressed
    and audited under, window by window: segments, the linked families, numerators within
    denominators)."""
    spec = spec or declared()
    if not inequalities:
        spec = Declared(
            spec.not_additive,
            spec.dated,
            spec.distinct,
            tuple(r for r in spec.relations if r.kind != "at_most"),
        )
    windows = windows or {}
    model = Model()
    cells = list(cells)
    by_key: dict[CellKey, PublishedCell] = {}
    for cell in cells:
        if cell.key in by_key:
            raise ValueError(f"cell {cell.key} appears twice in the release")
        by_key[cell.key] = cell
        model.count((cell.key, NUMERATOR), cell.numerator)
        model.count((cell.key, DENOMINATOR), cell.denominator)
        model.complements.append((cell.key, (cell.key, DENOMINATOR), (cell.key, NUMERATOR)))
        model.at_most(
            [(1.0, (cell.key, NUMERATOR)), (-1.0, (cell.key, DENOMINATOR))],
            0.0,
            f"numerator <= denominator ({cell.key})",
            cell.key,
        )
    _segment_relations(model, by_key, spec)
    _declared_relations(model, by_key, spec, windows, as_of)
    _window_relations(model, by_key, spec, windows)
    return model


def _segment_relations(model: Model, cells: dict[CellKey, PublishedCell], spec: Declared) -> None:
    groups: dict[tuple[str, str], list[CellKey]] = defaultdict(list)
    for key in cells:
        if key.segment != ALL_SEGMENTS:
            groups[(key.window_name, key.metric)].append(key)
    for (window, metric), segments in groups.items():
        total = CellKey(window, ALL_SEGMENTS, metric)
        if total not in cells:
            continue
        for count in (NUMERATOR, DENOMINATOR):
            if metric in spec.not_additive:
                for key in segments:
                    model.at_most(
                        [(1.0, (key, count)), (-1.0, (total, count))],
                        0.0,
                        f"a segment's {count} of {metric} is at most `all`'s ({window})",
                        total,
                    )
                model.at_most(
                    [(1.0, (total, count))] + [(-1.0, (k, count)) for k in segments],
                    0.0,
                    f"`all`'s {count} of {metric} is at most the segments' sum ({window})",
                    total,
                )
                continue
            model.equal(
                [(1.0, (k, count)) for k in segments] + [(-1.0, (total, count))],
                f"segment {count}s of {metric} add up to `all` ({window})",
                total,
            )


def _relation_label(kind: str, left, right, where: str) -> str:
    if kind == "equal" and len(left) == 1 and len(right) == 1:
        (lm, lc), (rm, rc) = left[0], right[0]
        return f"{lm} {lc} is the {rm} {rc} ({where})"
    side = lambda cs: " + ".join(f"{m} {c}" for m, c in cs)  # noqa: E731
    op = {"equal": "=", "at_most": "<=", "zero": "= 0"}[kind]
    return f"{side(left)} {op} {side(right)} ({where})".replace("  ", " ")


def _declared_relations(
    model: Model,
    cells: dict[CellKey, PublishedCell],
    spec: Declared,
    windows: dict[str, Window],
    as_of: date | None,
) -> None:
    places = sorted({(k.window_name, k.segment) for k in cells})
    for window, segment in places:
        dates = windows.get(window)
        for rel in spec.relations:
            holds = condition_holds(rel.when, dates and dates.start, dates and dates.end, as_of)
            if not holds:
                continue
            keys = [CellKey(window, segment, m) for m, _ in (*rel.left, *rel.right)]
            if any(k not in cells for k in keys):
                continue
            left = [(1.0, (CellKey(window, segment, m), c)) for m, c in rel.left]
            right = [(-1.0, (CellKey(window, segment, m), c)) for m, c in rel.right]
            label = _relation_label(rel.kind, rel.left, rel.right, f"{window} / {segment}")
            anchor = keys[0]
            if rel.kind == "at_most":
                model.at_most(left + right, 0.0, label, anchor)
            else:
                model.equal(left + right, label, anchor)


def overlap_components(windows: dict[str, Window]) -> list[list[str]]:
    """Windows grouped by overlap (a chain of overlapping windows is one group), each group in
    name order; groups of one window included."""
    names = sorted(windows)
    parent = {n: n for n in names}

    def find(n: str) -> str:
        while parent[n] != n:
            n = parent[n]
        return n

    for a, b in itertools.combinations(names, 2):
        wa, wb = windows[a], windows[b]
        if wa.start <= wb.end and wb.start <= wa.end:
            parent[find(b)] = find(a)
    groups: dict[str, list[str]] = defaultdict(list)
    for n in names:
        groups[find(n)].append(n)
    return sorted(groups.values())


def _pieces(windows: list[Window]) -> list[Window]:
    """The stretches of days the windows' boundaries cut their union into."""
    cuts = sorted({w.start for w in windows} | {w.end + timedelta(days=1) for w in windows})
    pieces = []
    for start, stop in itertools.pairwise(cuts):
        piece = Window(start, stop - timedelta(days=1))
        if any(w.start <= piece.start and piece.end <= w.end for w in windows):
            pieces.append(piece)
    return pieces


def _window_relations(
    model: Model, cells: dict[CellKey, PublishedCell], spec: Declared, windows: dict[str, Window]
) -> None:
    """Segment ``all`` across windows that overlap: a dated count is the sum of the unknown counts
    of the stretches its window is cut into; a distinct count is at least a window's inside it and
    at most the sum of windows covering it."""
    present = {w: windows[w] for w in {k.window_name for k in cells} if w in windows}
    for group in overlap_components(present):
        if len(group) < 2:
            continue
        spans = [present[w] for w in group]
        pieces = _pieces(spans)
        for metric, count in sorted(spec.dated):
            keys = {w: CellKey(w, ALL_SEGMENTS, metric) for w in group}
            if any(k not in cells for k in keys.values()):
                continue
            atoms = {p: (MonthKey(metric, p.start, p.end), count) for p in pieces}
            model.auxiliary += [v for v in atoms.values() if v not in model.auxiliary]
            for w, key in keys.items():
                inside = [atoms[p] for p in pieces if present[w].start <= p.start <= present[w].end]
                model.equal(
                    [(1.0, (key, count))] + [(-1.0, a) for a in inside],
                    f"{metric} {count} of {w} is the sum of its months' (segment all)",
                    key,
                )
        for metric, count in sorted(spec.distinct):
            keys = {w: CellKey(w, ALL_SEGMENTS, metric) for w in group}
            if any(k not in cells for k in keys.values()):
                continue
            for w in group:
                span = present[w]
                others = [o for o in group if o != w and _overlaps(present[o], span)]
                for o in others:
                    if span.start <= present[o].start and present[o].end <= span.end:
                        model.at_most(
                            [(1.0, (keys[o], count)), (-1.0, (keys[w], count))],
                            0.0,
                            f"{metric} {count}: {o} lies inside {w} (segment all)",
                            keys[w],
                        )
                # covers of up to MAX_COVER windows (a release's windows overlap a handful of
                # others; a table of many overlapping windows is refused, not modelled whole)
                for r in range(2, min(len(others), MAX_COVER) + 1):
                    for cover in itertools.combinations(others, r):
                        if _covers([present[o] for o in cover], span):
                            model.at_most(
                                [(1.0, (keys[w], count))]
                                + [(-1.0, (keys[o], count)) for o in cover],
                                0.0,
                                f"{metric} {count}: {', '.join(cover)} cover {w} (segment all)",
                                keys[w],
                            )


def _overlaps(a: Window, b: Window) -> bool:
    return a.start <= b.end and b.start <= a.end


def _covers(spans: list[Window], target: Window) -> bool:
    day = target.start
    for span in sorted(spans, key=lambda s: s.start):
        if span.start > day:
            return False
        if span.end >= day:
            day = span.end + timedelta(days=1)
        if day > target.end:
            return True
    return day > target.end
