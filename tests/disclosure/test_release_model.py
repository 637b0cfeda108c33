"""The model of the whole release (docs/audiences.md, "The intruder"), on hand-made figures: each
route the independent intruder used against the release before it (issue: the release must hold)
is in the model, the audit finds it, and the suppression closes it."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from fiw.disclosure.audit import DISCLOSIVE, audit, audit_model
from fiw.disclosure.cells import Cell, CellKey, publish
from fiw.disclosure.model import Model, Window
from fiw.disclosure.release import audit_release, caseload_model, matched_model
from fiw.disclosure.suppression import suppress

T = 5
AS_OF = date(2017, 11, 30)
PM = Window(date(2014, 1, 1), date(2015, 5, 31))
FI = Window(date(2015, 6, 1), date(2016, 10, 31))


def cells_of(window: str, rows: dict) -> list[Cell]:
    return [Cell(CellKey(window, s, m), n, d) for (s, m), (n, d) in rows.items()]


def closure_family(segments: dict[str, tuple[int, ...]]) -> dict:
    """(segment, metric) -> (n, d) for closure_rate and re_referral_after_closure_rate, from
    (active, closed, re-referred, followed up) per segment, with all; followed up defaults to
    every closure."""
    rows = {}
    totals = [0, 0, 0, 0]
    for seg, (active, closed, again, *followed) in segments.items():
        followed = followed[0] if followed else closed
        rows[(seg, "closure_rate")] = (closed, active)
        rows[(seg, "re_referral_after_closure_rate")] = (again, followed)
        totals = [t + v for t, v in zip(totals, (active, closed, again, followed), strict=True)]
    rows[("all", "closure_rate")] = (totals[1], totals[0])
    rows[("all", "re_referral_after_closure_rate")] = (totals[2], totals[3])
    return rows


def test_a_followed_up_closure_count_gives_away_a_hidden_closure_numerator() -> None:
    # The headline leak: closure_rate hidden in one segment (4 closures), its published
    # re_referral_after_closure_rate row 0 / 4 tells them, in a window whose closures have all
    # had their 12 months.
    cells = cells_of(
        "family_insights",
        closure_family({"generic": (40, 4, 0), "neglect": (300, 120, 9), "other": (200, 80, 7)}),
    )
    hidden = {CellKey("family_insights", "generic", "closure_rate"),
              CellKey("family_insights", "neglect", "closure_rate")}  # fmt: skip
    found = audit(publish(cells, hidden), T, windows={"family_insights": FI}, as_of=AS_OF)
    assert any(
        f.kind == DISCLOSIVE
        and f.key == CellKey("family_insights", "generic", "closure_rate")
        and f.count == "numerator"
        and f.low == f.high == 4
        for f in found
    ), [f.describe() for f in found]
    assert any("re_referral_after_closure_rate denominator is the closure_rate" in f.reason
               for f in found)  # fmt: skip
    # Before the follow-up has ended the two need not be equal (here 2 of generic's 4 closures
    # and 100 of neglect's 120 have had their 12 months): only "at most" holds, no finding.
    cells_early = cells_of(
        "family_insights",
        closure_family(
            {"generic": (40, 4, 0, 2), "neglect": (300, 120, 9, 100), "other": (200, 80, 7)}
        ),
    )
    early = audit(
        publish(cells_early, hidden), T, windows={"family_insights": FI}, as_of=date(2017, 3, 1)
    )
    assert early == [], [f.describe() for f in early]
    # The suppression hides the two together and the audit then finds nothing.
    chosen = suppress(cells, T, windows={"family_insights": FI}, as_of=AS_OF)
    assert CellKey("family_insights", "generic", "re_referral_after_closure_rate") in chosen.all
    assert audit(publish(cells, chosen.all), T, windows={"family_insights": FI}, as_of=AS_OF) == []


def test_overlapping_windows_share_months_in_segment_all() -> None:
    # A financial year inside the previous model's window, and the years either side: a dated
    # count of `all` hidden in the year is worked out from the window and its neighbours when
    # they leave no room (the months before and after the year are 0 in this example).
    windows = {
        "previous_model": PM,
        "12_months_to_2014-03-31": Window(date(2013, 4, 1), date(2014, 3, 31)),
        "12_months_to_2015-03-31": Window(date(2014, 4, 1), date(2015, 3, 31)),
        "12_months_to_2016-03-31": Window(date(2015, 4, 1), date(2016, 3, 31)),
    }
    counts = {
        "previous_model": (30, 900),
        "12_months_to_2014-03-31": (0, 500),
        "12_months_to_2015-03-31": (30, 700),
        "12_months_to_2016-03-31": (0, 650),
    }
    cells = [Cell(CellKey(w, "all", "repeat_cp_plan_rate"), n, d) for w, (n, d) in counts.items()]
    year = CellKey("12_months_to_2015-03-31", "all", "repeat_cp_plan_rate")
    found = audit(publish(cells, {year}), T, windows=windows, as_of=AS_OF)
    assert {(f.key, f.count, f.low, f.high) for f in found} >= {(year, "numerator", 30.0, 30.0)}
    # Window by window (no dates) the same release passes: the route is across windows.
    assert audit(publish(cells, {year}), T) == []
    # The suppression spreads the hidden `all` over the windows it overlaps.
    cells[0] = Cell(cells[0].key, 3, 900)  # previous_model's numerator is now small
    chosen = suppress(cells, T, windows=windows, as_of=AS_OF)
    assert year in chosen.all
    assert audit(publish(cells, chosen.all), T, windows=windows, as_of=AS_OF) == []


def test_a_hidden_caseload_count_keeps_a_range_the_threshold_wide() -> None:
    with duckdb.connect() as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.caseload_monthly_suppressed as select * from (values"
            " ('T1', date '2016-01-31', null::bigint, 1, true),"
            " ('T1', date '2016-02-29', 7::bigint, 2, false),"
            " ('T2', date '2016-01-31', 0::bigint, 0, false)"
            ") as t (team_id, month_end, open_children, workers, suppressed)"
        )
        model = caseload_model(con, T)
    assert audit_model(model, T) == []
    # Had `c` stood for 1 to the threshold (the rule before), a team with a worker would leave
    # a hidden count in [1, 5]: narrower than the threshold.
    key = next(k for k, v in model.values.items() if v is None)
    narrow = Model(dict(model.values), [r for r in model.relations if r.rhs != T + 1.0])
    narrow.at_most([(1.0, key)], float(T), "c stands for 1 to 5", key[0])
    (finding,) = audit_model(narrow, T)
    assert (finding.low, finding.high) == (1.0, 5.0)


def _matched(con, balance_rows) -> None:
    con.execute("create schema if not exists marts")
    con.execute(
        "create or replace table marts.matched_outcomes_suppressed as select * from (values"
        " ('family_insights', 'previous_model', 12, 'closed', 'matched', 100, 40, 100, 50,"
        "  100, 20, 120, 30, false),"
        " ('family_insights', 'previous_model', 12, 'closed', 'unmatched', 120, 48, 150, 70,"
        "  100, 20, 120, 30, false)"
        ") as t (treated_window, control_window, follow_up_months, outcome, comparison,"
        " treated_cases, treated_count, control_cases, control_count, treated_matched,"
        " treated_dropped, control_matched, control_dropped, suppressed)"
    )
    con.execute(
        "create or replace table marts.matched_balance_suppressed (characteristic varchar,"
        " category varchar, treated_mean_before double, control_mean_before double,"
        " treated_mean_after double, suppressed boolean)"
    )
    con.executemany("insert into marts.matched_balance_suppressed values (?, ?, ?, ?, ?, ?)",
                    balance_rows)  # fmt: skip


def test_hidden_balance_categories_whose_matched_total_is_small_are_found() -> None:
    # The intruder's route on a 2,500-child authority: three needs hidden together, whose
    # before-matching totals are wide but whose after-matching total (matched treated cases) is
    # 3: each of them then lies in [0, 3].
    rows = [
        ("primary_need", "N1", 0.5, 0.5, 0.57, False),
        ("primary_need", "N2", 0.4, 0.4, 0.40, False),
        ("primary_need", "N0", None, None, None, True),
        ("primary_need", "N6", None, None, None, True),
        ("primary_need", "N9", None, None, None, True),
    ]
    with duckdb.connect() as con:
        _matched(con, rows)
        model = matched_model(con, {"previous_model": PM}, AS_OF)
    found = audit_model(model, T)
    after = [f for f in found if f.count == "treated_after"]
    assert after and all(f.high - f.low < T for f in after), [f.describe() for f in found]
    # 120 treated cases before matching, 12 of them in the hidden needs; 100 matched, 3 of them
    assert all(f.high <= 3 for f in after)


def test_a_release_audited_whole_refuses_overlapping_programme_windows() -> None:
    with duckdb.connect() as con:
        con.execute("create schema marts")
        for table in ("outcome_metrics_suppressed", "outcome_years_suppressed"):
            con.execute(
                f"create table marts.{table} (window_name varchar, window_start date,"
                " window_end date, segment varchar, metric varchar, numerator bigint,"
                " denominator bigint, as_of_date date)"
            )
        con.execute(
            "insert into marts.outcome_metrics_suppressed values"
            " ('a', date '2014-01-01', date '2014-12-31', 'all', 'closure_rate', 10, 100, ?),"
            " ('b', date '2014-06-01', date '2015-05-31', 'all', 'closure_rate', 12, 100, ?)",
            [AS_OF, AS_OF],
        )
        con.execute(
            "create table marts.caseload_monthly_suppressed (team_id varchar, month_end date,"
            " open_children bigint, workers bigint, suppressed boolean)"
        )
        con.execute(
            "create table marts.matched_outcomes_suppressed (outcome varchar, comparison varchar)"
        )
        findings, _ = audit_release(con, T)
    assert findings and "overlap" in findings[0].reason


@pytest.mark.parametrize("seed", range(3))
def test_the_lp_ranges_are_the_integer_ranges(seed: int) -> None:
    # The audit bounds counts by linear programming, rounded inward; the intruder by integer
    # programming. On random releases of the declared relations the two agree.
    import numpy as np
    from fiw.disclosure import audit as audit_module
    from fiw.disclosure.model import metric_model
    from scipy.optimize import Bounds, LinearConstraint, milp

    published = audit_module._synthetic(windows=1, segments=3, fraction=0.35, seed=seed)
    model = metric_model(published)
    findings = {(f.key, f.count): (f.low, f.high) for f in audit_model(model, T)}
    hidden = [v for v, value in model.values.items() if value is None]
    index = {v: i for i, v in enumerate(hidden)}
    rows, lows, highs = [], [], []
    for rel in model.relations:
        coeffs = np.zeros(len(hidden))
        constant = -rel.rhs
        for coef, var in rel.terms:
            if model.values[var] is None:
                coeffs[index[var]] += coef
            else:
                constant += coef * model.values[var]
        if not coeffs.any():
            continue
        rows.append(coeffs)
        lows.append(-constant if rel.equality else -np.inf)
        highs.append(-constant)
    constraint = LinearConstraint(np.array(rows), lows, highs)
    for var, i in index.items():
        c = np.zeros(len(hidden))
        c[i] = 1.0
        bounds = []
        for sign in (1.0, -1.0):
            res = milp(sign * c, constraints=constraint, integrality=np.ones(len(hidden)),
                       bounds=Bounds(0, 10_000))  # fmt: skip
            assert res.status == 0
            bounds.append(sign * res.fun)
        low, high = round(bounds[0]), round(bounds[1])
        if high >= 10_000:
            continue  # unbounded above
        if high - low < T and not low == high == 0:
            assert findings.get(var) == (low, high), var
        else:
            assert var not in findings, var
