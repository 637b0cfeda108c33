"""An intruder against fiw's open-data release, written from docs/ alone.

Every published count of the release (outcome metrics by programme window, financial years, and
the monthly rolling windows of an old release that has them; metric differences; caseloads;
matched outcomes and balance) is modelled as a linear function of non-negative integer unknowns,
with the relations that docs/ justifies (MODEL.md lists each with its sentence). For every count
the release hides, the intruder computes the integer range consistent with everything published
(LP with HiGHS, then MILP where the LP range is narrow). A count is *narrowed* when
`high - low < threshold`; a range of exactly {0} is a *revealed zero*, reported apart.

Standard library, numpy and scipy only; no fiw import.

    python intruder.py RELEASE_DIR [--threshold 5] [--show 40] [--no-routes]
                       [--detail-seconds 20]
"""

from __future__ import annotations

import argparse
import calendar
import csv
import itertools
import math
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import csr_matrix

INF = math.inf
CAP = 1e7  # every count is below this; a maximum at or above CAP / 10 means unbounded
DAY = timedelta(days=1)

# --------------------------------------------------------------------------------------------
# metrics.md: the eleven metrics
# --------------------------------------------------------------------------------------------

METRICS = [
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
]
# a share's denominator is its rate's numerator (metrics.md table; audiences.md "The intruder")
SHARE_OF = {
    "de_escalation_cp_to_cin_share": "de_escalation_rate",
    "de_escalation_lac_to_cin_share": "de_escalation_rate",
    "closure_nfa_share": "closure_rate",
    "closed_last_on_cin_plan_share": "closure_rate",
}
NOT_ADDITIVE = {"returned_home_rate"}  # "a child can count in several segments"
# counts of things DATED in a window, by a property of the thing alone: in segment `all` they are
# sums of the counts of the elementary intervals ("atoms") between window boundaries.
# metric -> (numerator atom, denominator atom); closure_rate's denominator is a stock (below).
DATED = {
    "closure_rate": ("C", None),
    "closure_nfa_share": ("NFA", "C"),
    "closed_last_on_cin_plan_share": ("CIN", "C"),
    "re_referral_after_closure_rate": ("RACN", "RACD"),
    "re_referral_rate": ("RR", "R"),
    "repeat_cp_plan_rate": ("RS", "S"),
    "cp_plan_2yr_plus_rate": ("E2", "E"),
}
ATOM_NAMES = ("C", "NFA", "CIN", "RACD", "RACN", "R", "RR", "S", "RS", "E", "E2", "N", "N1", "N0")
# counts of DISTINCT units (cases or children) active in W / with something ended in W: at least
# those of a window inside, at most the sum of windows covering (segment `all`)
DISTINCT = ("de_escalation_rate", "returned_home_rate")

LEVELS = {
    1: "within a window",
    2: "across metrics",
    3: "across overlapping windows",
    4: "matched tables",
    5: "caseload",
}
FAMILY_LEVEL = {
    "n_le_d": 1,
    "nonneg": 1,
    "segment_sum": 1,
    "returned_home_segments": 1,
    "share_denominator": 1,
    "rac_denominator": 2,
    "deesc_cases_active": 2,
    "deesc_cp_plan_ended": 2,
    "deesc_first_type": 2,
    "published_rate": 2,
    "differences_rate": 2,
    "event_atoms": 3,
    "stock_flow": 3,
    "cases_le_referrals": 3,
    "same_end_monotone": 3,
    "same_end_open_cases": 3,
    "nested_monotone_all": 3,
    "cover_subadditive": 3,
    "cover_subadditive_docs": 3,
    "matched_sample": 4,
    "matched_dropped": 4,
    "matched_population": 4,
    "balance_rounding": 4,
    "balance_categories": 4,
    "balance_support": 4,
    "balance_dropped": 4,
    "matched_link_cases": 4,
    "matched_link_closures": 4,
    "matched_link_prev12": 4,
}
# when a component is infeasible, families are dropped least-justified first
DROP_ORDER = [
    "cover_subadditive_docs",
    "balance_support",
    "matched_link_closures",
    "matched_link_prev12",
    "matched_link_cases",
    "cover_subadditive",
    "nested_monotone_all",
    "same_end_open_cases",
    "same_end_monotone",
    "cases_le_referrals",
    "stock_flow",
    "event_atoms",
    "deesc_cp_plan_ended",
    "balance_categories",
    "balance_rounding",
    "matched_population",
    "matched_dropped",
    "matched_sample",
    "differences_rate",
    "published_rate",
    "deesc_first_type",
    "deesc_cases_active",
    "rac_denominator",
    "returned_home_segments",
    "share_denominator",
    "segment_sum",
    "n_le_d",
    "nonneg",
]

# the outcome files: name, the columns naming a row
OUTCOME_FILES = (
    ("outcome_metrics.csv", ("window_name", "window_start", "window_end", "segment", "metric")),
    ("outcome_years.csv", ("window_start", "window_end", "segment", "metric")),
    ("outcome_trends.csv", ("window_name", "window_start", "window_end", "segment", "metric")),
)


def kind_of(family: str) -> str:
    return family.split(":", 1)[0]


# --------------------------------------------------------------------------------------------
# dates
# --------------------------------------------------------------------------------------------


def d_(s: str) -> date:
    return date.fromisoformat(s.strip())


def add_months(x: date, k: int) -> date:
    """Calendar months, clamped at the month's end (metric-interpretations.md)."""
    m = x.month - 1 + k
    y, m = x.year + m // 12, m % 12 + 1
    return date(y, m, min(x.day, calendar.monthrange(y, m)[1]))


# --------------------------------------------------------------------------------------------
# linear expressions
# --------------------------------------------------------------------------------------------


class Lin:
    __slots__ = ("c", "k")

    def __init__(self, coeffs=None, const=0.0):
        self.c = dict(coeffs or {})
        self.k = float(const)

    @staticmethod
    def const(v) -> Lin:
        return Lin({}, v)

    @staticmethod
    def var(i: int) -> Lin:
        return Lin({i: 1.0}, 0.0)

    def __add__(self, o):
        if not isinstance(o, Lin):
            o = Lin.const(o)
        c = dict(self.c)
        for i, v in o.c.items():
            c[i] = c.get(i, 0.0) + v
        return Lin({i: v for i, v in c.items() if v != 0.0}, self.k + o.k)

    __radd__ = __add__

    def __neg__(self):
        return Lin({i: -v for i, v in self.c.items()}, -self.k)

    def __sub__(self, o):
        if not isinstance(o, Lin):
            o = Lin.const(o)
        return self + (-o)

    def __rsub__(self, o):
        return (-self) + o

    def __mul__(self, a: float):
        return Lin({i: v * a for i, v in self.c.items() if v * a != 0.0}, self.k * a)

    __rmul__ = __mul__

    @property
    def is_const(self) -> bool:
        return not self.c

    def value(self, x) -> float:
        return self.k + sum(v * x[i] for i, v in self.c.items())

    def key(self):
        return (tuple(sorted(self.c.items())), self.k)


def lsum(items) -> Lin:
    out = Lin()
    for it in items:
        out = out + it
    return out


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------


@dataclass
class Leak:
    file: str
    row: dict
    count: str
    low: int
    high: float  # int, or inf when unbounded
    route: str
    level: int = 0
    width_lp: float = INF
    kinds: tuple = ()

    @property
    def exact(self) -> bool:
        return self.low == self.high

    @property
    def zero(self) -> bool:
        return self.low == 0 and self.high == 0

    def label(self) -> str:
        ident = ", ".join(f"{k}={v}" for k, v in self.row.items())
        rng = f"{self.low}" if self.exact else f"[{self.low}, {self.high}]"
        return f"{self.file} [{ident}] {self.count} = {rng}  <- {self.route}"


@dataclass(eq=False)
class Target:
    file: str
    row: dict
    count: str
    expr: Lin
    low: float = 0.0
    high: float = INF
    lp_low: float = -INF
    lp_high: float = INF
    solved: str = ""  # "lp", "milp", "fixed"
    route: str = ""
    level: int = 0


@dataclass
class Analysis:
    targets: list
    leaks: list  # narrowed (high - low < threshold), revealed zeros excluded
    zeros: list  # revealed zeros
    threshold: int
    contradictions: list  # (family, message): relations that the published figures break
    dropped: list  # (family, reason): relations dropped because they made a component infeasible
    notes: list
    seconds: dict = field(default_factory=dict)
    n_vars: int = 0
    n_cons: int = 0
    n_components: int = 0
    n_solves: int = 0


# --------------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------------


class Model:
    def __init__(self, threshold: int):
        self.threshold = threshold
        self.names: list[str] = []
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.cons: list[tuple[Lin, str, str]] = []  # (expr, sense, family): expr sense 0
        self.targets: list[Target] = []
        self.contradictions: list[tuple[str, str]] = []
        self.notes: list[str] = []
        self.checks: list[Target] = []  # counts that published rows imply (not hidden)

    def var(self, name: str, lb: float = 0.0, ub: float = CAP) -> Lin:
        self.names.append(name)
        self.lb.append(lb)
        self.ub.append(ub)
        return Lin.var(len(self.names) - 1)

    def add(self, expr: Lin, sense: str, family: str, what: str = "") -> None:
        """expr (sense) 0, sense in '<=', '>=', '=='."""
        if sense == ">=":
            expr, sense = -expr, "<="
        if expr.is_const:
            ok = (abs(expr.k) <= 1e-6) if sense == "==" else (expr.k <= 1e-6)
            if not ok:
                self.contradictions.append((family, f"{what or family}: {expr.k:+g} {sense} 0"))
            return
        self.cons.append((expr, sense, family))

    def le(self, a, b, family, what=""):
        self.add(_lin(a) - _lin(b), "<=", family, what)

    def eq(self, a, b, family, what=""):
        self.add(_lin(a) - _lin(b), "==", family, what)

    def check(self, file, row, count, expr: Lin):
        """A count that a published row implies: it must not be small (primary suppression)."""
        if expr.is_const:
            if 1 <= expr.k <= self.threshold:
                self.notes.append(
                    f"a published row implies a small count: {file} {row} {count} = {expr.k:g}"
                )
            return
        self.checks.append(Target(file, row, count, expr))

    def target(self, file, row, count, expr: Lin):
        if expr.is_const:
            if 1 <= expr.k <= self.threshold:
                self.notes.append(
                    f"a small count follows from published figures alone: "
                    f"{file} {row} {count} = {expr.k:g}"
                )
            return
        self.targets.append(Target(file, row, count, expr))
        if len(expr.c) > 1:
            self.add(-expr, "<=", "nonneg", f"{file} {row} {count} >= 0")  # counts are not negative


def _lin(x) -> Lin:
    return x if isinstance(x, Lin) else Lin.const(x)


def _num(s: str):
    s = (s or "").strip()
    if s in ("c", "z", "x", "", "low"):
        return s
    try:
        return float(s)
    except ValueError:
        return s


def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------------------------
# building: outcome metrics and trends
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# building: the outcome files (programme windows, financial years, rolling windows if any)
# --------------------------------------------------------------------------------------------


class Cell:
    __slots__ = ("n", "d", "published", "rows")

    def __init__(self, n: Lin, d: Lin, published: bool):
        self.n, self.d, self.published, self.rows = n, d, published, []


def last_eligible(as_of: date, months: int) -> date:
    """The latest date x with x + `months` calendar months <= as_of (a prefix of dates, since
    adding months is monotone)."""
    x = add_months(as_of, -months)
    while add_months(x + DAY, months) <= as_of:
        x += DAY
    while add_months(x, months) > as_of:
        x -= DAY
    return x


def overlaps(a, b) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def inside(a, b) -> bool:
    """window a inside window b"""
    return b[0] <= a[0] and a[1] <= b[1]


def covers(parts, w) -> bool:
    """the union of the windows `parts` holds every day of w"""
    day = w[0]
    for p in sorted(parts):
        if p[0] > day:
            return False
        if p[1] >= day:
            day = p[1] + DAY
        if day > w[1]:
            return True
    return day > w[1]


def minimal_covers(w, others, max_size=4, limit=12):
    """Sets of windows (none holding w whole) whose union holds w, minimal, fewest days first."""
    cand = [o for o in others if o != w and overlaps(o, w) and not inside(w, o)]
    if len(cand) > 30:  # many rolling windows: the nearest ones only
        cand.sort(key=lambda o: abs((o[0] - w[0]).days) + abs((o[1] - w[1]).days))
        cand = cand[:30]
    if len(cand) > 12:
        max_size = 2
    found = []
    for k in range(1, max_size + 1):
        for combo in itertools.combinations(cand, k):
            if any(set(f) <= set(combo) for f in found):
                continue
            if covers(combo, w):
                found.append(combo)
        if len(found) >= limit * 4:
            break
    found.sort(key=lambda c: sum((o[1] - o[0]).days for o in c))
    return found[:limit]


def build(release: Path, threshold: int) -> Model:
    m = Model(threshold)
    files = {name: _read(release / name) for name, _ in OUTCOME_FILES}
    as_of = None
    for name, _ in OUTCOME_FILES:
        for r in files[name]:
            as_of = d_(r["as_of_date"])
            break
        if as_of:
            break
    m.files = {name: len(rows) for name, rows in files.items() if rows}

    # ---- cells: one per (window start, window end, segment, metric). The same window in two
    # files ("a rolling window put in programme_windows gives the same row") is one cell.
    cells: dict[tuple, Cell] = {}
    segments: set[str] = set()
    rate_obs = []  # (cell key, value or 'z' or ('diff', v), family, what)
    seen_targets: set = set()

    for name, ident_cols in OUTCOME_FILES:
        for r in files[name]:
            ws, we = d_(r["window_start"]), d_(r["window_end"])
            seg, met = r["segment"], r["metric"]
            if met not in METRICS:
                m.notes.append(f"unknown metric {met!r} in {name}: only n <= d used")
            segments.add(seg)
            key = (ws, we, seg, met)
            nv, dv = _num(r["numerator"]), _num(r["denominator"])
            ident = {k: r[k] for k in ident_cols if k in r}
            if key not in cells:
                tag = f"{met}|{seg}|{ws}..{we}"
                n = Lin.const(nv) if isinstance(nv, float) else m.var(f"n|{tag}")
                d = Lin.const(dv) if isinstance(dv, float) else m.var(f"d|{tag}")
                cells[key] = Cell(n, d, isinstance(nv, float) and isinstance(dv, float))
            cell = cells[key]
            cell.rows.append((name, ident))
            # a figure published in one file and hidden in another is published
            if isinstance(nv, float) and not cell.n.is_const:
                m.eq(cell.n, nv, "n_le_d", f"{name} {key} numerator")
            if isinstance(dv, float) and not cell.d.is_const:
                m.eq(cell.d, dv, "n_le_d", f"{name} {key} denominator")
            rate = _num(r.get("rate", ""))
            if rate == "z" or isinstance(rate, float):
                rate_obs.append((key, rate, "published_rate", f"{name} rate of {key}"))
            if isinstance(nv, float) and isinstance(dv, float):
                for label, val in (
                    ("numerator", nv),
                    ("denominator", dv),
                    ("denominator - numerator", dv - nv),
                ):
                    if 1 <= val <= threshold:
                        m.notes.append(
                            f"a published row holds a small count: {name} {ident} {label} = {val:g}"
                        )
            if not isinstance(nv, float) or not isinstance(dv, float):
                if (name, key) not in seen_targets:
                    seen_targets.add((name, key))
                    m.target(name, ident, "numerator", cell.n)
                    m.target(name, ident, "denominator", cell.d)
                    m.target(name, ident, "denominator - numerator", cell.d - cell.n)
    if not cells:
        build_matched(m, release, as_of, {}, None)
        build_caseload(m, release)
        return m

    segs = sorted(s for s in segments if s != "all")
    wins = sorted({(k[0], k[1]) for k in cells})
    wins_all = sorted({(k[0], k[1]) for k in cells if k[2] == "all"})
    prog_names = {}
    for r in files["outcome_metrics.csv"]:
        prog_names[r["window_name"]] = (d_(r["window_start"]), d_(r["window_end"]))

    def cell(w, s, met):
        return cells.get((w[0], w[1], s, met))

    # ---- within a window ---------------------------------------------------------------------
    for key, c in cells.items():
        m.le(c.n, c.d, "n_le_d", f"numerator <= denominator {key}")
    for w in wins:
        for met in METRICS:
            a = cell(w, "all", met)
            parts = [cell(w, s, met) for s in segs]
            if a is None or any(p is None for p in parts) or not parts:
                continue
            if met in NOT_ADDITIVE:
                # a child counts in each segment of its periods of care, once in `all`
                fam = "returned_home_segments"
                for p in parts:
                    m.le(p.n, a.n, fam, f"segment n <= all n {w}")
                    m.le(p.d, a.d, fam, f"segment d <= all d {w}")
                m.le(a.n, lsum(p.n for p in parts), fam, f"all n <= sum segment n {w}")
                m.le(a.d, lsum(p.d for p in parts), fam, f"all d <= sum segment d {w}")
                m.le(
                    a.d - a.n,
                    lsum(p.d - p.n for p in parts),
                    fam,
                    f"all (d-n) <= sum segment (d-n) {w}",
                )
            else:
                fam = f"segment_sum:{met}"
                m.eq(lsum(p.n for p in parts), a.n, fam, f"segments add up (n) {met} {w}")
                m.eq(lsum(p.d for p in parts), a.d, fam, f"segments add up (d) {met} {w}")
        for s in segs + ["all"]:
            for share, rate in SHARE_OF.items():
                cs, cr = cell(w, s, share), cell(w, s, rate)
                if cs is not None and cr is not None:
                    m.eq(
                        cs.d,
                        cr.n,
                        f"share_denominator:{share}",
                        f"{share} denominator = {rate} numerator {s} {w}",
                    )

    # ---- across metrics, in one window and segment (metrics.md definitions) -------------------
    rac_cut = last_eligible(as_of, 12)  # closures up to this date have had their 12 months
    for w in wins:
        for s in segs + ["all"]:
            clo, rac = cell(w, s, "closure_rate"), cell(w, s, "re_referral_after_closure_rate")
            if clo is not None and rac is not None:
                if w[1] <= rac_cut:
                    m.eq(rac.d, clo.n, "rac_denominator", f"rac d = closures {s} {w}")
                elif w[0] > rac_cut:
                    m.eq(rac.d, 0, "rac_denominator", f"rac d = 0 {s} {w}")
                else:
                    m.le(rac.d, clo.n, "rac_denominator", f"rac d <= closures {s} {w}")
            de = cell(w, s, "de_escalation_rate")
            if de is not None and clo is not None:
                m.le(de.d, clo.d, "deesc_cases_active", f"de-escalation d <= active cases {s} {w}")
            a, b = (
                cell(w, s, "de_escalation_cp_to_cin_share"),
                cell(w, s, "de_escalation_lac_to_cin_share"),
            )
            if a is not None and b is not None and de is not None:
                m.le(
                    a.n + b.n, de.n, "deesc_first_type", f"first de-escalation of one type {s} {w}"
                )
            cpe = cell(w, s, "cp_plan_2yr_plus_rate")
            if a is not None and cpe is not None:
                # a case whose first de-escalation was CP to CIN has its own CP plan that ended in
                # W (of the case's segment): one such plan per case, and plans of one case only
                m.le(
                    a.n, cpe.d, "deesc_cp_plan_ended", f"CP to CIN cases <= CP plans ending {s} {w}"
                )

    # ---- rates published beside hidden counts (outcome files, metric_differences) -------------
    diffs = _read(release / "metric_differences.csv")
    if diffs:
        prev_col = "previous_rate"
        prog_cols = [k for k in diffs[0] if k.endswith("_rate") and k != prev_col]
        prog_name = prog_cols[0][: -len("_rate")] if len(prog_cols) == 1 else None
        others = [n for n in prog_names if n != prog_name]
        prev_name = others[0] if len(others) == 1 else None
        if prog_name in prog_names and prev_name:
            wp, wq = prog_names[prev_name], prog_names[prog_name]
            for r in diffs:
                seg, met = r["segment"], r["metric"]
                vp, vq, dif = (
                    _num(r[prev_col]),
                    _num(r[prog_cols[0]]),
                    _num(r.get("difference", "")),
                )
                if vp == "z" or isinstance(vp, float):
                    rate_obs.append(
                        (
                            (wp[0], wp[1], seg, met),
                            vp,
                            "differences_rate",
                            f"differences {seg} {met} previous",
                        )
                    )
                if vq == "z" or isinstance(vq, float):
                    rate_obs.append(
                        (
                            (wq[0], wq[1], seg, met),
                            vq,
                            "differences_rate",
                            f"differences {seg} {met} programme",
                        )
                    )
                if isinstance(dif, float):
                    if isinstance(vp, float) and not isinstance(vq, float):
                        rate_obs.append(
                            (
                                (wq[0], wq[1], seg, met),
                                ("diff", vp + dif),
                                "differences_rate",
                                "difference",
                            )
                        )
                    if isinstance(vq, float) and not isinstance(vp, float):
                        rate_obs.append(
                            (
                                (wp[0], wp[1], seg, met),
                                ("diff", vq - dif),
                                "differences_rate",
                                "difference",
                            )
                        )
        else:
            m.notes.append("metric_differences.csv: windows not identified, not used")
    for key, v, fam, what in rate_obs:
        c = cells.get(key)
        if c is None:
            continue
        if v == "z":
            m.eq(c.d, 0, fam, what + " (z)")
            continue
        tol = 0.00005
        if isinstance(v, tuple):
            v, tol = v[1], 0.0001
        lo, hi = max(0.0, v - tol - 1e-9), min(1.0, v + tol + 1e-9)
        m.le(c.d * lo, c.n, fam, what)
        m.le(c.n, c.d * hi, fam, what)
        m.le(1 - c.d, 0, fam, what + " (d >= 1)")
        if not c.published:
            m.notes.append(f"a rate is published beside hidden counts: {what}")

    # ---- across windows, segment `all`: atoms ------------------------------------------------
    # the elementary intervals between all window boundaries, the day after the last closure that
    # has had its 12 months, and the matched tables' referral and follow-up limits
    mo = _read(release / "matched_outcomes.csv")
    mb = _read(release / "matched_balance.csv")
    fu = int(mo[0]["follow_up_months"]) if mo else 12
    follow_cut = last_eligible(as_of, fu)  # referrals up to this date have had their follow-up
    r0 = (mo or mb or [None])[0]
    sides = {}
    if r0 is not None:
        for side, col in (("treated", "treated_window"), ("control", "control_window")):
            w = prog_names.get(r0[col])
            if w is not None:
                last_ref = min(w[1], follow_cut)
                sides[side] = (
                    (w[0], last_ref, add_months(last_ref, fu)) if last_ref >= w[0] else None
                )
    pts = {w[0] for w in wins_all} | {w[1] + DAY for w in wins_all}
    lo_all = min(pts)
    pts.add(rac_cut + DAY)
    for sv in sides.values():
        if sv:
            pts |= {sv[0], sv[1] + DAY, sv[2] + DAY}
    bounds_ = sorted(p for p in pts if lo_all <= p)
    atoms = list(zip(bounds_[:-1], bounds_[1:]))  # [start, next start)
    A = defaultdict(dict)  # A[name][i] -> Lin
    for i, (p, q) in enumerate(atoms):
        tag = f"{p}..{q - DAY}"
        for nm in ATOM_NAMES:
            A[nm][i] = m.var(f"{nm}|{tag}")
    O = [m.var(f"O|{b}") for b in bounds_]  # cases open at the start of that day
    for i, (p, q) in enumerate(atoms):
        last = q - DAY
        fam = "event_atoms:"
        m.le(A["NFA"][i], A["C"][i], fam + "closure_nfa_share")
        m.le(A["CIN"][i], A["C"][i], fam + "closed_last_on_cin_plan_share")
        frac = "re_referral_after_closure_rate"
        if last <= rac_cut:
            m.eq(A["RACD"][i], A["C"][i], fam + frac, f"closures of {p}.. eligible")
        else:  # p > rac_cut: the cut is a boundary
            m.eq(A["RACD"][i], 0, fam + frac, f"closures of {p}.. not eligible")
        m.le(A["RACN"][i], A["RACD"][i], fam + frac)
        m.le(A["RR"][i], A["R"][i], fam + "re_referral_rate")
        m.le(A["RS"][i], A["S"][i], fam + "repeat_cp_plan_rate")
        m.le(A["E2"][i], A["E"][i], fam + "cp_plan_2yr_plus_rate")
        # stock and flow of open cases: open at the next boundary = open now + referred - closed
        m.eq(O[i + 1], O[i] + A["N"][i] - A["C"][i], "stock_flow")
        # cases are referrals (not NFA): those with an earlier referral of the child in the 12
        # months before are re-referrals, the others are not
        m.eq(A["N"][i], A["N1"][i] + A["N0"][i], "cases_le_referrals")
        m.le(A["N1"][i], A["RR"][i], "cases_le_referrals", "cases re-referred <= re-referrals")
        m.le(
            A["N0"][i],
            A["R"][i] - A["RR"][i],
            "cases_le_referrals",
            "other cases <= other referrals",
        )

    def atoms_in(a, b):
        """atoms inside [a, b] (dates); None if a or b is not on a boundary"""
        if a not in bounds_ or (b + DAY) not in bounds_:
            return None
        return [i for i, (p, q) in enumerate(atoms) if p >= a and q <= b + DAY]

    def win_atoms(w):
        return atoms_in(w[0], w[1])

    for w in wins_all:
        ix = win_atoms(w)
        for met, (an, ad) in DATED.items():
            c = cell(w, "all", met)
            if c is None:
                continue
            m.eq(
                c.n,
                lsum(A[an][i] for i in ix),
                f"event_atoms:{met}",
                f"{met} all {w} = sum of atoms (n)",
            )
            if ad:
                m.eq(
                    c.d,
                    lsum(A[ad][i] for i in ix),
                    f"event_atoms:{met}",
                    f"{met} all {w} = sum of atoms (d)",
                )
        c = cell(w, "all", "closure_rate")
        if c is not None:
            m.eq(
                c.d,
                O[bounds_.index(w[0])] + lsum(A["N"][i] for i in ix),
                "stock_flow",
                f"active cases all {w} = open at start + referred in W",
            )

    # ---- across windows: nested, same end, covering ------------------------------------------
    for w1 in wins:
        for w2 in wins:
            if w1 == w2 or not inside(w1, w2):
                continue
            same_end = w1[1] == w2[1]  # a case's segment is taken at the window's end
            for s in (segs + ["all"]) if same_end else ["all"]:
                for met in METRICS:
                    c1, c2 = cell(w1, s, met), cell(w2, s, met)
                    if c1 is None or c2 is None:
                        continue
                    if same_end and s != "all" and met in DATED:
                        fam = f"same_end_monotone:{met}"
                        m.le(c1.n, c2.n, fam, f"{met} {s} {w1} inside {w2} (n)")
                        if met == "closure_rate":
                            # active in W and not closed in W = open at W's end
                            m.eq(
                                c1.d - c1.n,
                                c2.d - c2.n,
                                "same_end_open_cases",
                                f"open at {w1[1]} {s}",
                            )
                        else:
                            m.le(c1.d, c2.d, fam, f"{met} {s} {w1} inside {w2} (d)")
                            m.le(c1.d - c1.n, c2.d - c2.n, fam, f"{met} {s} {w1} inside {w2} (d-n)")
                    elif met in DISTINCT or (
                        met in SHARE_OF and SHARE_OF[met] == "de_escalation_rate"
                    ):
                        fam = (
                            f"same_end_monotone:{met}"
                            if s != "all"
                            else f"nested_monotone_all:{met}"
                        )
                        if met in DISTINCT:
                            m.le(c1.n, c2.n, fam, f"{met} {s} {w1} inside {w2} (n)")
                        m.le(c1.d, c2.d, fam, f"{met} {s} {w1} inside {w2} (d)")
    # a window covered by others counts at most their sum (segment `all`)
    for w in wins_all:
        for cover in minimal_covers(w, wins_all):
            for met in DISTINCT:
                cw = cell(w, "all", met)
                cs = [cell(o, "all", met) for o in cover]
                if cw is None or any(x is None for x in cs):
                    continue
                # children with a period of care active in / ending in W: that day lies in one
                # of the covering windows. De-escalation: stated by audiences.md only (a case
                # must also be active in the covering window holding the plan's end)
                fam = (
                    f"cover_subadditive:{met}"
                    if met == "returned_home_rate"
                    else f"cover_subadditive_docs:{met}"
                )
                m.le(cw.n, lsum(x.n for x in cs), fam, f"{met} {w} within {cover} (n)")
                m.le(cw.d, lsum(x.d for x in cs), fam, f"{met} {w} within {cover} (d)")

    build_matched(
        m,
        release,
        as_of,
        prog_names,
        dict(
            A=A, atoms=atoms, atoms_in=atoms_in, sides=sides, rac_cut=rac_cut, fu=fu, mo=mo, mb=mb
        ),
    )
    build_caseload(m, release)
    return m


# --------------------------------------------------------------------------------------------
# building: matched tables (matching.md)
# --------------------------------------------------------------------------------------------


def build_matched(m: Model, release, as_of, prog_names, ctx):
    mo = ctx["mo"] if ctx else _read(release / "matched_outcomes.csv")
    mb = ctx["mb"] if ctx else _read(release / "matched_balance.csv")
    if not mo and not mb:
        return
    A = ctx["A"] if ctx else None
    sides = ctx["sides"] if ctx else {}
    atoms_in = ctx["atoms_in"] if ctx else (lambda a, b: None)
    sample = {}
    for k in ("treated_matched", "treated_dropped", "control_matched", "control_dropped"):
        v = _num(mo[0][k]) if mo else "c"
        sample[k] = Lin.const(v) if isinstance(v, float) else m.var(f"sample|{k}")
        if not isinstance(v, float):
            m.target("matched_outcomes.csv", {"row": "every row"}, k, sample[k])
    TM, TD, CM, CD = (
        sample[k]
        for k in ("treated_matched", "treated_dropped", "control_matched", "control_dropped")
    )
    NT, NC = TM + TD, CM + CD
    fam = "matched_sample"
    N_of = {"treated": NT, "control": NC}

    # ---- links to the outcome files: the treated (control) cases are the cases referred in the
    # treated (control) window whose follow-up [referral, referral + fu months] has ended
    span = {}
    for side in ("treated", "control"):
        sv = sides.get(side)
        if sv is None or A is None:
            continue
        ref_ix = atoms_in(sv[0], sv[1])
        fol_ix = atoms_in(sv[0], sv[2])
        span[side] = (ref_ix, fol_ix, sv)
        if ref_ix is not None:
            m.eq(
                N_of[side],
                lsum(A["N"][i] for i in ref_ix),
                "matched_link_cases",
                f"{side} cases = cases referred {sv[0]}..{sv[1]}",
            )

    # ---- outcomes
    rows = {}
    for r in mo:
        k = (r["outcome"], r["comparison"])
        vals = {}
        for col in ("treated_cases", "treated_count", "control_cases", "control_count"):
            v = _num(r[col])
            vals[col] = Lin.const(v) if isinstance(v, float) else m.var(f"mo|{k}|{col}")
        rows[k] = (r, vals)
    every = {"closed", "de_escalated", "stepped_up"}
    outcomes = sorted({k[0] for k in rows})
    for o in outcomes:
        if (o, "matched") not in rows or (o, "unmatched") not in rows:
            continue
        rm, vm = rows[(o, "matched")]
        ru, vu = rows[(o, "unmatched")]
        suppressed = any(not v.is_const for v in list(vm.values()) + list(vu.values()))
        for side, cases_m, cases_u in (("treated", TM, NT), ("control", CM, NC)):
            cm_, nm_ = vm[f"{side}_cases"], vm[f"{side}_count"]
            cu_, nu_ = vu[f"{side}_cases"], vu[f"{side}_count"]
            f2 = "matched_dropped"
            m.le(nm_, cm_, fam, f"{o} {side} matched count <= cases")
            m.le(nu_, cu_, fam, f"{o} {side} unmatched count <= cases")
            m.le(cm_, cu_, f2, f"{o} {side} matched cases <= every case")
            m.le(nm_, nu_, f2, f"{o} {side} matched count <= unmatched")
            m.le(nu_ - nm_, cu_ - cm_, f2, f"{o} {side} dropped with outcome <= dropped")
            m.le(cm_, cases_m, "matched_population", f"{o} {side}: matched cases within the sample")
            m.le(
                cu_ - cm_,
                cases_u - cases_m,
                "matched_population",
                f"{o} {side}: dropped within the sample",
            )
            if o in every:
                m.eq(cm_, cases_m, "matched_population", f"{o} {side}: every matched case")
                m.eq(cu_, cases_u, "matched_population", f"{o} {side}: every case")
            if suppressed:
                file = "matched_outcomes.csv"
                for comp, cs, ns in (
                    ("matched", cm_, nm_),
                    ("unmatched", cu_, nu_),
                    ("dropped (unmatched - matched)", cu_ - cm_, nu_ - nm_),
                ):
                    row = {"outcome": o, "comparison": comp}
                    if o not in every:  # every case: the published sample counts themselves
                        m.target(file, row, f"{side}_cases", cs)
                    m.target(file, row, f"{side}_count", ns)
                    m.target(file, row, f"{side}_cases - {side}_count", cs - ns)
            else:
                for comp, cs, ns in (
                    ("matched", cm_, nm_),
                    ("unmatched", cu_, nu_),
                    ("dropped (unmatched - matched)", cu_ - cm_, nu_ - nm_),
                ):
                    row = {"outcome": o, "comparison": comp, "row": "published"}
                    for label, e in (
                        (f"{side}_cases", cs),
                        (f"{side}_count", ns),
                        (f"{side}_cases - {side}_count", cs - ns),
                    ):
                        m.check("matched_outcomes.csv", row, label, e)
        # populations that are themselves outcomes
        for sub, parent in (
            ("re_referred_after_closure", "closed"),
            ("returned_home", "stepped_up"),
        ):
            if o != sub or (parent, "matched") not in rows or (parent, "unmatched") not in rows:
                continue
            pm, pu = rows[(parent, "matched")][1], rows[(parent, "unmatched")][1]
            for side in ("treated", "control"):
                sv = sides.get(side)
                # every closed case is eligible when the last possible close date has had its
                # 12 months ("all of them on the control side")
                eqp = (
                    sub == "re_referred_after_closure"
                    and sv is not None
                    and sv[2] <= ctx["rac_cut"]
                )
                for vv, pp, comp in ((vm, pm, "matched"), (vu, pu, "unmatched")):
                    if eqp:
                        m.eq(
                            vv[f"{side}_cases"],
                            pp[f"{side}_count"],
                            "matched_population",
                            f"{sub} {side} {comp}: every closed case is eligible",
                        )
                    else:
                        m.le(
                            vv[f"{side}_cases"],
                            pp[f"{side}_count"],
                            "matched_population",
                            f"{sub} {side} {comp} within {parent}",
                        )
                if eqp:
                    continue
                m.le(
                    vu[f"{side}_cases"] - vm[f"{side}_cases"],
                    pu[f"{side}_count"] - pm[f"{side}_count"],
                    "matched_population",
                    f"{sub} {side} dropped within {parent}",
                )
    # closed within the follow-up: closures dated from the window's start to the last referral's
    # follow-up end; re-referred after closure: those closures' re-referrals
    for side, (ref_ix, fol_ix, sv) in span.items():
        if fol_ix is None:
            continue
        if ("closed", "unmatched") in rows:
            vu = rows[("closed", "unmatched")][1]
            m.le(
                vu[f"{side}_count"],
                lsum(A["C"][i] for i in fol_ix),
                "matched_link_closures",
                f"{side} closed within follow-up <= closures {sv[0]}..{sv[2]}",
            )
        if ("re_referred_after_closure", "unmatched") in rows:
            vu = rows[("re_referred_after_closure", "unmatched")][1]
            m.le(
                vu[f"{side}_cases"],
                lsum(A["RACD"][i] for i in fol_ix),
                "matched_link_closures",
                f"{side} eligible closed <= eligible closures {sv[0]}..{sv[2]}",
            )
            m.le(
                vu[f"{side}_count"],
                lsum(A["RACN"][i] for i in fol_ix),
                "matched_link_closures",
                f"{side} re-referred after closure <= re-referrals after closure {sv[0]}..{sv[2]}",
            )
            m.le(
                vu[f"{side}_cases"] - vu[f"{side}_count"],
                lsum(A["RACD"][i] - A["RACN"][i] for i in fol_ix),
                "matched_link_closures",
                f"{side} not re-referred after closure {sv[0]}..{sv[2]}",
            )

    # ---- balance
    chars = defaultdict(list)
    for r in mb:
        chars[r["characteristic"]].append(r)
    for ch, rs in chars.items():
        yesno = len(rs) == 1 and rs[0]["category"] == "true"
        rowsv = []
        for r in rs:
            cat = r["category"]
            v = {nm: m.var(f"mb|{ch}|{cat}|{nm}") for nm in ("tb", "ta", "cb", "cm")}
            used = r["used_in_matching"].strip().lower() == "true"
            for col, nm, N in (
                ("treated_mean_before", "tb", NT),
                ("treated_mean_after", "ta", TM),
                ("control_mean_before", "cb", NC),
            ):
                val = _num(r[col])
                if val == "z":
                    m.eq(N, 0, "balance_rounding", f"{ch}={cat} {col} z")
                if isinstance(val, float) and N.is_const:
                    tol = 0.00005 * N.k + 1e-7
                    m.le(N.k * val - tol, v[nm], "balance_rounding", f"{ch}={cat} {col}")
                    m.le(v[nm], N.k * val + tol, "balance_rounding", f"{ch}={cat} {col}")
            m.le(v["tb"], NT, fam)
            m.le(v["ta"], TM, fam)
            m.le(v["cb"], NC, fam)
            m.le(v["cm"], CM, fam)
            m.le(v["ta"], v["tb"], "balance_dropped", f"{ch}={cat} treated matched <= treated")
            m.le(v["cm"], v["cb"], "balance_dropped", f"{ch}={cat} control matched <= control")
            m.le(v["tb"] - v["ta"], TD, "balance_dropped", f"{ch}={cat} treated dropped")
            m.le(v["cb"] - v["cm"], CD, "balance_dropped", f"{ch}={cat} control dropped")
            if used and TM.is_const and CM.is_const:
                # a matched stratum has cases of both groups: a category has matched treated
                # cases exactly when it has matched control cases (and so has its complement)
                pairs = [(v["ta"], v["cm"])]
                if yesno:
                    pairs.append((TM - v["ta"], CM - v["cm"]))
                for ta, cmv in pairs:
                    m.le(
                        cmv,
                        ta * CM.k,
                        "balance_support",
                        f"{ch}={cat} control matched only with treated",
                    )
                    m.le(
                        ta,
                        cmv * TM.k,
                        "balance_support",
                        f"{ch}={cat} treated matched only with control",
                    )
            rowsv.append((r, v))
            suppressed = any(
                r[c].strip() == "c"
                for c in ("treated_mean_before", "control_mean_before", "treated_mean_after")
            )
            # every count the row implies (matching.md "A balance row"); in a published row the
            # control counts after matching and among the dropped are still never published
            file = "matched_balance.csv"
            row = {
                "characteristic": ch,
                "category": cat,
                "row": "suppressed" if suppressed else "published",
            }
            for nm, N, label in (
                ("tb", NT, "treated before"),
                ("ta", TM, "treated after"),
                ("cb", NC, "control before"),
                ("cm", CM, "control after"),
            ):
                if suppressed or nm == "cm":
                    m.target(file, row, f"{label}: in category", v[nm])
                    m.target(file, row, f"{label}: not in category", N - v[nm])
            for a, b, N, label in (
                ("tb", "ta", TD, "treated dropped"),
                ("cb", "cm", CD, "control dropped"),
            ):
                if suppressed or b == "cm":
                    m.target(file, row, f"{label}: in category", v[a] - v[b])
                    m.target(file, row, f"{label}: not in category", N - (v[a] - v[b]))
            if not suppressed:  # what the published shares give: none of it may be small
                for e, N, label in (
                    (v["tb"], NT, "treated before"),
                    (v["ta"], TM, "treated after"),
                    (v["cb"], NC, "control before"),
                    (v["tb"] - v["ta"], TD, "treated dropped"),
                ):
                    m.check(file, row, f"{label}: in category", e)
                    m.check(file, row, f"{label}: not in category", N - e)
            if ch == "referred_in_previous_12_months" and cat == "true":
                # a case referred with another referral of the child in [date - 12 months, date)
                # is a referral counted in re_referral_rate's numerator (metrics.md)
                for side, nm, N in (("treated", "tb", NT), ("control", "cb", NC)):
                    if side not in span or span[side][0] is None:
                        continue
                    ix = span[side][0]
                    m.eq(
                        v[nm],
                        lsum(A["N1"][i] for i in ix),
                        "matched_link_prev12",
                        f"{side} re-referred cases = cases referred as re-referrals",
                    )
                    m.eq(
                        N - v[nm],
                        lsum(A["N0"][i] for i in ix),
                        "matched_link_prev12",
                        f"{side} other cases = cases referred otherwise",
                    )
        if not yesno:
            for nm, N in (("tb", NT), ("ta", TM), ("cb", NC), ("cm", CM)):
                m.eq(
                    lsum(v[nm] for _, v in rowsv),
                    N,
                    "balance_categories",
                    f"categories of {ch} add up ({nm})",
                )


# --------------------------------------------------------------------------------------------
# caseload: `c` stands for 1 to threshold + 1 (audiences.md); no other relation
# --------------------------------------------------------------------------------------------


def build_caseload(m: Model, release):
    for r in _read(release / "caseload_monthly.csv"):
        if r["open_children"].strip() == "c":
            t = Target(
                "caseload_monthly.csv",
                {"team_id": r["team_id"], "month_end": r["month_end"]},
                "open_children",
                Lin.const(0),
            )
            t.route, t.level = "caseload: `c` stands for 1 to the threshold + 1", 5
            t.low, t.high = 1, m.threshold + 1
            m.targets.append(t)


class Infeasible(Exception):
    pass


def propagate(cons, lb: dict, ub: dict, rounds: int = 60) -> None:
    """Bound propagation over integer unknowns (sound: it only removes infeasible values).
    cons: (Lin, sense) with sense '<=' or '==' meaning expr (sense) 0. Updates lb, ub in place."""
    rows = []
    for e, sense in cons:
        items = list(e.c.items())
        rows.append((items, e.k))
        if sense == "==":
            rows.append(([(i, -a) for i, a in items], -e.k))
    for _ in range(rounds):
        changed = False
        for items, k in rows:
            minact, ninf, infv = k, 0, None
            for i, a in items:
                b = lb[i] if a > 0 else ub[i]
                if b == INF or b == -INF:
                    ninf += 1
                    infv = i
                else:
                    minact += a * b
            if ninf > 1:
                continue
            if ninf == 0 and minact > 1e-6:
                raise Infeasible
            for i, a in items:
                if ninf == 1 and i != infv:
                    continue
                rest = minact if ninf == 1 else minact - a * (lb[i] if a > 0 else ub[i])
                if a > 0:
                    nb = math.floor(-rest / a + 1e-7)
                    if nb < ub[i] - 0.5:
                        ub[i] = nb
                        changed = True
                else:
                    nb = math.ceil(-rest / a - 1e-7)
                    if nb > lb[i] + 0.5:
                        lb[i] = nb
                        changed = True
                if lb[i] > ub[i]:
                    raise Infeasible
        if not changed:
            break


def subst(e: Lin, fixed: dict) -> Lin:
    if not any(i in fixed for i in e.c):
        return e
    return Lin(
        {i: a for i, a in e.c.items() if i not in fixed},
        e.k + sum(a * fixed[i] for i, a in e.c.items() if i in fixed),
    )


class Component:
    """Unknowns linked by relations: cons are (Lin, sense, family), sense '<=' or '=='."""

    def __init__(self, cons, var_ids, lb: dict, ub: dict):
        self.cons = list(cons)
        self.vars = sorted(var_ids)
        self.pos = {v: i for i, v in enumerate(self.vars)}
        self.lb = np.array([lb[v] for v in self.vars], dtype=float)
        self.ub = np.array([ub[v] for v in self.vars], dtype=float)
        self.families = sorted({c[2] for c in self.cons})
        self.active = set(self.families)
        self.solves = 0
        self._cache = {}

    def matrices(self, families=None):
        fams = frozenset(self.active if families is None else families)
        if fams in self._cache:
            return self._cache[fams]
        eq_r, eq_c, eq_v, eq_b = [], [], [], []
        ub_r, ub_c, ub_v, ub_b = [], [], [], []
        for e, sense, fam in self.cons:
            if fam not in fams:
                continue
            if sense == "==":
                k = len(eq_b)
                for v, a in e.c.items():
                    eq_r.append(k)
                    eq_c.append(self.pos[v])
                    eq_v.append(a)
                eq_b.append(-e.k)
            else:
                k = len(ub_b)
                for v, a in e.c.items():
                    ub_r.append(k)
                    ub_c.append(self.pos[v])
                    ub_v.append(a)
                ub_b.append(-e.k)
        n = len(self.vars)
        Aeq = csr_matrix((eq_v, (eq_r, eq_c)), shape=(len(eq_b), n)) if eq_b else None
        Aub = csr_matrix((ub_v, (ub_r, ub_c)), shape=(len(ub_b), n)) if ub_b else None
        out = (Aeq, np.array(eq_b), Aub, np.array(ub_b))
        self._cache[fams] = out
        return out

    def objective(self, expr: Lin, sign: float):
        c = np.zeros(len(self.vars))
        for v, a in expr.c.items():
            c[self.pos[v]] = sign * a
        return c

    def value(self, expr: Lin, x) -> float:
        return expr.k + sum(a * x[self.pos[v]] for v, a in expr.c.items())

    def lp(self, c, families=None):
        Aeq, beq, Aub, bub = self.matrices(families)
        self.solves += 1
        return linprog(
            c,
            A_ub=Aub,
            b_ub=bub if Aub is not None else None,
            A_eq=Aeq,
            b_eq=beq if Aeq is not None else None,
            bounds=np.column_stack([self.lb, np.where(np.isinf(self.ub), np.nan, self.ub)])
            if len(self.vars)
            else None,
            method="highs",
        )

    def ilp(self, c, families=None, time_limit=20.0):
        Aeq, beq, Aub, bub = self.matrices(families)
        cons = []
        if Aeq is not None:
            cons.append(LinearConstraint(Aeq, beq - 1e-9, beq + 1e-9))
        if Aub is not None:
            cons.append(LinearConstraint(Aub, -np.inf, bub + 1e-9))
        self.solves += 1
        return milp(
            c,
            constraints=cons,
            integrality=np.ones(len(self.vars)),
            bounds=Bounds(self.lb, self.ub),
            options={"time_limit": time_limit},
        )

    def feasible(self, families=None) -> bool:
        res = self.lp(np.zeros(len(self.vars)), families)
        if res.status != 0:
            return False
        if _integral(res.x):
            return True
        res = self.ilp(np.zeros(len(self.vars)), families)
        return res.x is not None

    def side(self, expr: Lin, sign: float, families=None, integer=True):
        """min (sign=1) or max (sign=-1) of expr: (LP value, integer value or None if not
        computed, LP point)."""
        c = self.objective(expr, sign)
        res = self.lp(c, families)
        if res.status == 3:
            return (-INF if sign > 0 else INF), (-INF if sign > 0 else INF), None
        if res.x is None:
            return None, None, None
        v = self.value(expr, res.x)
        if abs(v) >= CAP / 10:
            v = INF if v > 0 else -INF
            return v, v, res.x
        return v, (v if _integral(res.x) else None), res.x

    def milp_side(self, expr: Lin, sign: float, families=None):
        res = self.ilp(self.objective(expr, sign), families)
        if res.x is None:
            return None
        if res.status == 1 and getattr(res, "mip_dual_bound", None) is not None:
            v = expr.k + sign * res.mip_dual_bound  # time limit: the proven bound
        else:
            v = self.value(expr, res.x)
        if abs(v) >= CAP / 10:
            v = INF if v > 0 else -INF
        return v

    def range(self, expr: Lin, families=None, cutoff: float = INF):
        """Integer range of expr: LP first, MILP on a side whose LP point is fractional when the
        LP range is narrower than cutoff. Returns (low, high, lp_low, lp_high) or None."""
        lo_lp, lo_i, _ = self.side(expr, 1.0, families)
        hi_lp, hi_i, _ = self.side(expr, -1.0, families)
        if lo_lp is None or hi_lp is None:
            return None
        lo = _ceil(lo_lp) if lo_i is None else _rnd(lo_i)
        hi = _floor(hi_lp) if hi_i is None else _rnd(hi_i)
        if hi - lo < cutoff:
            if lo_i is None and lo_lp != -INF:
                v = self.milp_side(expr, 1.0, families)
                lo = _ceil(v) if v is not None else lo
            if hi_i is None and hi_lp != INF:
                v = self.milp_side(expr, -1.0, families)
                hi = _floor(v) if v is not None else hi
        return lo, hi, lo_lp, hi_lp


def _integral(x) -> bool:
    return x is not None and bool(np.all(np.abs(x - np.round(x)) < 1e-6))


def _rnd(v):
    return v if v in (INF, -INF) else round(v)


def _ceil(v):
    return v if v in (INF, -INF) else math.ceil(v - 1e-6)


def _floor(v):
    return v if v in (INF, -INF) else math.floor(v + 1e-6)


def components(var_ids, cons, links=()):
    """Union-find: groups of unknowns linked by cons ((Lin, sense, family) list), and by links
    (the unknowns of one target expression, which must be solved together)."""
    parent = {v: v for v in var_ids}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for vs in itertools.chain((list(e.c) for e, _, _ in cons), (list(x) for x in links)):
        vs = [v for v in vs if v in parent]
        for v in vs[1:]:
            a, b = find(vs[0]), find(v)
            if a != b:
                parent[a] = b
    groups = defaultdict(set)
    for v in var_ids:
        groups[find(v)].add(v)
    cons_of = defaultdict(list)
    for c in cons:
        if c[0].c:
            cons_of[find(next(iter(c[0].c)))].append(c)
    return groups, cons_of, find


def analyse(
    release_dir,
    threshold: int = 5,
    routes: bool = True,
    milp_cutoff: int | None = None,
    detail_budget_s: float = 20.0,
) -> Analysis:
    """Ranges of every hidden count of the release; leaks, revealed zeros and their routes."""
    t0 = time.perf_counter()
    c0 = time.process_time()
    model = build(Path(release_dir), threshold)
    t_build = time.perf_counter() - t0
    cutoff = milp_cutoff if milp_cutoff is not None else threshold + 2
    dropped: list[tuple[str, str]] = []

    # published figures that contradict a relation: that relation family is dropped everywhere
    bad = sorted({f for f, _ in model.contradictions})
    for f in bad:
        dropped.append(
            (
                f,
                "contradicted by published figures: "
                + next(msg for g, msg in model.contradictions if g == f),
            )
        )
    cons = [c for c in model.cons if c[2] not in bad]
    # a component whose relations admit no solution: drop the relation family at fault
    cons = _repair_all(model, cons, dropped)

    solver = Solver(model, cutoff)
    targets = [t for t in model.targets if t.level != 5]
    for t in model.targets:
        if t.level == 5:  # caseload: `c` stands for 1 to threshold + 1
            t.low, t.high, t.lp_low, t.lp_high, t.solved = (
                1,
                threshold + 1,
                1,
                threshold + 1,
                "fixed",
            )
    for t, r in solver.run(cons, targets + model.checks).items():
        t.low, t.high, t.lp_low, t.lp_high, t.solved = r[:5]
    for t in model.checks:
        if t.low >= 1 and t.high <= threshold:
            model.notes.append(
                f"a published row implies a small count: {t.file} {t.row} {t.count}"
                f" in [{t.low}, {t.high}]"
            )
    t_solve = time.perf_counter() - t0 - t_build

    def narrow(lo, hi):
        return hi != INF and hi - lo < threshold

    leaks, zeros = [], []
    for t in model.targets:
        if not narrow(t.low, t.high):
            continue
        if t.low == 0 and t.high == 0:
            zeros.append(t)
        elif t.row.get("row") == "published" and t.low > threshold:
            continue  # a large count implied by a published balance row: not a small number
        else:
            leaks.append(t)

    # routes: first the lowest level of relations (within a window < across metrics < across
    # overlapping windows < matched tables) under which the count is already narrowed, for every
    # leak and revealed zero together; then, while time allows, a minimal set of kinds of
    # relation of up to that level that still narrows it (greedy: kinds are taken away least
    # justified first, and kept only when needed)
    if routes:
        level_of = lambda k: FAMILY_LEVEL.get(k, 3)
        order = lambda k: DROP_ORDER.index(k) if k in DROP_ORDER else -1
        todo = [t for t in leaks + (zeros if len(zeros) <= 200 else []) if t.level != 5]
        for lvl in (1, 2, 3, 4):
            if not todo:
                break
            if lvl < 4:
                res = solver.run([c for c in cons if level_of(kind_of(c[2])) <= lvl], todo)
            rest = []
            for t in todo:
                if lvl == 4 or (t in res and narrow(res[t][0], res[t][1])):
                    t.level = lvl
                    t.route = LEVELS[lvl]
                else:
                    rest.append(t)
            todo = rest
        deadline = time.perf_counter() + detail_budget_s
        for t in leaks + (zeros if len(zeros) <= 200 else []):
            if t.level == 5 or time.perf_counter() > deadline:
                continue
            kinds = sorted(
                {kind_of(c[2]) for c in cons if level_of(kind_of(c[2])) <= t.level}, key=order
            )
            keep = list(kinds)
            complete = True
            for k in kinds:
                if time.perf_counter() > deadline:
                    complete = False
                    break
                trial = [x for x in keep if x != k]
                ts = set(trial)
                res = solver.run([c for c in cons if kind_of(c[2]) in ts], [t])
                if t in res and narrow(res[t][0], res[t][1]):
                    keep = trial
            if not complete:
                continue
            t.kinds = sorted((k for k in keep if k != "nonneg"), key=lambda k: (level_of(k), k))
            t.route = LEVELS[t.level] + f" ({', '.join(t.kinds)})"
    t_all = time.perf_counter() - t0

    def to_leak(t):
        return Leak(
            t.file,
            t.row,
            t.count,
            int(t.low),
            t.high if t.high == INF else int(t.high),
            t.route,
            t.level,
            t.lp_high - t.lp_low,
            tuple(getattr(t, "kinds", ())),
        )

    return Analysis(
        targets=model.targets,
        leaks=[to_leak(t) for t in leaks],
        zeros=[to_leak(t) for t in zeros],
        threshold=threshold,
        contradictions=model.contradictions,
        dropped=dropped,
        notes=sorted(set(model.notes)),
        seconds={
            "build": round(t_build, 2),
            "solve": round(t_solve, 2),
            "routes": round(t_all - t_build - t_solve, 2),
            "total": round(t_all, 2),
            "cpu": round(time.process_time() - c0, 2),
        },
        n_vars=len(model.names),
        n_cons=len(cons),
        n_components=solver.components,
        n_solves=solver.solves,
    )


def _repair_all(model: Model, cons: list, dropped: list) -> list:
    groups, cons_of, _ = components(range(len(model.names)), cons)
    lb = dict(enumerate(model.lb))
    ub = dict(enumerate(model.ub))
    out = []
    for root, cs in cons_of.items():
        comp = Component(cs, groups[root], lb, ub)
        if not comp.feasible():
            _repair(comp, dropped)
        out.extend(c for c in cs if c[2] in comp.active)
    return out


def _repair(comp: Component, dropped: list):
    """The component is infeasible: some relation does not hold in the data. Drop one family
    (least justified first) if that is enough, else drop families in that order until feasible."""
    order = lambda f: DROP_ORDER.index(kind_of(f)) if kind_of(f) in DROP_ORDER else -1
    fams = sorted(comp.active, key=order)
    for f in fams:
        if comp.feasible(comp.active - {f}):
            comp.active.discard(f)
            dropped.append((f, "made the programme infeasible"))
            return
    for f in fams:
        comp.active.discard(f)
        dropped.append((f, "made the programme infeasible (dropped in turn)"))
        if comp.feasible():
            return


class Solver:
    """Integer ranges of target expressions under a set of relations.

    Per component of unknowns linked by the relations: bound propagation, then unknowns whose
    value is forced are substituted and the component split again; LP solutions are harvested as
    feasible points for every target; counts that no point moved off 0 are proven 0 together
    (max of their sum), fixed, and the component split again; what stays narrow under the
    harvested points gets its own LP min / max, and MILP where the LP optimum is fractional."""

    def __init__(self, model: Model, cutoff: int):
        self.model = model
        self.cutoff = cutoff
        self.solves = 0
        self.components = 0

    def run(self, cons, targets) -> dict:
        model = self.model
        out = {}
        groups, cons_of, find = components(
            range(len(model.names)), cons, [list(t.expr.c) for t in targets]
        )
        by = defaultdict(list)
        for t in targets:
            by[find(next(iter(t.expr.c)))].append(t)
        for root, ts in by.items():
            self.components += 1
            var_ids = groups[root]
            lb = {v: model.lb[v] for v in var_ids}
            ub = {v: model.ub[v] for v in var_ids}
            self._reduce(cons_of.get(root, []), var_ids, lb, ub, [(t, t.expr) for t in ts], out, 0)
        return out

    def _reduce(self, cons, var_ids, lb, ub, tes, out, depth):
        """Propagate, substitute what is fixed, split, and solve each part."""
        try:
            propagate([(e, s) for e, s, _ in cons], lb, ub)
        except Infeasible:
            pass  # leave it to the LP
        fixed = {v: lb[v] for v in var_ids if lb[v] == ub[v]}
        red = [(subst(e, fixed), s, f) for e, s, f in cons]
        red = [c for c in red if c[0].c]
        free = [v for v in var_ids if v not in fixed]
        subs = [(t, subst(e, fixed)) for t, e in tes]
        g2, c2, find2 = components(free, red, [list(e2.c) for _, e2 in subs])
        parts = defaultdict(list)
        for t, e2 in subs:
            if e2.is_const:
                v = round(e2.k)
                out[t] = (v, v, v, v, "propagated", None)
            else:
                parts[find2(next(iter(e2.c)))].append((t, e2))
        for r2, tes2 in parts.items():
            self._solve(c2.get(r2, []), g2[r2], lb, ub, tes2, out, depth)

    def _solve(self, cons, var_ids, lb, ub, tes, out, depth):
        comp = Component(cons, var_ids, lb, ub)
        uniq = {}
        for t, e in tes:
            uniq.setdefault(e.key(), (e, []))[1].append(t)
        exprs = list(uniq.values())
        n = len(exprs)
        # outer bounds by interval arithmetic on the propagated bounds (sound)
        # (every target is a count: not negative)
        olo = [
            max(0.0, e.k + sum(a * (lb[v] if a > 0 else ub[v]) for v, a in e.c.items()))
            for e, _ in exprs
        ]
        ohi = [e.k + sum(a * (ub[v] if a > 0 else lb[v]) for v, a in e.c.items()) for e, _ in exprs]
        seen_lo, seen_hi = [INF] * n, [-INF] * n  # over LP points
        iseen_lo, iseen_hi = [INF] * n, [-INF] * n  # over integral points
        cut = self.cutoff

        def harvest(x):
            integral = _integral(x)
            for j, (e, _) in enumerate(exprs):
                val = comp.value(e, x)
                if val < seen_lo[j]:
                    seen_lo[j] = val
                if val > seen_hi[j]:
                    seen_hi[j] = val
                if integral:
                    if val < iseen_lo[j]:
                        iseen_lo[j] = val
                    if val > iseen_hi[j]:
                        iseen_hi[j] = val

        def lp(expr, sign):
            res = comp.lp(comp.objective(expr, sign))
            self.solves += 1
            if res.x is not None:
                harvest(res.x)
            return res

        def done(j, lo, hi, lo_lp, hi_lp, how):
            for t in exprs[j][1]:
                out[t] = (lo, hi, lo_lp, hi_lp, how, None)

        def wide(j):
            return seen_hi[j] - seen_lo[j] >= cut

        def hi_ok(j):
            return wide(j) or iseen_hi[j] >= ohi[j] - 1e-6

        def lo_ok(j):
            return wide(j) or iseen_lo[j] <= olo[j] + 1e-6

        total = lsum(e for e, _ in exprs)
        r1 = lp(total, 1.0)
        if r1.x is None:
            for j in range(n):
                done(j, 0, INF, -INF, INF, "infeasible")
            return
        lp(total, -1.0)

        # counts no point moved off 0: proven 0 together when the max of their sum is 0
        zero = [j for j in range(n) if seen_hi[j] <= 1e-9 and ohi[j] > 1e-9]
        proven = [j for j in range(n) if ohi[j] <= 1e-9]
        while zero:
            res = lp(lsum(exprs[j][0] for j in zero), -1.0)
            if res.x is None:
                break
            if comp.value(lsum(exprs[j][0] for j in zero), res.x) <= 1e-7:
                proven += zero
                break
            zero = [j for j in zero if seen_hi[j] <= 1e-9]
        pset = set(proven)
        for j in proven:
            done(j, 0, 0, 0, 0, "lp-zero")
        if proven and depth < 50:
            fixed, eqs = {}, []
            for j in proven:
                e = exprs[j][0]
                if all(a > 0 for a in e.c.values()):
                    fixed.update({v: 0 for v in e.c if ub[v] > 0})
                else:
                    eqs.append((e, "==", "derived"))
            for v, val in fixed.items():
                lb[v] = ub[v] = val
            if len(fixed) >= 0.05 * len(var_ids):  # worth splitting again
                rest = [(t, e) for j, (e, ts) in enumerate(exprs) if j not in pset for t in ts]
                if rest:
                    self._reduce(cons + eqs, var_ids, lb, ub, rest, out, depth + 1)
                return
            if fixed or eqs:
                cons = cons + eqs
                comp = Component(cons, var_ids, lb, ub)
        left = [j for j in range(n) if j not in pset]
        # push the unresolved sides towards their outer bounds together, as long as it helps
        for sign, ok in ((-1.0, hi_ok), (1.0, lo_ok)):
            for _ in range(12):
                u = [j for j in left if not ok(j)]
                if not u:
                    break
                res = lp(lsum(exprs[j][0] * (1.0 / max(1.0, ohi[j] - olo[j])) for j in u), sign)
                if res.x is None or len([j for j in u if not ok(j)]) > len(u) - max(
                    1, len(u) // 50
                ):
                    break
        if len(var_ids) > 300:
            # outer bounds from a neighbourhood of each count (a relaxation, so sound): where an
            # integral point already reaches them, no solve of the whole component is needed
            adj = defaultdict(list)
            for ci, (e, _, _) in enumerate(cons):
                for v in e.c:
                    adj[v].append(ci)
            for j in left:
                if wide(j) or (lo_ok(j) and hi_ok(j)):
                    continue
                e = exprs[j][0]
                cs, vs, frontier = set(), set(e.c), set(e.c)
                for _ in range(3):
                    new = set()
                    for v in frontier:
                        for ci in adj[v]:
                            if ci not in cs:
                                cs.add(ci)
                                new.update(cons[ci][0].c)
                    frontier = new - vs
                    vs |= new
                    if len(vs) > 250 or not frontier:
                        break
                loc = Component([cons[ci] for ci in sorted(cs)], vs, lb, ub)
                lo_l = loc.side(e, 1.0)[0] if not lo_ok(j) else None
                hi_l = loc.side(e, -1.0)[0] if not hi_ok(j) else None
                self.solves += 2
                if lo_l is not None and lo_l != -INF:
                    olo[j] = max(olo[j], _ceil(lo_l))
                if hi_l is not None and hi_l != INF:
                    ohi[j] = min(ohi[j], _floor(hi_l))
        for j in left:
            e = exprs[j][0]
            if wide(j):
                done(
                    j,
                    _ceil(olo[j]),
                    _floor(ohi[j]) if ohi[j] < CAP / 10 else INF,
                    seen_lo[j],
                    seen_hi[j],
                    "lp-wide",
                )
                continue
            how = "lp"
            if lo_ok(j):
                lo, lo_lp = _rnd(iseen_lo[j]), iseen_lo[j]
            else:
                lo_lp, lo_i, x1 = comp.side(e, 1.0)
                self.solves += 1
                if lo_lp is None:
                    done(j, 0, INF, -INF, INF, "infeasible")
                    continue
                if x1 is not None:
                    harvest(x1)
                lo = _ceil(lo_lp) if lo_i is None else _rnd(lo_i)
            if hi_ok(j) and not wide(j):
                hi, hi_lp = _rnd(iseen_hi[j]), iseen_hi[j]
            elif wide(j):
                done(
                    j,
                    _ceil(olo[j]),
                    _floor(ohi[j]) if ohi[j] < CAP / 10 else INF,
                    seen_lo[j],
                    seen_hi[j],
                    "lp-wide",
                )
                continue
            else:
                hi_lp, hi_i, x2 = comp.side(e, -1.0)
                self.solves += 1
                if hi_lp is None:
                    done(j, 0, INF, -INF, INF, "infeasible")
                    continue
                if x2 is not None:
                    harvest(x2)
                hi = _floor(hi_lp) if hi_i is None else _rnd(hi_i)
                if hi - lo < cut and hi_i is None and hi_lp != INF:
                    v = comp.milp_side(e, -1.0)
                    self.solves += 1
                    hi, how = (_floor(v) if v is not None else hi), "milp"
            if hi - lo < cut and not lo_ok(j) and iseen_lo[j] > lo + 1e-6 and lo != -INF:
                # the LP minimum was fractional: tighten with MILP
                v = comp.milp_side(e, 1.0)
                self.solves += 1
                if v is not None and v > lo:
                    lo, how = _ceil(v), "milp"
            done(j, lo, hi, lo_lp, hi_lp, how)


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------


def summary(an: Analysis, show: int = 40) -> str:
    out = []
    ts = an.targets
    by_file = defaultdict(int)
    for t in ts:
        by_file[t.file] += 1
    exact = [l for l in an.leaks if l.exact]
    out.append(
        f"hidden counts considered: {len(ts)} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(by_file.items()))
        + ")"
    )
    out.append(
        f"narrowed below {an.threshold} (high - low < {an.threshold}, zeros apart): {len(an.leaks)}"
    )
    out.append(f"  of which exact recoveries: {len(exact)}")
    small = [l for l in an.leaks if l.low >= 1 and l.high <= an.threshold]
    out.append(f"  narrowed inside 1..{an.threshold} (certainly a small number): {len(small)}")
    out.append(f"revealed zeros (range exactly {{0}}, not small numbers): {len(an.zeros)}")
    by = defaultdict(int)
    for l in an.leaks:
        by[LEVELS.get(l.level, l.route)] += 1
    for k, v in sorted(by.items()):
        out.append(f"  route {k}: {v}")
    out.append(
        f"model: {an.n_vars} unknowns, {an.n_cons} relations, {an.n_components} components "
        f"with hidden counts, {an.n_solves} LP/MILP solves; seconds {an.seconds}"
    )
    for fam, why in an.dropped:
        out.append(f"relation dropped: {fam}: {why}")
    for n in an.notes[:10]:
        out.append(f"note: {n}")
    out.append("")
    for l in sorted(an.leaks, key=lambda l: (l.file, l.high - l.low))[:show]:
        out.append(l.label())
    if an.zeros:
        out.append("")
        out.append("revealed zeros:")
        for l in an.zeros[:show]:
            out.append("  " + l.label())
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("release_dir")
    p.add_argument("--threshold", type=int, default=5)
    p.add_argument("--show", type=int, default=40)
    p.add_argument("--no-routes", action="store_true", help="skip the route of each leak")
    p.add_argument(
        "--detail-seconds",
        type=float,
        default=20.0,
        help="time for finding which kinds of relation each leak needs",
    )
    a = p.parse_args(argv)
    an = analyse(
        a.release_dir, a.threshold, routes=not a.no_routes, detail_budget_s=a.detail_seconds
    )
    print(summary(an, a.show))
    return 0


if __name__ == "__main__":
    sys.exit(main())
