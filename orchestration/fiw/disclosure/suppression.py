"""Choose the cells to hide: primary suppression, then the complementary cells that keep every
hidden figure from being narrowed down from everything the release publishes (docs/audiences.md,
"Disclosure control" and "The intruder").

Two passes. The first is a rule worked out for the relations inside a window (below): it is
exact for them and cheap. The second is the audit itself (:mod:`fiw.disclosure.audit`, over the
model of every relation declared in outcome_metrics.yml, across windows too when their dates are
given): while it narrows a hidden count, :func:`_escalate` hides more, and the audit runs again.

What a reader can work out within a window
------------------------------------------
The reader knows these relations, per window (read from outcome_metrics.yml,
:mod:`fiw.disclosure.relations`):

* for every metric but ``returned_home_rate``, the segment numerators add up to the ``all``
  numerator and the segment denominators to the ``all`` denominator;
* the declared ``equal`` relations: a share's denominator is its rate's numerator, and so is
  ``re_referral_after_closure_rate``'s in a window whose closures have all had 12 months, in the
  same window and segment;
* ``0 <= numerator <= denominator``; and the declared ``at_most`` relations, which the second
  pass takes care of.

Links. Metrics an ``equal`` relation links form a *family* (``closure_rate`` with
``closure_nfa_share``, ``closed_last_on_cin_plan_share`` and ``re_referral_after_closure_rate``;
``de_escalation_rate`` with the two de-escalation shares). In a
window and segment, a family's cells are hidden together or not at all: a hidden rate beside a
published share gives its numerator away (the share's denominator), and a hidden share beside a
published rate gives its denominator away (the rate's numerator). So within a window a family has
one set ``H`` of hidden segments, the same for each of its metrics. Families are independent of
one another and of other windows, and every other metric is a family of its own.

The range that is left. Take a family in a window whose ``all`` cells are published and whose
hidden segments are ``H``. For each metric, the reader knows the hidden totals ``N_H = sum of the
hidden numerators`` and ``D_H = sum of the hidden denominators`` (``all`` minus the published
segments; for a share ``D_H`` is the rate's ``N_H``). Then:

* if ``|H| = 1`` the hidden cell is its totals: recovered exactly;
* if ``|H| >= 2``, every hidden numerator ranges over exactly ``[0, N_H]``, every hidden
  denominator over ``[0, D_H]`` and every hidden ``denominator - numerator`` over
  ``[0, D_H - N_H]``. Nothing narrower: putting all of the hidden mass of every metric of the
  family into one hidden segment and none into the others satisfies every relation (the shares'
  hidden totals never exceed the rate's hidden numerator total), and that gives each bound.

So the linear-programming range of every hidden count is at least the threshold ``t`` wide if
and only if ``|H| >= 2`` and, for every metric of the family,

    N_H >= t,   D_H >= t   and   D_H - N_H >= t,

each unless it is 0: a hidden total of 0 makes every hidden count 0, which is no disclosure (zero
is not a small number).

(The audit looks at numerators and denominators; ``D_H - N_H >= t`` is asked as well because a
difference between 1 and ``t`` is itself a small number under the primary rule, and a hidden
``denominator - numerator`` known to lie in ``[0, t - 1]`` would tell it.) All three totals only
grow as segments are added, so if all of the segments together fall short, nothing short of
``all`` protects the hidden cells.

When ``all`` is hidden as well (with at least one segment), the hidden numerators and
denominators are bounded above by nothing, so every range is wide enough.

Non-additive metrics (``returned_home_rate``): no relation links their cells, so a hidden cell's
range is ``[0, unbounded)`` and only the primary cells are hidden.

The rule
--------
For each window and family:

1. Primary cells: ``cells.is_primary``. A segment is hidden in the whole family if any of its
   family cells is primary (the links above).
2. If any of the family's ``all`` cells is primary, or all of its segments together do not meet
   the three totals (or there is only one segment), the whole group -- every segment and ``all``,
   of every metric of the family -- is hidden. This is audiences.md's "whole group smaller than
   twice the threshold": it happens only when a total is at most the threshold, so below twice
   it.
   A group whose totals lie between the threshold and twice it, and which hidden segments can
   protect, keeps its ``all`` published ("never `all` unless nothing else protects the cell").
3. Otherwise, if any segment is hidden, add the fewest further segments that make ``H`` meet the
   totals (and ``|H| >= 2``); among sets of that size the one with the smallest denominators (the
   rate's, then the family's together), then the first by segment name. The search goes through
   the sets by size, exhaustively while that means fewer than ``_MAX_SUBSETS`` sets, and then
   greedily (smallest segment first, then dropping any that is not needed).

As families do not interact, one pass over them is already the fixed point: a complementary
segment is chosen for all the linked metrics at once, so it needs nothing further. The result
depends only on the cells (every choice is made over sorted keys).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from fiw.disclosure.cells import (
    ALL_SEGMENTS,
    DEFAULT_THRESHOLD,
    Cell,
    CellKey,
    is_primary,
    publish,
)
from fiw.disclosure.model import Window, overlap_components
from fiw.disclosure.relations import declared

# Past this many candidate sets, complementary segments are chosen greedily.
_MAX_SUBSETS = 200_000


@dataclass
class Suppression:
    """The cells to hide, and why each is hidden."""

    primary: set[CellKey] = field(default_factory=set)
    complementary: set[CellKey] = field(default_factory=set)
    reasons: dict[CellKey, str] = field(default_factory=dict)

    @property
    def all(self) -> set[CellKey]:
        return self.primary | self.complementary

    def hide(self, keys: Iterable[CellKey], reason: str) -> None:
        """Hide ``keys`` as complementary cells, for ``reason``; a cell already hidden keeps its
        first reason."""
        for key in keys:
            if key not in self.primary and key not in self.complementary:
                self.complementary.add(key)
                self.reasons[key] = reason


def primary_reason(cell: Cell, threshold: int = DEFAULT_THRESHOLD) -> str | None:
    """Why ``cell`` is primary-suppressed, or None when it is not."""
    for name, value in (
        ("numerator", cell.numerator),
        ("denominator", cell.denominator),
        ("denominator - numerator", cell.denominator - cell.numerator),
    ):
        if 1 <= value <= threshold:
            return f"primary: {name} {value} between 1 and {threshold}"
    return None


def family_of(metric: str) -> str:
    """The rate a metric is linked to by the declared ``equal`` relations (itself for a rate and
    for an unlinked metric)."""
    return declared().family_of(metric)


@dataclass
class _Group:
    """One window of one family: its metrics (the rate first) and cells by (segment, metric)."""

    window: str
    metrics: list[str]
    cells: dict[tuple[str, str], Cell]

    @property
    def segments(self) -> list[str]:
        return sorted({s for s, _ in self.cells if s != ALL_SEGMENTS})

    @property
    def additive_metrics(self) -> list[str]:
        """Metrics whose segments add up to a published-or-hidden ``all`` cell."""
        return [
            m
            for m in self.metrics
            if m not in declared().not_additive and (ALL_SEGMENTS, m) in self.cells
        ]

    def keys(self, segments: Iterable[str], metrics: Iterable[str] | None = None) -> list[CellKey]:
        metrics = list(self.metrics if metrics is None else metrics)
        return [self.cells[(s, m)].key for s in segments for m in metrics if (s, m) in self.cells]

    def totals(self, metric: str, segments: Iterable[str]) -> tuple[int, int]:
        cells = [self.cells[(s, metric)] for s in segments if (s, metric) in self.cells]
        return sum(c.numerator for c in cells), sum(c.denominator for c in cells)

    def shortfall(self, segments: Iterable[str], threshold: int) -> str | None:
        """None when hiding ``segments`` (with ``all`` published) leaves every hidden count a
        range at least ``threshold`` wide; otherwise what falls short."""
        segments = list(segments)
        if len(segments) < 2:
            return f"{len(segments)} segment(s), which `all` gives away"
        for metric in self.additive_metrics:
            n, d = self.totals(metric, segments)
            if any(0 < v < threshold for v in (n, d, d - n)):  # a hidden total of 0: all 0
                return (
                    f"{self.window}/{metric}: numerator {n}, denominator {d}, "
                    f"denominator - numerator {d - n}"
                )
        return None

    def size(self, segment: str) -> tuple[int, int]:
        """How big a segment is: the family rate's denominator, then all its denominators."""
        ds = [
            self.cells[(segment, m)].denominator for m in self.metrics if (segment, m) in self.cells
        ]
        root = self.cells.get((segment, self.metrics[0]))
        return (root.denominator if root is not None else sum(ds), sum(ds))


def _groups(cells: list[Cell]) -> list[_Group]:
    by_group: dict[tuple[str, str], _Group] = {}
    for cell in cells:
        k = cell.key
        group = by_group.setdefault(
            (k.window_name, family_of(k.metric)), _Group(k.window_name, [], {})
        )
        if (k.segment, k.metric) in group.cells:
            raise ValueError(f"two cells for {k}")
        group.cells[(k.segment, k.metric)] = cell
    for (_, root), group in by_group.items():
        present = {m for _, m in group.cells}
        group.metrics = sorted(present, key=lambda m: (m != root, m))
    return [by_group[k] for k in sorted(by_group)]


def _complement(group: _Group, hidden: list[str], threshold: int) -> list[str] | None:
    """The fewest, then smallest, further segments that protect ``hidden``; None when no set of
    segments does."""
    candidates = sorted(
        (s for s in group.segments if s not in hidden), key=lambda s: (group.size(s), s)
    )
    if group.shortfall([*hidden, *candidates], threshold) is not None:
        return None
    examined = 0
    for k in range(len(candidates) + 1):
        examined += math.comb(len(candidates), k)
        if examined > _MAX_SUBSETS:
            break
        best: tuple | None = None
        for combo in itertools.combinations(candidates, k):
            if group.shortfall([*hidden, *combo], threshold) is None:
                sizes = [group.size(s) for s in combo]
                rank = (sum(z[0] for z in sizes), sum(z[1] for z in sizes), tuple(sorted(combo)))
                if best is None or rank < best[0]:
                    best = (rank, list(combo))
        if best is not None:
            return sorted(best[1])
    chosen: list[str] = []
    for s in candidates:
        if group.shortfall([*hidden, *chosen], threshold) is None:
            break
        chosen.append(s)
    for s in sorted(chosen, key=lambda s: (group.size(s), s), reverse=True):
        rest = [c for c in chosen if c != s]
        if group.shortfall([*hidden, *rest], threshold) is None:
            chosen = rest
    return sorted(chosen)


def suppress(
    cells: list[Cell],
    threshold: int = DEFAULT_THRESHOLD,
    *,
    windows: dict[str, Window] | None = None,
    as_of=None,
    rounds: int = 200,
    together: Iterable[Iterable[str]] = (),
) -> Suppression:
    """Primary and complementary suppression of ``cells`` (see the module docstring), then as
    many rounds as the audit needs: while the intruder's model (windows and as_of let in the
    relations across overlapping windows and those of some windows only) narrows a hidden count,
    more is hidden (:func:`_escalate`). A table the rounds cannot protect is left to the audit of
    the validation step, which refuses it."""
    from fiw.disclosure.audit import DISCLOSIVE, audit

    result = _suppress_groups(cells, threshold)
    groups = {(g.window, family_of(g.metrics[0])): g for g in _groups(cells)}
    _hide_all_together(result, groups, together)
    by_window: dict[str, list[Cell]] = {}
    for cell in cells:
        by_window.setdefault(cell.key.window_name, []).append(cell)
    # windows the model links (overlapping ones, when their dates are given): a change in one
    # is audited again with all of them; other windows' audits cannot change
    linked = {w: [w] for w in by_window}
    spans = {w: (windows or {})[w] for w in by_window if w in (windows or {})}
    for component in overlap_components(spans):
        for w in component:
            linked[w] = component
    audited = list(by_window)
    for _ in range(rounds):
        view = publish([c for w in audited for c in by_window[w]], result.all)
        findings = [
            f for f in audit(view, threshold, windows=windows, as_of=as_of) if f.kind == DISCLOSIVE
        ]
        if not findings:
            break
        before = set(result.all)
        for finding in findings:
            _escalate(result, groups, finding, linked)
        changed = {k.window_name for k in result.all - before}
        if not changed:
            break  # nothing left to hide that would help
        audited = sorted({w for c in changed for w in linked[c]})
    return result


def _hide_all_together(result: Suppression, groups: dict, together) -> None:
    """In each set of ``together`` windows, a family whose ``all`` is hidden in one of them is
    hidden whole (``all`` and every segment) in all of them. The release passes its programme
    windows: they are adjacent and the matched tables count the cases referred in each, so cases
    active in one are those open at its start (the other's active less its closed) plus those
    referred: a count of ``all`` hidden in one alone would be given by the other's."""
    for windows in together:
        windows = list(windows)
        for root in sorted({r for (_, r) in groups}):
            members = [groups[(w, root)] for w in windows if (w, root) in groups]
            if not any(k in result.all for g in members for k in g.keys([ALL_SEGMENTS])):
                continue
            why = (
                f"complementary: `all` of {root} is hidden in another programme window, adjacent"
                " to this one (their cases open at the boundary link them)"
            )
            for g in members:
                result.hide(g.keys([*g.segments, ALL_SEGMENTS]), why)


def _escalate(result: Suppression, groups: dict, finding, linked: dict[str, list[str]]) -> None:
    """Hide more where the audit narrowed ``finding``'s count: the smallest segment of its family
    and window not yet hidden; or, for ``all`` or when none is left, the whole family group of the
    window and of every window ``linked`` to it (overlapping: their ``all`` counts share months)."""
    key: CellKey = finding.key
    root = family_of(key.metric)
    group = groups[(key.window_name, root)]
    why = f"complementary: the audit narrowed {finding.key} {finding.count} ({finding.reason})"

    if key.segment != ALL_SEGMENTS:
        open_segments = [
            s for s in group.segments if not all(k in result.all for k in group.keys([s]))
        ]
        candidates = [s for s in open_segments if s != key.segment] or open_segments
        if candidates:
            result.hide(group.keys([min(candidates, key=lambda s: (group.size(s), s))]), why)
            return
    for window in linked.get(key.window_name, [key.window_name]):
        other = groups.get((window, root))
        if other is not None:
            result.hide(other.keys([*other.segments, ALL_SEGMENTS]), why)


def _suppress_groups(cells: list[Cell], threshold: int) -> Suppression:
    """Primary suppression and the complementary cells of the module docstring's rule."""
    result = Suppression()
    for cell in sorted(cells, key=lambda c: (c.key.window_name, c.key.metric, c.key.segment)):
        if is_primary(cell, threshold):
            result.primary.add(cell.key)
            result.reasons[cell.key] = primary_reason(cell, threshold) or "primary"

    for group in _groups(cells):
        primary_segments = [
            s for s in group.segments if any(k in result.primary for k in group.keys([s]))
        ]
        primary_all = [k for k in group.keys([ALL_SEGMENTS]) if k in result.primary]

        if not (primary_segments or primary_all):
            continue
        chosen: list[str] | None = []
        why = ""
        if group.additive_metrics:
            if primary_all:
                first = primary_all[0]
                why = f"`all` of {first.window_name}/{first.metric} is primary"
                chosen = None
            else:
                chosen = _complement(group, primary_segments, threshold)
                why = group.shortfall(group.segments, threshold) or ""
        if chosen is None:
            protected = ", ".join(str(k) for k in primary_all or group.keys(primary_segments))
            members = ", ".join(f"{group.window}/{m}" for m in group.metrics)
            result.hide(
                group.keys([*group.segments, ALL_SEGMENTS]),
                f"whole group smaller than twice the threshold: {members} suppressed whole, "
                f"as nothing but `all` protects {protected} ({why})",
            )
            continue

        # Links: a segment hidden in one metric of the family is hidden in all of them.
        for s in [*primary_segments, *([ALL_SEGMENTS] if primary_all else [])]:
            primaries = [k for k in group.keys([s]) if k in result.primary]
            for k in group.keys([s]):
                result.hide([k], _link_reason(k, primaries))
        for metric in group.metrics:
            protected = ", ".join(str(k) for k in group.keys(primary_segments, [metric]))
            result.hide(
                group.keys(chosen, [metric]),
                f"complementary: protects {protected} in the segment total of "
                f"{group.window}/{metric}",
            )
    return result


def _link_reason(key: CellKey, primaries: list[CellKey]) -> str:
    """Why ``key`` is hidden with the primary cells ``primaries`` of its family (same window and
    segment): a declared ``equal`` relation links them."""
    source = primaries[0]
    root = family_of(key.metric)
    if key.metric != root:
        rate_key = CellKey(key.window_name, key.segment, root)
        if source == rate_key:
            return f"complementary: linked share of {source} (its denominator is that numerator)"
        return (
            f"complementary: linked share of {rate_key}, hidden with {source} "
            "(its denominator is that rate's numerator)"
        )
    return f"complementary: linked rate of {source} (its numerator is that share's denominator)"
