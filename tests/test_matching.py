"""Case matching (docs/matching.md) through dbt on the worked example of the docs
(``tests/fixtures/matching_raw.py``), against numbers computed by hand here.

The example (as_of_date 2017-06-30; every referral from a school with need N1):

| case | window | age band | sex | earlier referral | CP plan before | stratum | closed |
|---|---|---|---|---|---|---|---|
| T1 | treated | 5-9 | F | no | no | A | yes |
| T2 | treated | 5-9 | F | no | no | A | no |
| T3 | treated | 10-15 | M | no | no | B | yes |
| T4 | treated | 0-4 | M | no | yes | C (treated only: dropped) | yes |
| T5 | treated | 10-15 | M | no | no | follow-up ends 2017-09-01: not counted | |
| C1 | control | 5-9 | F | no | no | A | no |
| C2 | control | 10-15 | M | no | no | B | yes |
| C3 | control | 10-15 (born 25 Oct 2004, referred 2 Oct 2014) | M | no | no | B | no |
| C5 | control | 10-15 | M | no | no | B | no |
| C4 | control | 16+ | F | yes | no | D (control only: dropped) | yes |

Matched: M_T = 3 (T1, T2, T3), M_C = 4 (C1, C2, C3, C5). Weights: treated 1; C1 in A
(2 / 1) x (4 / 3) = 8/3; C2, C3, C5 in B (1 / 3) x (4 / 3) = 4/9 each (sum 8/3 + 3 x 4/9 = 4).
Closed: treated 2/3; control (4/9 x 1) / 4 = 1/9; difference 5/9.
"""

from __future__ import annotations

import json
import math
import os
import sys
from fractions import Fraction as F
from pathlib import Path

import duckdb
import pytest
from fiw.settings import Settings

from tests.fixtures import matching_raw
from tests.test_dbt_project import _dbt, _key

BIN = Path(sys.executable).parent
KEY = "dbt-project-test-key"  # the key _key() hashes with
Z = 1.959964

WEIGHTS = {"T1": 1, "T2": 1, "T3": 1, "T4": 0, "T5": 0}
WEIGHTS |= {"C1": F(8, 3), "C2": F(4, 9), "C3": F(4, 9), "C5": F(4, 9), "C4": 0}


def weighted_variance(cases: list[tuple[F, int]]) -> F:
    """sum(w^2 (y - p)^2) / (sum w)^2 with p the weighted rate (docs/matching.md)."""
    total = sum(w for w, _ in cases)
    p = sum(w * y for w, y in cases) / total
    return sum(w * w * (y - p) ** 2 for w, y in cases) / total**2


# (outcome, comparison) -> treated cases, count, rate, control cases, count, rate, variances
def _side(cases: dict[str, int], weights: dict[str, F | int]):
    treated = [(F(weights[c]), y) for c, y in cases.items() if c.startswith("T")]
    control = [(F(weights[c]), y) for c, y in cases.items() if c.startswith("C")]
    out = []
    for side in (treated, control):
        total = sum(w for w, _ in side)
        out += [len(side), sum(y for _, y in side), sum(w * y for w, y in side) / total]
    return (*out, weighted_variance(treated) + weighted_variance(control))


# each outcome's population (case -> 1 with the outcome, 0 without), by hand
POPULATIONS = {
    "closed": {"T1": 1, "T2": 0, "T3": 1, "T4": 1, "C1": 0, "C2": 1, "C3": 0, "C5": 0, "C4": 1},
    "stepped_up": {"T1": 1, "T2": 0, "T3": 1, "T4": 0, "C1": 1, "C2": 0, "C3": 0, "C5": 0, "C4": 0},
    "de_escalated": {
        "T1": 1, "T2": 0, "T3": 0, "T4": 0, "C1": 0, "C2": 0, "C3": 0, "C5": 0, "C4": 0,
    },
    # closed in the follow-up, 12 months after closing passed (T3 closed 2016-09-01: not yet)
    "re_referred_after_closure": {"T1": 1, "T4": 0, "C2": 0, "C4": 1},
    # became looked after in the follow-up
    "returned_home": {"T3": 1, "C1": 0},
}  # fmt: skip
MATCHED = {"T1", "T2", "T3", "C1", "C2", "C3", "C5"}


def expected(outcome: str, comparison: str):
    cases = POPULATIONS[outcome]
    if comparison == "matched":
        return _side({c: y for c, y in cases.items() if c in MATCHED}, WEIGHTS)
    return _side(cases, dict.fromkeys(cases, 1))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    home = tmp_path_factory.mktemp("matching_home")
    old = os.environ.get("FIW_PSEUDONYMISATION_KEY")
    os.environ["FIW_PSEUDONYMISATION_KEY"] = KEY
    try:
        settings = Settings.resolve(home=home, exports=str(home / "exports"))
        matching_raw.build(settings)
    finally:
        if old is None:
            os.environ.pop("FIW_PSEUDONYMISATION_KEY", None)
        else:
            os.environ["FIW_PSEUDONYMISATION_KEY"] = old
    env = {
        **os.environ,
        "FIW_PSEUDONYMISATION_KEY": KEY,
        "FIW_WAREHOUSE_PATH": str(settings.warehouse_path),
    }
    target = home / "dbt_target"
    select = ["-s", "+matched_outcomes_suppressed", "+matched_balance_suppressed"]
    select += ["--indirect-selection", "cautious"]
    build = _dbt(["build", *select], env, target)
    assert build.returncode == 0, build.stdout[-6000:]
    results = json.loads((target / "run_results.json").read_text())["results"]
    assert all(r["status"] in ("success", "pass") for r in results)
    return settings, env, target


def _rows(settings, sql):
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def _by_case(settings) -> dict[str, tuple]:
    names = {_key(r["cine_referral_id"]): r["cine_person_id"] for r in matching_raw.CIN_EPISODES}
    rows = _rows(
        settings,
        "select case_key, stratum, is_followed_up, is_matched, matching_weight"
        " from intermediate.int_matching_cases",
    )
    return {names[k]: tuple(rest) for k, *rest in rows}


def test_strata_weights_and_the_unmatched_strata(built):
    settings, *_ = built
    cases = _by_case(settings)
    assert set(cases) == {"T1", "T2", "T3", "T4", "T5", "C1", "C2", "C3", "C4", "C5"}
    a = "5-9 | F | N1 | education | false | false"
    b = "10-15 | M | N1 | education | false | false"
    assert cases["T1"][0] == cases["T2"][0] == cases["C1"][0] == a
    # C3 is 9 by date of birth, 10 by month of birth: matched with the 10-15s
    assert cases["T3"][0] == cases["C2"][0] == cases["C3"][0] == cases["C5"][0] == b
    assert cases["T4"][0] == "0-4 | M | N1 | education | false | true"
    assert cases["C4"][0] == "16+ | F | N1 | education | true | false"
    assert cases["T5"][:3] == (b, False, False)  # follow-up not over: not matched
    for case, weight in WEIGHTS.items():
        _, followed, matched, got = cases[case]
        assert got == pytest.approx(float(weight)), case
        assert matched == (weight > 0), case
        assert followed == (case != "T5"), case
    # the weights of matched controls add up to the matched controls
    assert sum(float(w) for c, w in WEIGHTS.items() if c.startswith("C")) == pytest.approx(4)


def test_outcome_flags_per_case(built):
    settings, *_ = built
    names = {_key(r["cine_referral_id"]): r["cine_person_id"] for r in matching_raw.CIN_EPISODES}
    columns = {
        "closed": "is_closed",
        "stepped_up": "is_stepped_up",
        "de_escalated": "is_de_escalated",
        "re_referred_after_closure": "is_re_referred_after_closure",
        "returned_home": "is_returned_home",
    }
    for outcome, column in columns.items():
        got = {
            names[k]: int(v)
            for k, v in _rows(
                settings,
                f"select case_key, {column} from intermediate.int_matching_cases"
                f" where is_followed_up and {column} is not null",
            )
        }
        assert got == POPULATIONS[outcome], outcome


def test_matched_outcomes_by_hand(built):
    settings, *_ = built
    rows = _rows(
        settings,
        "select outcome, comparison, treated_cases, treated_count, treated_rate, control_cases,"
        " control_count, control_rate, difference, ci_lower, ci_upper, treated_matched,"
        " treated_dropped, control_matched, control_dropped, suppressed, follow_up_months,"
        " treated_window, control_window from marts.matched_outcomes",
    )
    assert len(rows) == 10
    for outcome, comparison, *got in rows:
        n_t, k_t, r_t, n_c, k_c, r_c, var = expected(outcome, comparison)
        key = f"{outcome} {comparison}"
        assert got[:2] == [n_t, k_t], key
        assert got[2] == pytest.approx(float(r_t)), key
        assert got[3:5] == [n_c, k_c], key
        assert got[5] == pytest.approx(float(r_c)), key
        assert got[6] == pytest.approx(float(r_t - r_c)), key
        half = Z * math.sqrt(var)
        assert got[7] == pytest.approx(float(r_t - r_c) - half), key
        assert got[8] == pytest.approx(float(r_t - r_c) + half), key
        assert got[9:] == [3, 1, 4, 1, True, 12, "family_insights", "previous_model"], key


def test_the_worked_example_of_the_docs(built):
    """docs/matching.md's figures for `closed`, as written there."""
    settings, *_ = built
    (row,) = _rows(
        settings,
        "select treated_rate, control_rate, difference, ci_lower, ci_upper"
        " from marts.matched_outcomes where outcome = 'closed' and comparison = 'matched'",
    )
    assert row == pytest.approx((2 / 3, 1 / 9, 5 / 9, -0.0312, 1.1423), abs=5e-5)
    # by hand: var_T = (2/3)(1/3)/3 = 2/27; var_C = 1632/6561 / 16 = 34/2187
    assert weighted_variance([(F(1), 1), (F(1), 0), (F(1), 1)]) == F(2, 27)
    control = [(F(8, 3), 0), (F(4, 9), 1), (F(4, 9), 0), (F(4, 9), 0)]
    assert weighted_variance(control) == F(34, 2187)
    (unmatched,) = _rows(
        settings,
        "select treated_rate, control_rate, difference from marts.matched_outcomes"
        " where outcome = 'closed' and comparison = 'unmatched'",
    )
    assert unmatched == pytest.approx((0.75, 0.4, 0.35))


def _std(t: float, c: float) -> float:
    return (t - c) / math.sqrt((t * (1 - t) + c * (1 - c)) / 2)


def test_balance_before_and_after(built):
    settings, *_ = built
    rows = {
        (ch, cat): rest
        for ch, cat, *rest in _rows(
            settings,
            "select characteristic, category, used_in_matching, treated_mean_before,"
            " control_mean_before, std_diff_before, treated_mean_after, control_mean_after,"
            " std_diff_after from marts.matched_balance",
        )
    }
    assert set(rows) == {
        ("age_band", "0-4"), ("age_band", "5-9"), ("age_band", "10-15"), ("age_band", "16+"),
        ("sex", "F"), ("sex", "M"), ("primary_need", "N1"), ("referral_source", "education"),
        ("referred_in_previous_12_months", "true"), ("cp_plan_before", "true"),
    }  # fmt: skip
    want = {  # treated and control means before, after
        ("sex", "F"): (2 / 4, 2 / 5, 2 / 3, 2 / 3),
        ("age_band", "0-4"): (1 / 4, 0, 0, 0),
        ("age_band", "10-15"): (1 / 4, 3 / 5, 1 / 3, (3 * 4 / 9) / 4),
        ("referred_in_previous_12_months", "true"): (0, 1 / 5, 0, 0),
        ("cp_plan_before", "true"): (1 / 4, 0, 0, 0),
        ("primary_need", "N1"): (1, 1, 1, 1),
    }
    for key, (tb, cb, ta, ca) in want.items():
        used, *got = rows[key]
        assert used is True
        assert got == pytest.approx(
            [tb, cb, 0 if tb == cb else _std(tb, cb), ta, ca, 0], abs=1e-9
        ), key
    assert rows[("sex", "F")][3] == pytest.approx(0.1 / math.sqrt(0.245))
    assert rows[("referred_in_previous_12_months", "true")][3] == pytest.approx(-1 / math.sqrt(2))


def test_published_versions_suppress_the_tiny_example(built):
    """Dropped groups of 1 are small numbers: every figure is withheld, counts too."""
    settings, *_ = built
    outcomes = _rows(
        settings, "select * exclude (as_of_date) from marts.matched_outcomes_suppressed"
    )
    assert len(outcomes) == 10
    for row in outcomes:
        assert row[5:-1] == (None,) * 13 and row[-1] is True
    balance = _rows(
        settings,
        "select distinct treated_mean_before, std_diff_after, suppressed"
        " from marts.matched_balance_suppressed",
    )
    assert balance == [(None, None, True)]


def test_the_strata_are_a_var(built):
    """Matched on sex alone every followed-up case matches: F = T1, T2 | C1, C4; M = T3, T4 |
    C2, C3, C5; weights (2/2)(5/4) = 5/4 and (2/3)(5/4) = 5/6."""
    settings, env, target = built
    run = _dbt(
        ["run", "-s", "int_matching_cases", "--vars", "{matching_characteristics: [sex]}"],
        env,
        target,
    )
    try:
        assert run.returncode == 0, run.stdout[-4000:]
        cases = _by_case(settings)
        assert {c: s for c, (s, *_) in cases.items()} == {
            "T1": "F", "T2": "F", "T3": "M", "T4": "M", "T5": "M",
            "C1": "F", "C2": "M", "C3": "M", "C4": "F", "C5": "M",
        }  # fmt: skip
        want = {"T1": 1, "T3": 1, "T4": 1, "C1": 1.25, "C4": 1.25, "C2": 5 / 6, "C5": 5 / 6}
        for case, weight in want.items():
            assert cases[case][3] == pytest.approx(weight), case
        assert cases["T5"][3] == 0
    finally:
        restore = _dbt(["run", "-s", "int_matching_cases"], env, target)
        assert restore.returncode == 0, restore.stdout[-4000:]


def test_an_unknown_characteristic_stops_the_build(built):
    _, env, target = built
    run = _dbt(
        ["compile", "-s", "int_matching_cases"]
        + ["--vars", "{matching_characteristics: [ethnicity]}"],
        env,
        target,
    )
    assert run.returncode != 0
    assert "unknown characteristic 'ethnicity'" in run.stdout
