"""The disclosure audit: what an intruder can work out about every suppressed count.

The intruder knows every figure of the release and everything docs/ says (docs/audiences.md,
"The intruder"): the model of :mod:`fiw.disclosure.model` writes every published count, with the
relations between counts declared beside the metric definitions (:mod:`fiw.disclosure.relations`:
segment totals, shares, one metric's population inside another's, windows that overlap) and those
of the caseload and matched tables (:mod:`fiw.disclosure.release`). Counts are whole numbers >= 0.

Every hidden count is a variable of a linear programme over those relations, the published
figures being constants, and so is every unpublished unknown the relations need (a stretch of
months that two windows share). A hidden count's minimum and maximum over that polytope
(``scipy.optimize.linprog``, HiGHS) is the range the intruder is left with; the audit reports a
:class:`Finding` where that range is narrower than the threshold (a count forced to 0 excepted:
zero is not a small number), and where the published figures admit no consistent values at all (a
bug upstream). The LP bounds are rounded inward to whole numbers (the intruder knows counts are
whole), which can only narrow a range; the relations here have 0/1 coefficients and the ranges
are checked against integer programming in the tests.

The suppression that chooses the cells reads the same declared relations, but the audit does not
trust it: it searches the ranges itself, and an independent intruder written from docs/ alone
(tests/disclosure) attacks the release files again.

Efficiency: hidden counts only interact through the relations that contain them, so the variables
are split into connected components (two unknowns are linked when one relation holds both) and
each component is searched on its own. Inside a component, every LP solution is a feasible point
that bounds all its variables at once: a count whose values seen so far already span the threshold
needs no LP of its own. A release has thousands of small components, and a ``linprog`` call costs
milliseconds whatever its size, so the components are solved together, in rounds: each round
stacks the next LP of every component still searching into one block-diagonal LP (the sum of
their objectives over the product of their feasible sets, which is optimal for each block) and
solves it once. There, every count is bounded by ``_BATCH_BOUND`` so that a block unbounded above
(a hidden ``all``) does not make the whole round unbounded, and a block's maximum that far up
counts as unbounded; a round with no optimum (an inconsistent component) is split until the
culprit is solved alone. The findings are those of solving each component alone, one LP at a time
(``audit(..., batched=False)``).
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from collections.abc import Generator, Hashable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from scipy import sparse
from scipy.optimize import OptimizeResult, linprog

from fiw.disclosure.cells import ALL_SEGMENTS, DEFAULT_THRESHOLD, METRICS, CellKey, PublishedCell
from fiw.disclosure.model import COMPLEMENT, Linear, Model, Var, Window, metric_model
from fiw.disclosure.relations import DENOMINATOR, NUMERATOR, declared

COUNTS = (NUMERATOR, DENOMINATOR)

DISCLOSIVE = "disclosive"
INCONSISTENT = "inconsistent"

_EPS = 1e-6  # LP tolerance on values that are whole numbers
_BATCH_BOUND = 1e9  # upper bound on every count in a batched LP, far above any real count


@dataclass(frozen=True)
class Finding:
    """One problem with a release: a hidden count narrowed below the threshold, or published
    figures that contradict each other. Holds counts only, never anything about a child."""

    kind: str  # DISCLOSIVE | INCONSISTENT
    key: Hashable  # a CellKey, or the row of another table
    count: str | None  # NUMERATOR | DENOMINATOR | COMPLEMENT; None for an inconsistency
    low: float | None  # the range left to the intruder (None for an inconsistency)
    high: float | None
    threshold: int
    reason: str

    @classmethod
    def inconsistent(cls, key: Hashable, threshold: int, reason: str) -> Finding:
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
    anchor: Hashable
    via: list[str] = field(default_factory=list)  # why counts folded into `constant` are known


def audit(
    published: list[PublishedCell],
    threshold: int = DEFAULT_THRESHOLD,
    *,
    batched: bool = True,
    windows: dict[str, Window] | None = None,
    as_of: date | None = None,
    inequalities: bool = True,
) -> list[Finding]:
    """Every hidden count of an outcome-metrics table that the intruder can narrow to a range
    less than ``threshold`` wide, and every contradiction among the published figures:
    contradictions first, then in the order of ``published``. A count may be hidden alone
    (``numerator`` or ``denominator`` None). ``windows`` and ``as_of`` let in the relations that
    hold only in some windows, and those across overlapping windows (:func:`metric_model`);
    ``inequalities=False`` the model without the declared inequalities between metrics.
    ``batched=False`` solves each component's LPs on their own, one by one (same findings,
    slower where there are many components)."""
    model = metric_model(published, windows=windows, as_of=as_of, inequalities=inequalities)
    return audit_model(model, threshold, batched=batched)


def audit_model(model: Model, threshold: int = DEFAULT_THRESHOLD, *, batched: bool = True):
    """The findings of :func:`audit` on any :class:`~fiw.disclosure.model.Model` (a whole
    release). A count the relations force to 0 is not a finding: zero is not a small number."""
    findings: list[Finding] = []
    auxiliary = set(model.auxiliary)
    for (key, count), value in model.values.items():
        if value is not None and value < 0:
            findings.append(
                Finding.inconsistent(
                    key, threshold, f"published {count} is negative ({_fmt(value)})"
                )
            )

    relations = [_fold(rel, model.values, auxiliary) for rel in model.relations]
    fixed = _propagate(relations)
    for (key, count), (value, label) in fixed.items():
        if (key, count) in auxiliary:
            continue
        if value < -_EPS or abs(value - round(value)) > _EPS:
            findings.append(
                Finding.inconsistent(
                    key,
                    threshold,
                    f"hidden {count} would have to be {_fmt(value)}, from: {label}",
                )
            )
        elif round(value) != 0:
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

    unknown = [v for v, value in model.values.items() if value is None and v not in fixed] + [
        v for v in dict.fromkeys(model.auxiliary) if v not in fixed
    ]
    pairs = {
        big: (key, small)
        for key, big, small in model.complements
        if model.values.get(big, 0) is None
        and model.values.get(small, 0) is None
        and big not in fixed
        and small not in fixed
    }
    components = [
        _Component(vs, rels, auxiliary, pairs) for vs, rels in _components(unknown, with_vars)
    ]
    if batched:
        _set_rays(components)
        for found in _solve_components(components, threshold):
            findings.extend(found)
    else:
        for component in components:
            _set_rays([component])
            findings.extend(_solve_component(component, threshold))

    order: dict = {}
    for key, _ in model.values:
        order.setdefault(key, len(order))
    findings.sort(
        key=lambda f: (
            f.kind != INCONSISTENT,
            order.get(f.key, len(order)),
            str(f.count),
        )
    )
    return findings


def _fold(rel: Linear, values: dict[Var, float | None], auxiliary: set[Var]) -> _Relation:
    """``rel`` with the published counts folded into its constant."""
    coeffs: dict[Var, float] = defaultdict(float)
    constant = -rel.rhs
    for coef, var in rel.terms:
        value = None if var in auxiliary else values[var]
        if value is None:
            coeffs[var] += coef
        else:
            constant += coef * value
    return _Relation(
        {v: c for v, c in coeffs.items() if c != 0}, constant, rel.equality, rel.label, rel.anchor
    )


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


class _Component:
    """One connected component of hidden counts: its LP matrices, as dense arrays (a lone solve)
    and as sparse triplets (a block of a batched solve)."""

    def __init__(
        self,
        variables: list[Var],
        relations: list[_Relation],
        auxiliary: set[Var] | frozenset[Var] = frozenset(),
        pairs: dict[Var, tuple] | None = None,
    ) -> None:
        self.variables = variables
        self.n = len(variables)
        self.eq = [r for r in relations if r.equality]
        self.ub = [r for r in relations if not r.equality]
        index = {v: i for i, v in enumerate(variables)}
        # the published counts to bound (not the unpublished unknowns), and the differences of two
        # of them to bound: (key, index of the larger, index of the smaller)
        self.checked = [v not in auxiliary for v in variables]
        # a direction the component is unbounded in (set by _set_rays): a count positive in it
        # has no maximum, so its range is as wide as any threshold
        self.ray = np.zeros(self.n)
        pairs = pairs or {}
        self.pairs = [
            (pairs[v][0], index[v], index[pairs[v][1]])
            for v in variables
            if v in pairs and pairs[v][1] in index
        ]

        def triplets(rels: list[_Relation]) -> tuple[np.ndarray, ...]:
            rows, cols, vals = [], [], []
            for row, rel in enumerate(rels):
                for v, coef in rel.coeffs.items():
                    rows.append(row)
                    cols.append(index[v])
                    vals.append(coef)
            return (
                np.array(rows, dtype=np.int64),
                np.array(cols, dtype=np.int64),
                np.array(vals, dtype=float),
                np.array([-rel.constant for rel in rels], dtype=float),
            )

        self.eq_triplets = triplets(self.eq)
        self.ub_triplets = triplets(self.ub)

    def dense(self, triplets: tuple[np.ndarray, ...]) -> tuple[np.ndarray | None, ...]:
        rows, cols, vals, b = triplets
        if not len(b):
            return None, None
        a = np.zeros((len(b), self.n))
        a[rows, cols] = vals
        return a, b

    def solve(self, objective: np.ndarray, sign: float) -> OptimizeResult:
        """Minimise ``sign * objective`` over this component alone."""
        a_eq, b_eq = self.dense(self.eq_triplets)
        a_ub, b_ub = self.dense(self.ub_triplets)
        res = linprog(
            sign * objective,
            A_ub=a_ub,
            b_ub=b_ub,
            A_eq=a_eq,
            b_eq=b_eq,
            bounds=(0, None),
            method="highs",
        )
        if res.status not in (0, 2, 3):
            raise RuntimeError(f"disclosure audit: LP failed ({res.message})")
        return res


# A request for one LP: minimise ``sign * objective`` over the component. The answer sent back
# is an OptimizeResult with ``status`` (0, 2 infeasible, 3 unbounded), ``x``, ``fun`` and the
# dual marginals ``eqlin``, ``ineqlin`` and ``lower`` of the component's own rows and counts.
_Request = tuple[np.ndarray, float]
_Search = Generator[_Request, OptimizeResult, list[Finding]]


def _search(component: _Component, threshold: int) -> _Search:
    """The findings of one component, asking for each LP it needs by yielding its request (and
    deciding the next from the answer), so that a driver can solve many components' LPs at once."""
    variables, n, eq, ub = component.variables, component.n, component.eq, component.ub

    def unit(i: int) -> np.ndarray:
        c = np.zeros(n)
        c[i] = 1.0
        return c

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

    def infeasible() -> list[Finding]:
        cells = sorted({str(v[0]) for v in variables})
        return [
            Finding.inconsistent(
                variables[0][0],
                threshold,
                f"no values of the {n} hidden counts in {len(cells)} suppressed cells fit the "
                "published figures (infeasible)",
            )
        ]

    first = yield unit(0), 1.0
    if first.status == 2:
        return infeasible()
    witness(first.x)

    findings = []
    for i, (key, count) in enumerate(variables):
        if not component.checked[i] or component.ray[i] > _EPS or wide(seen_low[i], seen_high[i]):
            continue
        lo_res = first if i == 0 else (yield unit(i), 1.0)
        if lo_res.status == 2:  # found infeasible only now (numerically borderline)
            return infeasible()
        witness(lo_res.x)
        low = lo_res.fun
        if wide(low, seen_high[i]):
            continue
        hi_res = yield unit(i), -1.0
        if hi_res.status in (2, 3):
            # unbounded above (HiGHS may say "unbounded or infeasible", status 2, for a
            # maximisation over a polytope the first LP already found feasible)
            continue
        witness(hi_res.x)
        high = -hi_res.fun
        low_int, high_int = _ceil(low), _floor(high)
        if high_int - low_int >= threshold or high_int == low_int == 0:
            continue  # wide enough, or forced to 0 (zero is not a small number)
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
    findings.extend((yield from _complements(component, found, witness, points, wide, threshold)))
    return findings


def _complements(component, found, witness, points, wide, threshold) -> _Search:
    """The range of ``denominator - numerator`` (and any other difference the model names) of
    every cell whose two counts are both hidden here (where one is known, the other's own range is
    the complement's, already checked)."""
    findings = []
    eq, ub = component.eq, component.ub
    for key, big, small in component.pairs:
        if key in found or component.ray[big] - component.ray[small] > _EPS:
            continue  # a cell already found through one of its counts, or unbounded above
        c = np.zeros(component.n)
        c[big], c[small] = 1.0, -1.0
        seen = [float(c @ x) for x in points]
        if wide(min(seen), max(seen)):
            continue
        lo_res = yield c, 1.0
        witness(lo_res.x)
        hi_res = yield c, -1.0
        if hi_res.status in (2, 3):  # unbounded above (see _search)
            continue
        witness(hi_res.x)
        low, high = _ceil(lo_res.fun), _floor(-hi_res.fun)
        if high - low >= threshold or low > high or high == low == 0:
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


def _solve_component(component: _Component, threshold: int) -> list[Finding]:
    """One component on its own: each of its LPs solved as it asks for it."""
    search = _search(component, threshold)
    try:
        request = next(search)
        while True:
            request = search.send(component.solve(*request))
    except StopIteration as done:
        return done.value


def _solve_components(components: list[_Component], threshold: int) -> list[list[Finding]]:
    """Every component at once, in rounds: each round solves the pending LP of every component
    still searching as one block-diagonal LP (:func:`_solve_batch`). The findings of each
    component, in the order given."""
    findings: list[list[Finding]] = [[] for _ in components]
    active: list[tuple[int, _Search, _Request]] = []
    for k, component in enumerate(components):
        search = _search(component, threshold)
        active.append((k, search, next(search)))
    while active:
        answers = _solve_batch([(components[k], request) for k, _, request in active])
        pending = []
        for (k, search, _), answer in zip(active, answers, strict=True):
            try:
                pending.append((k, search, search.send(answer)))
            except StopIteration as done:
                findings[k] = done.value
        active = pending
    return findings


def _stack(
    components: list[_Component], which: str
) -> tuple[sparse.csr_array | None, np.ndarray | None, np.ndarray]:
    """The components' ``which`` rows (``eq_triplets`` or ``ub_triplets``) as one block-diagonal
    matrix, its right-hand side and each block's first row."""
    offsets = np.cumsum([0] + [c.n for c in components])
    rows, cols, vals, bs = [], [], [], []
    row_offsets = [0]
    for component, col0 in zip(components, offsets[:-1], strict=True):
        r, k, v, b = getattr(component, which)
        rows.append(r + row_offsets[-1])
        cols.append(k + col0)
        vals.append(v)
        bs.append(b)
        row_offsets.append(row_offsets[-1] + len(b))
    m = row_offsets[-1]
    if m == 0:
        return None, None, np.array(row_offsets)
    a = sparse.csr_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(m, offsets[-1]),
    )
    return a, np.concatenate(bs), np.array(row_offsets)


def _set_rays(components: list[_Component]) -> None:
    """One LP for all ``components``: a direction of each one's recession cone (the same
    relations with every constant 0, each count in [0, 1]) with as much positive as possible.
    Moving a feasible point along it keeps every relation, so a count positive in it can be made
    as large as one likes: its range is wide whatever its minimum, and needs no LP of its own."""
    if not components:
        return
    n = sum(c.n for c in components)
    a_eq, b_eq, _ = _stack(components, "eq_triplets")
    a_ub, b_ub, _ = _stack(components, "ub_triplets")
    res = linprog(
        -np.ones(n),
        A_ub=a_ub,
        b_ub=None if b_ub is None else np.zeros(len(b_ub)),
        A_eq=a_eq,
        b_eq=None if b_eq is None else np.zeros(len(b_eq)),
        bounds=(0, 1),
        method="highs",
    )
    if res.status != 0:  # 0 is always a direction; anything else: no shortcut
        return
    start = 0
    for component in components:
        component.ray = np.where(res.x[start : start + component.n] > 1e-4, 1.0, 0.0)
        start += component.n


def _solve_batch(blocks: list[tuple[_Component, _Request]]) -> list[OptimizeResult]:
    """One LP per block, solved as one: minimise the sum of the blocks' objectives over the
    product of their feasible sets. The objective being separable, an optimum of the sum is
    optimal for every block, and so is the restriction of an optimal dual to a block's rows and
    counts. Every count is bounded by ``_BATCH_BOUND`` so that one unbounded block does not make
    the whole batch unbounded; a block's maximum beyond half that bound is reported unbounded
    (status 3), as a lone solve would report it. If the batch has no optimum (a block is
    infeasible), it is split in two until the culprit is solved alone, as :func:`_solve_component`
    would."""
    if len(blocks) == 1:
        component, (objective, sign) = blocks[0]
        return [component.solve(objective, sign)]

    offsets = np.cumsum([0] + [component.n for component, _ in blocks])
    c = np.concatenate([sign * objective for _, (objective, sign) in blocks])

    a_eq, b_eq, eq_offsets = _stack([c for c, _ in blocks], "eq_triplets")
    a_ub, b_ub, ub_offsets = _stack([c for c, _ in blocks], "ub_triplets")
    res = linprog(
        c,
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=a_eq,
        b_eq=b_eq,
        bounds=(0, _BATCH_BOUND),
        method="highs",
    )
    if res.status != 0:
        half = len(blocks) // 2
        return _solve_batch(blocks[:half]) + _solve_batch(blocks[half:])

    empty = np.zeros(0)
    answers = []
    for b, (_, (objective, sign)) in enumerate(blocks):
        x = res.x[offsets[b] : offsets[b + 1]]
        fun = float(sign * objective @ x)
        if sign < 0 and -fun >= _BATCH_BOUND / 2:
            answers.append(OptimizeResult(status=3, x=None, fun=-math.inf))
            continue
        eq_marginals = (
            res.eqlin.marginals[eq_offsets[b] : eq_offsets[b + 1]] if a_eq is not None else empty
        )
        ub_marginals = (
            res.ineqlin.marginals[ub_offsets[b] : ub_offsets[b + 1]] if a_ub is not None else empty
        )
        answers.append(
            OptimizeResult(
                status=0,
                x=x,
                fun=fun,
                eqlin=OptimizeResult(marginals=eq_marginals),
                ineqlin=OptimizeResult(marginals=ub_marginals),
                lower=OptimizeResult(marginals=res.lower.marginals[offsets[b] : offsets[b + 1]]),
            )
        )
    return answers


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
    spec = declared()
    # a share's denominator is its rate's numerator (the declared `equal` relations)
    share_of = {
        rel.left[0][0]: rel.right[0][0]
        for rel in spec.relations
        if rel.kind == "equal" and rel.when is None and rel.left[0][1] == DENOMINATOR
    }
    bounds = [r for r in spec.relations if r.kind == "at_most" and r.when is None]
    # counts on the right of an `at_most` first, so that the left can be drawn below them
    order: list[str] = []
    while len(order) < len(metrics):
        for m in metrics:
            above = {r for rel in bounds if m in {c for c, _ in rel.left} for r, _ in rel.right}
            if m not in order and above - {m} <= set(order):
                order.append(m)
    names = [f"segment_{s}" for s in range(segments)]
    out = []
    for w in range(windows):
        window = f"window_{w:02d}"
        values: dict[tuple[str, str], tuple[int, int]] = {}
        for seg in names:
            drawn: dict[tuple[str, str], int] = {}
            for metric in order:
                for count in (DENOMINATOR, NUMERATOR):
                    if count == DENOMINATOR and metric in share_of:
                        drawn[(metric, count)] = drawn[(share_of[metric], NUMERATOR)]
                        continue
                    high = 300 if count == DENOMINATOR else drawn[(metric, DENOMINATOR)]
                    for rel in bounds:
                        if (metric, count) in rel.left and all(c in drawn for c in rel.right):
                            others = [c for c in rel.left if c != (metric, count) and c in drawn]
                            room = sum(drawn[c] for c in rel.right) - sum(drawn[c] for c in others)
                            high = min(high, room)
                    drawn[(metric, count)] = int(rng.integers(0, high + 1))
            for metric in metrics:
                values[(seg, metric)] = (drawn[(metric, NUMERATOR)], drawn[(metric, DENOMINATOR)])
        for metric in metrics:
            seg_values = [values[(seg, metric)] for seg in names]
            if metric in spec.not_additive:
                # `all` is at least each segment and at most their sum
                ns, ds = [v[0] for v in seg_values], [v[1] for v in seg_values]
                d = int(rng.integers(max(ds), sum(ds) + 1))
                total = (int(rng.integers(max(ns), min(sum(ns), d) + 1)), d)
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
