"""No relation left out (docs/audiences.md, "The intruder"): relations between published counts
found in data, each of which the declared model must imply.

On the unsuppressed marts of the session's generated authorities (tests/fixtures/authorities.py:
1,000 to 12,000 children, four seeds, three extract dates), this finds every relation that always
holds between the counts of the release's metric tables (the programme windows by segment, the
financial years in segment all):

- in one window and segment: ``x = y``, ``x <= y``, ``x = y + z`` and ``x >= y + z`` between its
  22 counts (numerator and denominator of 11 metrics), inequalities only where they are tight
  (equality at a count of 10 or more) more than once, so that two counts merely far apart, or
  small ones meeting by chance, are not taken for a relation; windows are grouped by which of
  the declared conditions hold in them (the follow-up of re_referral_after_closure_rate);
- across windows (segment all): ``x(A) = y(B)`` between any two release windows, grouped by how
  the windows lie (one inside the other, overlapping, apart).

Each is checked against the model the suppression and the audit use
(:func:`fiw.disclosure.model.metric_model` with the relations of outcome_metrics.yml): maximising
``left - right`` over it, with every count unknown, must give 0 (and minimising too for an
equality). A relation found and not implied fails the test, named: declare it in
outcome_metrics.yml (or show it is a coincidence of the generated data by changing the data)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

import duckdb
import numpy as np
import pytest
from fiw.disclosure import audit as audit_module
from fiw.disclosure.cells import ALL_SEGMENTS, METRICS, CellKey, PublishedCell
from fiw.disclosure.model import Window, metric_model
from fiw.disclosure.relations import CONDITIONS, DENOMINATOR, NUMERATOR, condition_holds
from scipy.optimize import linprog

pytestmark = pytest.mark.slow

COUNTS = [(m, c) for m in METRICS for c in (NUMERATOR, DENOMINATOR)]
MIN_NONZERO = 3  # observations with nonzero counts before an equality counts as found
MIN_TIGHT = 2  # observations where an inequality is tight before it counts,
MIN_TIGHT_VALUE = 10  # at a value this large: small counts of unrelated metrics meet by chance


def _observations(homes: dict[str, Path]):
    """(as_of, window name, window, segment) -> {count: value}, from every authority's marts."""
    out = {}
    for name, home in homes.items():
        con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
        try:
            for table in ("outcome_metrics", "outcome_years"):
                rows = con.execute(
                    "select as_of_date, window_name, window_start, window_end, segment, metric,"
                    f" numerator, denominator from marts.{table}"
                ).fetchall()
                for as_of, w, start, end, segment, metric, n, d in rows:
                    key = (name, as_of, w, Window(start, end), segment)
                    out.setdefault(key, {})[(metric, NUMERATOR)] = n
                    out[key][(metric, DENOMINATOR)] = d
        finally:
            con.close()
    return out


def _conditions(window: Window, as_of) -> tuple:
    return tuple(condition_holds(c, window.start, window.end, as_of) for c in CONDITIONS)


def _found_within(vectors: np.ndarray) -> list[tuple[str, tuple, tuple]]:
    """Relations that hold in every row of ``vectors`` (observations x COUNTS)."""
    found = []
    n = len(COUNTS)
    nonzero = vectors > 0
    large = vectors >= MIN_TIGHT_VALUE
    for i, j in itertools.permutations(range(n), 2):
        x, y = vectors[:, i], vectors[:, j]
        if i < j and np.array_equal(x, y) and nonzero[:, i].sum() >= MIN_NONZERO:
            found.append(("equal", (COUNTS[i],), (COUNTS[j],)))
        elif (
            (x <= y).all()
            and ((x == y) & large[:, i]).sum() >= MIN_TIGHT
            and not np.array_equal(x, y)
        ):
            found.append(("at_most", (COUNTS[i],), (COUNTS[j],)))
    for i in range(n):
        for j, k in itertools.combinations([m for m in range(n) if m != i], 2):
            x, s = vectors[:, i], vectors[:, j] + vectors[:, k]
            both = nonzero[:, j] & nonzero[:, k]
            if np.array_equal(x, s) and both.sum() >= MIN_NONZERO:
                found.append(("equal", (COUNTS[i],), (COUNTS[j], COUNTS[k])))
            elif (x >= s).all() and ((x == s) & both & large[:, i]).sum() >= MIN_TIGHT:
                found.append(("at_most", (COUNTS[j], COUNTS[k]), (COUNTS[i],)))
    return found


def _implied(cells, windows, as_of, left, right, kind) -> bool:
    """Whether the declared model of ``cells`` (every count unknown) implies ``sum(left) <=
    sum(right)`` (and ``>=`` for an equality). ``left``/``right``: (cell key, count) lists."""
    model = metric_model(cells, windows=windows, as_of=as_of)
    variables = list(model.values)
    index = {v: i for i, v in enumerate(variables)}
    rels = [audit_module._fold(r, model.values, set()) for r in model.relations]
    assert not any(set(r.coeffs) - set(index) for r in rels), "relations over unknown counts"

    def matrix(selected):
        a = np.zeros((len(selected), len(variables)))
        for row, rel in enumerate(selected):
            for v, coef in rel.coeffs.items():
                a[row, index[v]] = coef
        return a, np.array([-r.constant for r in selected])

    eq = [r for r in rels if r.equality]
    ub = [r for r in rels if not r.equality]
    a_eq, b_eq = matrix(eq) if eq else (None, None)
    a_ub, b_ub = matrix(ub) if ub else (None, None)
    objective = np.zeros(len(variables))
    for v in left:
        objective[index[v]] += 1.0
    for v in right:
        objective[index[v]] -= 1.0
    for sign in (-1.0, 1.0) if kind == "equal" else (-1.0,):
        # sign -1: maximise left - right, which must be at most 0; +1: minimise, at least 0
        res = linprog(
            sign * objective, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=(0, 1000)
        )
        assert res.status == 0, res.message
        if res.fun < -1e-6:  # left - right can be above 0 (sign -1) or below it (sign +1)
            return False
    return True


def _window_cells(window: str, segment: str = "w") -> list[PublishedCell]:
    return [PublishedCell(CellKey(window, segment, m), None, None) for m in METRICS]


@pytest.fixture(scope="module")
def observed(released_homes, nightly_home):
    return _observations({**released_homes, "e2e": nightly_home})


def test_every_relation_within_a_window_is_declared(observed) -> None:
    by_class: dict[tuple, list] = defaultdict(list)
    examples: dict[tuple, tuple] = {}
    for (_, as_of, _, window, _), counts in observed.items():
        cls = _conditions(window, as_of)
        by_class[cls].append([counts[c] for c in COUNTS])
        examples[cls] = (window, as_of)
    assert len(observed) > 100 and len(by_class) >= 2  # windows of several kinds were seen
    missing = []
    checked = 0
    for cls, rows in by_class.items():
        window, as_of = examples[cls]
        cells = _window_cells("W")
        windows = {"W": window}
        found = _found_within(np.array(rows))
        if cls == (True, False):  # every closure followed up: the intruder's relation is there
            assert (
                "equal",
                (("closure_rate", NUMERATOR),),
                (("re_referral_after_closure_rate", DENOMINATOR),),
            ) in found
        for kind, left, right in found:
            checked += 1
            key = lambda mc: (CellKey("W", "w", mc[0]), mc[1])  # noqa: E731
            if not _implied(
                cells, windows, as_of, [key(c) for c in left], [key(c) for c in right], kind
            ):
                missing.append(f"{kind} {left} {right} (windows like {window}, as of {as_of})")
    assert checked >= 15  # numerators within denominators, the shares, ... were found
    assert not missing, "relations found in the data but not declared:\n" + "\n".join(missing)


def test_every_equality_across_windows_is_declared(observed) -> None:
    by_authority: dict[str, dict[str, tuple]] = defaultdict(dict)
    for (name, as_of, w, window, segment), counts in observed.items():
        if segment == ALL_SEGMENTS:
            by_authority[name][w] = (window, as_of, counts)

    def how(a: Window, b: Window) -> str:
        if a.start >= b.start and a.end <= b.end:
            return "inside"
        if a.start <= b.end and b.start <= a.end:
            return "overlapping"
        return "apart"

    pairs: dict[str, list] = defaultdict(list)
    for windows in by_authority.values():
        for a, b in itertools.permutations(windows, 2):
            (wa, as_of, ca), (wb, _, cb) = windows[a], windows[b]
            pairs[how(wa, wb)].append((a, wa, b, wb, as_of, ca, cb))
    assert {"inside", "overlapping", "apart"} <= set(pairs)
    missing = []
    for relation, rows in pairs.items():
        for x, y in itertools.product(COUNTS, repeat=2):
            xs = np.array([r[5][x] for r in rows])
            ys = np.array([r[6][y] for r in rows])
            if not np.array_equal(xs, ys) or (xs > 0).sum() < MIN_NONZERO:
                continue
            for a, wa, b, wb, as_of, _, _ in rows:
                cells = [
                    PublishedCell(CellKey(w, ALL_SEGMENTS, m), None, None)
                    for w in (a, b)
                    for m in METRICS
                ]
                left = [(CellKey(a, ALL_SEGMENTS, x[0]), x[1])]
                right = [(CellKey(b, ALL_SEGMENTS, y[0]), y[1])]
                if not _implied(cells, {a: wa, b: wb}, as_of, left, right, "equal"):
                    missing.append(f"{x} of {a} = {y} of {b} ({relation})")
                    break
    assert not missing, "equalities across windows not declared:\n" + "\n".join(missing)


def test_the_discovery_finds_the_relation_the_intruder_used() -> None:
    # re_referral_after_closure_rate's denominator equals closure_rate's numerator once every
    # closure of the window has had 12 months: found in data of that shape, and implied by the
    # model in such a window only (elsewhere only <= holds).
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(20):
        v = {c: int(rng.integers(50, 100)) for c in COUNTS}
        v[("re_referral_after_closure_rate", DENOMINATOR)] = v[("closure_rate", NUMERATOR)]
        rows.append([v[c] for c in COUNTS])
    found = _found_within(np.array(rows))
    relation = (
        "equal",
        (("closure_rate", NUMERATOR),),
        (("re_referral_after_closure_rate", DENOMINATOR),),
    )
    assert relation in found
    from datetime import date

    window = Window(date(2014, 1, 1), date(2015, 5, 31))
    cells = _window_cells("W")
    left = [(CellKey("W", "w", "closure_rate"), NUMERATOR)]
    right = [(CellKey("W", "w", "re_referral_after_closure_rate"), DENOMINATOR)]
    assert _implied(cells, {"W": window}, date(2017, 11, 30), left, right, "equal")
    # a window whose closures have not all had their 12 months: only <= holds, and is declared
    assert not _implied(cells, {"W": window}, date(2016, 1, 31), left, right, "equal")
    assert _implied(cells, {"W": window}, date(2016, 1, 31), right, left, "at_most")
