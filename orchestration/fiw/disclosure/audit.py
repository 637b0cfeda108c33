"""The disclosure audit: what an intruder can work out about every suppressed count.

The intruder knows every figure published and every relation between them (docs/audiences.md,
"Disclosure control"), and nothing else:

- segment figures add up to ``all``, numerators and denominators alike, in every window and for
  every metric except ``returned_home_rate`` (a child can count in several segments);
- a share's denominator is its rate's numerator, in the same window and segment;
- a numerator never exceeds its denominator;
- counts are not negative (and, being counts, are whole numbers).

Every hidden count (numerator and denominator of a suppressed cell) is a variable of a linear
programme over those relations, the published figures being constants. Its minimum and maximum
over that polytope (``scipy.optimize.linprog``, HiGHS) is the range the intruder is left with; the
audit reports a :class:`Finding` where that range is narrower than the threshold, and where the
published figures admit no consistent values at all (a bug upstream). The LP bounds are rounded
inward to whole numbers (the intruder knows counts are whole), which can only narrow a range.

The relations are written here from the specification, on purpose apart from the suppression
that chooses the cells, so that the audit does not share a mistake with what it checks.

Efficiency: every relation lies inside one window, and hidden counts only interact through the
relations that contain them, so the variables are split into connected components (two hidden
counts are linked when one relation holds both) and each component is solved on its own. Inside
a component, every LP solution is a feasible point that bounds all its variables at once: a count
whose values seen so far already span the threshold needs no LP of its own.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import OptimizeResult, linprog

from fiw.disclosure.cells import (
    ALL_SEGMENTS,
    DEFAULT_THRESHOLD,
    METRICS,
    CellKey,
    PublishedCell,
)

NUMERATOR = "numerator"
DENOMINATOR = "denominator"
# The complement (denominator - numerator: cases active but not closed, say) is a count too: the
# primary rule treats it as a small number, so a hidden cell's complement must stay as wide.
COMPLEMENT = "denominator - numerator"
COUNTS = (NUMERATOR, DENOMINATOR)

# Segment figures do not add up to `all` for this metric: a child can count in several segments.
NOT_ADDITIVE = frozenset({"returned_home_rate"})

# share metric -> the rate whose numerator is the share's denominator (same window and segment).
SHARE_DENOMINATOR_IS_NUMERATOR_OF = {
    "closure_nfa_share": "closure_rate",
    "closed_last_on_cin_plan_share": "closure_rate",
    "de_escalation_cp_to_cin_share": "de_escalation_rate",
    "de_escalation_lac_to_cin_share": "de_escalation_rate",
}

DISCLOSIVE = "disclosive"
INCONSISTENT = "inconsistent"

_EPS = 1e-6  # LP tolerance on values that are whole numbers

Var = tuple[CellKey, str]  # (cell, NUMERATOR | DENOMINATOR)


@dataclass(frozen=True)
class Finding:
    """One problem with a release: a hidden count narrowed below the threshold, or published
    figures that contradict each other. Holds counts only, never anything about a child."""

    kind: str  # DISCLOSIVE | INCONSISTENT
    key: CellKey
    count: str | None  # NUMERATOR | DENOMINATOR | COMPLEMENT; None for an inconsistency
    low: float | None  # the range left to the intruder (None for an inconsistency)
    high: float | None
    threshold: int
    reason: str

    @classmethod
    def inconsistent(cls, key: CellKey, threshold: int, reason: str) -> Finding:
        """Published figures that contradict each other (a bug upstream, not a disclosure)."""
        return cls(INCONSISTENT, key, None, None, None, threshold, reason)

    @property
    def width(self) -> float | None:
        if self.low is None or self.high is None:
            return None
        return self.high - self.low

    def describe(self) -> str:
        if self.kind == INCONSISTENT:
            return f"inconsistent release at {self.key}: {self.reason}"
        return (
            f"{self.key} {self.count}: range [{_fmt(self.low)}, {_fmt(self.high)}], "
            f"width {_fmt(self.width)} < {self.threshold}: {self.reason}"
        )


@dataclass
class _Relation:
    """``sum(coeffs[v] * v) + constant`` is ``== 0`` (equality) or ``<= 0``."""

    coeffs: dict[Var, float]
    constant: float
    equality: bool
    label: str
    anchor: CellKey
    via: list[str] = field(default_factory=list)  # why counts folded into `constant` are known


def audit(published: list[PublishedCell], threshold: int = DEFAULT_THRESHOLD) -> list[Finding]:
    """Every hidden count the intruder can narrow to a range less than ``threshold`` wide, and
    every contradiction among the published figures: contradictions first, then in the order of
    ``published``. A count may be hidden alone (``numerator`` or ``denominator`` None)."""
    cells = _index(published)
    findings: list[Finding] = []

    for cell in cells.values():
        for count in COUNTS:
            value = getattr(cell, count)
            if value is not None and value < 0:
                findings.append(
                    Finding.inconsistent(
                        cell.key,
                        threshold,
                        f"published {count} is negative ({_fmt(value)})",
                    )
                )

    relations = list(_relations(cells))
    fixed = _propagate(relations)
    for (key, count), (value, label) in fixed.items():
        if value < -_EPS or abs(value - round(value)) > _EPS:
            findings.append(
                Finding.inconsistent(
                    key,
                    threshold,
                    f"hidden {count} would have to be {_fmt(value)}, from: {label}",
                )
            )
        else:
            value = float(round(value))
            reason = f"recoverable exactly from: {label}"
            findings.append(Finding(DISCLOSIVE, key, count, value, value, threshold, reason))

    with_vars: list[_Relation] = []
    for rel in relations:
        if rel.coeffs:
            with_vars.append(rel)
            continue
        broken = abs(rel.constant) > _EPS if rel.equality else rel.constant > _EPS
        if broken:
            findings.append(
                Finding.inconsistent(
                    rel.anchor,
                    threshold,
                    f"published figures break: {rel.label} (off by {_fmt(abs(rel.constant))})"
                    + "".join(f"; given: {why}" for why in dict.fromkeys(rel.via)),
                )
            )

    hidden = [
        (c.key, count)
        for c in cells.values()
        for count in COUNTS
        if getattr(c, count) is None and (c.key, count) not in fixed
    ]
    for variables, rels in _components(hidden, with_vars):
        findings.extend(_solve_component(variables, rels, threshold))

    order = {key: i for i, key in enumerate(cells)}
    findings.sort(
        key=lambda f: (
            f.kind != INCONSISTENT,
            order[f.key],
            (*COUNTS, COMPLEMENT).index(f.count or NUMERATOR),
        )
    )
    return findings


def _index(published: Iterable[PublishedCell]) -> dict[CellKey, PublishedCell]:
    cells: dict[CellKey, PublishedCell] = {}
    for cell in published:
        if cell.key in cells:
            raise ValueError(f"cell {cell.key} appears twice in the release")
        cells[cell.key] = cell
    return cells


def _relations(cells: dict[CellKey, PublishedCell]) -> Iterable[_Relation]:
    """The intruder's relations, with published figures folded into constants."""

    def relation(
        terms: Sequence[tuple[float, CellKey, str]], equality: bool, label: str, anchor: CellKey
    ) -> _Relation:
        coeffs: dict[Var, float] = defaultdict(float)
        constant = 0.0
        for coef, key, count in terms:
            value = getattr(cells[key], count)
            if value is None:
                coeffs[(key, count)] += coef
            else:
                constant += coef * value
        return _Relation(
            {v: c for v, c in coeffs.items() if c != 0}, constant, equality, label, anchor
        )

    # Segment totals: for each window and additive metric, segments add up to `all`.
    groups: dict[tuple[str, str], list[CellKey]] = defaultdict(list)
    for key in cells:
        groups[(key.window_name, key.metric)].append(key)
    for (window, metric), keys in groups.items():
        if metric in NOT_ADDITIVE:
            continue
        total = CellKey(window, ALL_SEGMENTS, metric)
        if total not in cells:
            continue  # no published total to add up to
        segments = [k for k in keys if k.segment != ALL_SEGMENTS]
        for count in COUNTS:
            terms = [(1.0, k, count) for k in segments] + [(-1.0, total, count)]
            label = f"segment {count}s of {metric} add up to `all` ({window})"
            yield relation(terms, True, label, total)

    # Share links: a share's denominator is its rate's numerator (same window and segment).
    for key in cells:
        rate_metric = SHARE_DENOMINATOR_IS_NUMERATOR_OF.get(key.metric)
        if rate_metric is None:
            continue
        rate = CellKey(key.window_name, key.segment, rate_metric)
        if rate not in cells:
            continue
        terms = [(1.0, key, DENOMINATOR), (-1.0, rate, NUMERATOR)]
        label = (
            f"{key.metric} denominator is the {rate_metric} numerator "
            f"({key.window_name} / {key.segment})"
        )
        yield relation(terms, True, label, key)

    # Bounds: a numerator never exceeds its denominator.
    for key in cells:
        terms = [(1.0, key, NUMERATOR), (-1.0, key, DENOMINATOR)]
        yield relation(terms, False, f"numerator <= denominator ({key})", key)


def _propagate(relations: list[_Relation]) -> dict[Var, tuple[float, str]]:
    """Presolve: a hidden count alone in an equality is known exactly (range 0, no LP needed).
    Substitute it everywhere it appears and repeat. Returns each count so fixed, with its value
    and the relation that fixed it; ``relations`` are left with those counts folded into their
    constants."""
    where: dict[Var, list[_Relation]] = defaultdict(list)
    for rel in relations:
        for v in rel.coeffs:
            where[v].append(rel)
    fixed: dict[Var, tuple[float, str]] = {}
    queue = deque(r for r in relations if r.equality and len(r.coeffs) == 1)
    while queue:
        rel = queue.popleft()
        if len(rel.coeffs) != 1:
            continue  # its count was fixed meanwhile by another relation
        ((v, coef),) = rel.coeffs.items()
        value = -rel.constant / coef
        why = list(dict.fromkeys([rel.label, *rel.via]))
        fixed[v] = (value, "; ".join(why))
        for other in where.pop(v):
            other.constant += other.coeffs.pop(v) * value
            other.via.extend(why)
            if other.equality and len(other.coeffs) == 1:
                queue.append(other)
    return fixed


def _components(
    variables: list[Var], relations: list[_Relation]
) -> list[tuple[list[Var], list[_Relation]]]:
    """Split the hidden counts into groups no relation links (union-find)."""
    parent = {v: v for v in variables}

    def find(v: Var) -> Var:
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for rel in relations:
        first, *rest = rel.coeffs
        for other in rest:
            a, b = find(first), find(other)
            if a != b:
                parent[b] = a

    members: dict[Var, list[Var]] = defaultdict(list)
    for v in variables:
        members[find(v)].append(v)
    rels: dict[Var, list[_Relation]] = defaultdict(list)
    for rel in relations:
        rels[find(next(iter(rel.coeffs)))].append(rel)
    return [(vs, rels[root]) for root, vs in members.items()]


def _solve_component(
    variables: list[Var], relations: list[_Relation], threshold: int
) -> list[Finding]:
    index = {v: i for i, v in enumerate(variables)}
    n = len(variables)
    eq = [r for r in relations if r.equality]
    ub = [r for r in relations if not r.equality]

    def matrix(rels: list[_Relation]) -> tuple[np.ndarray | None, np.ndarray | None]:
        if not rels:
            return None, None
        a = np.zeros((len(rels), n))
        for row, rel in enumerate(rels):
            for v, coef in rel.coeffs.items():
                a[row, index[v]] = coef
        return a, np.array([-rel.constant for rel in rels])

    a_eq, b_eq = matrix(eq)
    a_ub, b_ub = matrix(ub)

    def solve(i: int | np.ndarray, sign: float) -> OptimizeResult:
        if isinstance(i, np.ndarray):
            c = sign * i
        else:
            c = np.zeros(n)
            c[i] = sign
        res = linprog(
            c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs"
        )
        if res.status not in (0, 2, 3):
            raise RuntimeError(f"disclosure audit: LP failed ({res.message})")
        return res

    # Values seen in feasible points so far: a count seen at values spanning the threshold
    # cannot be narrowed below it, whatever its exact range.
    seen_low = np.full(n, math.inf)
    seen_high = np.full(n, -math.inf)

    points: list[np.ndarray] = []

    def witness(x: np.ndarray) -> None:
        np.minimum(seen_low, x, out=seen_low)
        np.maximum(seen_high, x, out=seen_high)
        points.append(x)

    def wide(low: float, high: float) -> bool:
        return _floor(high) - _ceil(low) >= threshold

    first = solve(0, 1.0)
    if first.status == 2:
        key = variables[0][0]
        cells = sorted({str(v[0]) for v in variables})
        return [
            Finding.inconsistent(
                key,
                threshold,
                f"no values of the {n} hidden counts in {len(cells)} suppressed cells fit the "
                "published figures (infeasible)",
            )
        ]
    witness(first.x)

    findings = []
    for i, (key, count) in enumerate(variables):
        if wide(seen_low[i], seen_high[i]):
            continue
        lo_res = first if i == 0 else solve(i, 1.0)
        witness(lo_res.x)
        low = lo_res.fun
        if wide(low, seen_high[i]):
            continue
        hi_res = solve(i, -1.0)
        if hi_res.status == 3:
            continue  # unbounded above
        witness(hi_res.x)
        high = -hi_res.fun
        low_int, high_int = _ceil(low), _floor(high)
        if high_int - low_int >= threshold:
            continue
        if low_int > high_int:
            findings.append(
                Finding.inconsistent(
                    key,
                    threshold,
                    f"no whole-number {count} fits the published figures "
                    f"(only [{_fmt(low)}, {_fmt(high)}])",
                )
            )
            continue
        labels = _binding(lo_res, eq, ub) + _binding(hi_res, eq, ub)
        because = "; ".join(dict.fromkeys(labels)) or "the published figures"
        if high_int == low_int:
            reason = f"recoverable exactly from: {because}"
        else:
            reason = f"narrowed to [{low_int}, {high_int}] by: {because}"
        findings.append(
            Finding(DISCLOSIVE, key, count, float(low_int), float(high_int), threshold, reason)
        )
    found = {f.key for f in findings}
    findings.extend(_complements(variables, found, solve, witness, points, wide, eq, ub, threshold))
    return findings


def _complements(
    variables, found, solve, witness, points, wide, eq, ub, threshold
) -> list[Finding]:
    """The range of ``denominator - numerator`` of every cell whose two counts are both hidden
    here (where one is known, the other's own range is the complement's, already checked)."""
    findings = []
    cells: dict[CellKey, dict[str, int]] = {}
    for i, (key, count) in enumerate(variables):
        cells.setdefault(key, {})[count] = i
    for key, counts in cells.items():
        if len(counts) < 2 or key in found:  # a cell already found through one of its counts
            continue
        c = np.zeros(len(variables))
        c[counts[DENOMINATOR]], c[counts[NUMERATOR]] = 1.0, -1.0
        seen = [float(c @ x) for x in points]
        if wide(min(seen), max(seen)):
            continue
        lo_res = solve(c, 1.0)
        witness(lo_res.x)
        hi_res = solve(c, -1.0)
        if hi_res.status == 3:
            continue
        witness(hi_res.x)
        low, high = _ceil(lo_res.fun), _floor(-hi_res.fun)
        if high - low >= threshold or low > high:
            continue
        labels = _binding(lo_res, eq, ub) + _binding(hi_res, eq, ub)
        because = "; ".join(dict.fromkeys(labels)) or "the published figures"
        how = "recoverable exactly" if high == low else f"narrowed to [{low}, {high}]"
        findings.append(
            Finding(
                DISCLOSIVE,
                key,
                COMPLEMENT,
                float(low),
                float(high),
                threshold,
                f"{how} by: {because}",
            )
        )
    return findings


def _binding(res: OptimizeResult, eq: list[_Relation], ub: list[_Relation]) -> list[str]:
    """The relations that prove an LP bound: those with a nonzero dual value."""
    labels = []
    if eq:
        for rel, m in zip(eq, res.eqlin.marginals, strict=True):
            if abs(m) > 1e-9:
                labels += [rel.label, *rel.via]
    if ub:
        for rel, m in zip(ub, res.ineqlin.marginals, strict=True):
            if abs(m) > 1e-9:
                labels += [rel.label, *rel.via]
    if np.any(np.abs(res.lower.marginals) > 1e-9):
        labels.append("counts are not negative")
    return labels


def _ceil(x: float) -> int:
    return math.ceil(x - _EPS)


def _floor(x: float) -> float:
    return x if math.isinf(x) else math.floor(x + _EPS)


def _fmt(x: float | None) -> str:
    if x is None:
        return "?"
    if math.isinf(x):
        return "inf"
    return str(int(round(x))) if abs(x - round(x)) < _EPS else f"{x:.2f}"


def _synthetic(
    windows: int, segments: int, fraction: float, paired: bool = False, seed: int = 1
) -> list[PublishedCell]:
    """A consistent table of every metric, with ``fraction`` of its cells hidden at random
    (``paired``: two segments of a group at a time, so that few are recovered outright)."""
    rng = np.random.default_rng(seed)
    metrics = list(METRICS)
    names = [f"segment_{s}" for s in range(segments)]
    out = []
    for w in range(windows):
        window = f"window_{w:02d}"
        values: dict[tuple[str, str], tuple[int, int]] = {}
        for seg in names:
            for metric in metrics:
                rate = SHARE_DENOMINATOR_IS_NUMERATOR_OF.get(metric)
                d = values[(seg, rate)][0] if rate else int(rng.integers(0, 300))
                values[(seg, metric)] = (int(rng.integers(0, d + 1)), d)
        for metric in metrics:
            seg_values = [values[(seg, metric)] for seg in names]
            if metric in NOT_ADDITIVE:
                d = max(v[1] for v in seg_values) + int(rng.integers(0, 50))
                total = (max(v[0] for v in seg_values), d)
            else:
                total = (sum(v[0] for v in seg_values), sum(v[1] for v in seg_values))
            values[(ALL_SEGMENTS, metric)] = total
        hide = set()
        for metric in metrics:
            if paired and rng.random() < fraction * (segments + 1) / 2:
                hide |= {(str(s), metric) for s in rng.choice(names, 2, replace=False)}
        for (seg, metric), (num, den) in values.items():
            key = CellKey(window, seg, metric)
            if (seg, metric) in hide or (not paired and rng.random() < fraction):
                out.append(PublishedCell(key, None, None))
            else:
                out.append(PublishedCell(key, num, den))
    return out


if __name__ == "__main__":
    import time

    # 40 windows: one release's table; 600 windows: the monthly rolling-window trend tables (each
    # window an independent table, so thousands of small independent components).
    for windows in (40, 600):
        for paired in (False, True):
            table = _synthetic(windows=windows, segments=8, fraction=0.10, paired=paired)
            hidden = sum(c.suppressed for c in table)
            start = time.perf_counter()
            result = audit(table)
            elapsed = time.perf_counter() - start
            print(
                f"{windows} windows x 9 segments x 11 metrics = {len(table)} cells, "
                f"{hidden} suppressed ({'in pairs' if paired else 'at random'}): "
                f"{len(result)} findings in {elapsed:.2f} s"
            )
