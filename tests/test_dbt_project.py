"""The dbt project end to end on a tiny raw fixture: ``dbt seed`` + ``dbt build`` (models,
generic tests and unit tests) against a temporary warehouse, then mart values checked against
numbers worked out by hand from ``tests/fixtures/dbt_raw.py``; plus ``sqlfluff lint`` of the models.

Hand calculation (current snapshot S1, as_of_date 2017-06-30; family_insights = FI,
2015-06-01..2016-10-31; previous_model = PM, 2014-01-01..2015-05-31):

cases (not NFA): R1 C1 2015-06-15..2016-06-20 RC7 | R2 C2 2015-06-20.. | R3 C3
2015-07-01..2016-03-01 RC8 | R4 C4 2014-12-01..2016-01-15 RC2 | R7 C7 2012-12-01.. | R8b C8
2014-01-10.. | R8c C8 2014-02-15.. | R10 C10 2015-05-01..
(NFA: R1b C1 2017-06-20, R5a/R5b C5 2015-03-02/2016-03-02, R6a/R6b C6 2015-03-02/2016-03-03,
R8a C8 2014-02-01; RQ is quarantined, S0/S3 rows are ignored)

- closure_rate FI: active R1 R2 R3 R4 R7 R8b R8c R10 = 8, closed in FI R1 R3 R4 = 3.
- closure_nfa_share FI: R3 (RC8) -> 1/3.
- closed_last_on_cin_plan_share FI: R1 (CIN 2016-01-10 after CP), R3 (CIN 2016-02-05 after the
  period of care) yes, R4 (last = period of care) no -> 2/3.
- re_referral_after_closure_rate FI: R1, R3, R4 all have close + 12 months <= 2017-06-30; C1
  referred 2017-06-20 = exactly 12 months after closing -> 1/3.
- de_escalation_rate FI: cases with an own CP / period of care active in FI: R1 (CP), R2 (CP, no
  referral id -> open case), R3 (LAC), R4 (2nd period, after the one-day gap), R7 (CP 2015-07-01),
  R8c (CP naming NFA R8a -> latest open case R8c, not R8b), R10 (CP) = 7; de-escalations: R1 CP->CIN
  (same day, worked example 1), R3 LAC->CIN (4 days) -> 2/7; R2 is an exit (8 days); R10 CP is an
  escalation (LAC 2 days before the end ties CIN 2 days after: higher level wins).
- cp_to_cin share 1/2, lac_to_cin share 1/2.
- re_referral_rate FI: R1 R2 R3 R5b R6b = 5, only R5b (exactly 12 months) -> 1/5;
  PM: R4 R8a R8b R8c R5a R6a R10 = 7, R8a and R8c follow R8b -> 2/7.
- repeat_cp_plan_rate FI: CP plans starting P1 P2 P7b P10 = 4, P7b repeats P7a -> 1/4.
- cp_plan_2yr_plus_rate FI: ending P1 P2 P8 P10 = 4, P8 2014-03-01..2016-02-29 is a day short
  -> 0/4;
  PM: P7a 2013-01-01..2015-01-01 exactly 2 years -> 1/1.
- returned_home_rate FI: children C3 C4 C10 = 3, C3 (E4A, worked example 2) and C10 (E4B) -> 2/3.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from fiw.settings import DBT_PROJECT_DIR, Settings

from tests.fixtures import dbt_raw

BIN = Path(sys.executable).parent
KEY = "dbt-project-test-key"

FI_ALL = {
    "closure_rate": (3, 8),
    "closure_nfa_share": (1, 3),
    "closed_last_on_cin_plan_share": (2, 3),
    "re_referral_after_closure_rate": (1, 3),
    "de_escalation_rate": (2, 7),
    "de_escalation_cp_to_cin_share": (1, 2),
    "de_escalation_lac_to_cin_share": (1, 2),
    "re_referral_rate": (1, 5),
    "repeat_cp_plan_rate": (1, 4),
    "cp_plan_2yr_plus_rate": (0, 4),
    "returned_home_rate": (2, 3),
}
PM_ALL = {
    "re_referral_rate": (2, 7),
    "cp_plan_2yr_plus_rate": (1, 1),
    "closure_rate": (0, 5),
    "de_escalation_rate": (0, 3),
    "closure_nfa_share": (0, 0),
}


def _key(value: str) -> str:
    return hmac.new(KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def _dbt(args: list[str], env: dict, target: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(BIN / "dbt"),
            *args,
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(target),
            "--log-path",
            str(target / "logs"),
        ],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    home = tmp_path_factory.mktemp("dbt_home")
    env = {**os.environ, "FIW_PSEUDONYMISATION_KEY": KEY}
    old = os.environ.get("FIW_PSEUDONYMISATION_KEY")
    os.environ["FIW_PSEUDONYMISATION_KEY"] = KEY
    try:
        settings = Settings.resolve(home=home, exports=str(home / "exports"))
        dbt_raw.build(settings)
    finally:
        if old is None:
            os.environ.pop("FIW_PSEUDONYMISATION_KEY", None)
        else:
            os.environ["FIW_PSEUDONYMISATION_KEY"] = old
    env["FIW_WAREHOUSE_PATH"] = str(settings.warehouse_path)
    target = home / "dbt_target"
    seed = _dbt(["seed"], env, target)
    assert seed.returncode == 0, seed.stdout[-4000:]
    build = _dbt(["build"], env, target)
    assert build.returncode == 0, build.stdout[-6000:]
    results = json.loads((target / "run_results.json").read_text())["results"]
    return settings, env, target, results


def test_build_runs_everything_and_passes(built):
    _, _, _, results = built
    bad = [r["unique_id"] for r in results if r["status"] not in ("success", "pass")]
    assert not bad
    kinds = {}
    for r in results:
        kind = r["unique_id"].split(".")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    # 24 + the key maps stg_ssd__child_keys, stg_ssd__referral_keys + 5 of case matching + 3 of
    # window-free flags + 7 of trends and differences + 3 of the release (outcome_years, its
    # suppressed copy, caseload_monthly_suppressed)
    assert kinds["model"] == 44
    assert kinds["unit_test"] >= 17
    assert kinds["test"] >= 150


def _rows(settings, sql):
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _columns(settings, schema, table):
    return [
        r[0]
        for r in _rows(
            settings,
            "select column_name from information_schema.columns "
            f"where table_schema = '{schema}' and table_name = '{table}' order by ordinal_position",
        )
    ]


def test_schemas_and_published_columns(built):
    settings, *_ = built
    tables = {
        (s, t)
        for s, t in _rows(
            settings, "select table_schema, table_name from information_schema.tables"
        )
    }
    assert ("marts", "outcome_metrics") in tables
    assert ("marts", "outcome_metrics_suppressed") in tables
    assert ("intermediate", "int_plan_transitions") in tables
    assert ("staging", "stg_ssd__person") in tables
    assert ("reference", "units") in tables
    assert _columns(settings, "marts", "plan_episodes") == [
        "plan_episode_id",
        "child_key",
        "case_key",
        "plan_type",
        "level",
        "start_date",
        "end_date",
        "end_reason",
        "segment",
    ]
    assert _columns(settings, "marts", "plan_transitions") == [
        "from_plan_episode_id",
        "to_plan_episode_id",
        "child_key",
        "from_type",
        "to_type",
        "direction",
        "from_end_date",
        "to_start_date",
    ]
    assert _columns(settings, "marts", "caseload_monthly") == [
        "team_id",
        "unit_name",
        "segment",
        "month_end",
        "open_children",
        "workers",
        "fte",
        "children_per_fte",
    ]
    metric_cols = [
        "window_name",
        "window_start",
        "window_end",
        "segment",
        "metric",
        "numerator",
        "denominator",
        "rate",
        "ci_low",
        "ci_high",
        "suppressed",
        "as_of_date",
    ]
    for table in ("outcome_metrics", "outcome_trends"):
        assert _columns(settings, "marts", table) == metric_cols
        assert _columns(settings, "marts", f"{table}_suppressed") == metric_cols


def test_staging_reads_current_snapshot_pseudonymised(built):
    settings, *_ = built
    assert _rows(settings, "select * from staging.stg_ssd__current_snapshot") == [
        ("S1", dbt_raw.AS_OF)
    ]
    keys = {r[0] for r in _rows(settings, "select referral_key from staging.stg_ssd__cin_episodes")}
    assert keys == {_key(r["cine_referral_id"]) for r in dbt_raw.CIN_EPISODES}
    assert _key("RQ") not in keys  # quarantined
    person = _columns(settings, "staging", "stg_ssd__person")
    assert person == ["child_key", "sex", "ethnicity_code", "birth_month", "death_date"]
    c1 = _rows(
        settings,
        f"select sex, birth_month from staging.stg_ssd__person where child_key = '{_key('C1')}'",
    )
    assert [(s, str(b)) for s, b in c1] == [("M", "2008-05-01")]
    # plan ids are kind-prefixed keyed hashes: CIN P1 and CP P1 do not collide
    ids = {r[0] for r in _rows(settings, "select plan_episode_id from marts.plan_episodes")}
    assert {_key("CIN:P1"), _key("CP:P1"), _key("LAC:E1"), _key("LAC:E3"), _key("LAC:E4")} <= ids
    assert _key("LAC:E2") not in ids  # second episode of the X1 chain


def test_outcome_metrics_values(built):
    settings, *_ = built
    rows = _rows(
        settings,
        "select window_name, metric, numerator, denominator, rate, suppressed "
        "from marts.outcome_metrics where segment = 'all'",
    )
    got = {(w, m): (n, d, r, s) for w, m, n, d, r, s in rows}
    for metric, (n, d) in FI_ALL.items():
        num, den, rate, suppressed = got[("family_insights", metric)]
        assert (num, den) == (n, d), metric
        assert rate == pytest.approx(n / d)
        assert suppressed is False
    for metric, (n, d) in PM_ALL.items():
        num, den, rate, _ = got[("previous_model", metric)]
        assert (num, den) == (n, d), metric
        assert rate == (None if d == 0 else pytest.approx(n / d))
    # every window x segment x metric: 2 windows x (7 unit segments + unassigned + all) x 11
    assert _rows(settings, "select count(*) from marts.outcome_metrics") == [(2 * 9 * 11,)]
    seg = dict(
        _rows(
            settings,
            "select segment, numerator || '/' || denominator "
            "from marts.outcome_metrics where window_name = 'family_insights' "
            "and metric = 'de_escalation_rate'",
        )
    )
    assert seg["domestic abuse"] == "1/2"  # R1 (involvement T101), R2 (referral team T101)
    assert seg["neglect"] == "1/2"  # R3 (involvement T103), R10 (involvement T103 beats T101)
    assert seg["generic"] == "0/2"  # R4, R7
    assert seg["unassigned"] == "0/1"  # R8c: team T999 not in units
    assert seg["disability"] == "0/0"


def test_outcome_metrics_suppressed(built):
    settings, *_ = built
    rows = _rows(
        settings,
        "select numerator, denominator, rate, suppressed "
        "from marts.outcome_metrics_suppressed where segment = 'all' "
        "and window_name = 'family_insights' and metric = 'de_escalation_rate'",
    )
    assert rows == [(None, None, None, True)]
    # The fixture is tiny: beside the small counts, complementary suppression hides whatever
    # would let them be worked out, and the audit (by linear programming) finds nothing left.
    from fiw.disclosure.audit import audit
    from fiw.disclosure.cells import CellKey, PublishedCell

    rows = _rows(
        settings,
        "select window_name, segment, metric, numerator, denominator "
        "from marts.outcome_metrics_suppressed",
    )
    published = [PublishedCell(CellKey(w, s, m), n, d) for w, s, m, n, d in rows]
    assert [f.describe() for f in audit(published)] == []
    # zero is not a small number: no 0 / 0 cell is suppressed for itself (in this tiny fixture
    # the programme windows' families are then hidden whole as complements all the same)
    from fiw.disclosure.cells import Cell
    from fiw.disclosure.suppression import suppress

    unsuppressed = [
        Cell(CellKey(w, s, m), n, d)
        for w, s, m, n, d in _rows(
            settings,
            "select window_name, segment, metric, numerator, denominator"
            " from marts.outcome_metrics",
        )
    ]
    zeros = [c.key for c in unsuppressed if c.numerator == c.denominator == 0]
    chosen = suppress(unsuppressed)
    assert zeros and not set(zeros) & chosen.primary


def test_plan_episodes_and_transitions(built):
    settings, *_ = built
    by_id = {
        r[0]: r[1:]
        for r in _rows(
            settings,
            "select plan_episode_id, case_key, segment, start_date, end_date, end_reason "
            "from marts.plan_episodes",
        )
    }
    assert len(by_id) == 15
    # worked example 2: one period 2015-08-01..2016-02-01 ending E4A
    case, _, start, end, reason = by_id[_key("LAC:E1")]
    assert (case, str(start), str(end), reason) == (_key("R3"), "2015-08-01", "2016-02-01", "E4A")
    # NFA referral -> latest open case; no case at all -> NULL / unassigned
    assert by_id[_key("CP:P8")][:2] == (_key("R8c"), "unassigned")
    assert by_id[_key("CIN:P9")][:2] == (None, "unassigned")
    # segment as of as_of_date: R10's latest involvement (T105, 2016-11-15)
    assert by_id[_key("CP:P10")][1] == "adolescents at risk"
    directions = dict(
        _rows(settings, "select direction, count(*) from marts.plan_transitions group by direction")
    )
    assert directions == {"de_escalation": 2, "escalation": 1, "exit": 9}
    example1 = _rows(
        settings,
        "select to_plan_episode_id, direction from marts.plan_transitions "
        f"where from_plan_episode_id = '{_key('CP:P1')}'",
    )
    assert example1 == [(_key("CIN:P1"), "de_escalation")]
    eight_days = _rows(
        settings,
        "select to_plan_episode_id, direction from marts.plan_transitions "
        f"where from_plan_episode_id = '{_key('CP:P2')}'",
    )
    assert eight_days == [(None, "exit")]


def test_caseload_monthly(built):
    settings, *_ = built
    rows = {
        (t, str(m)): (c, w, float(f), r)
        for t, m, c, w, f, r in _rows(
            settings,
            "select team_id, month_end, open_children, workers, fte, children_per_fte "
            "from marts.caseload_monthly",
        )
    }
    # month ends 2015-05-31 .. 2017-06-30 (26) for T101, T103, T105
    assert len(rows) == 3 * 26
    assert rows[("T103", "2015-05-31")] == (1, 1, 1.0, 1.0)
    c, w, f, r = rows[("T103", "2015-07-31")]  # C10 (W1, 1.0) and C3 (W3, 0.8)
    assert (c, w, f) == (2, 2, 1.8) and r == pytest.approx(2 / 1.8)
    assert rows[("T103", "2016-03-31")] == (1, 1, 1.0, 1.0)  # I3 ended 2016-03-01
    assert rows[("T105", "2016-11-30")] == (1, 1, 0.5, 2.0)
    assert rows[("T101", "2016-11-30")] == (0, 0, 0.0, None)


def test_snapshot_var_selects_snapshot(built):
    settings, env, target, _ = built
    run = _dbt(
        [
            "run",
            "-s",
            "stg_ssd__current_snapshot",
            "stg_ssd__cin_episodes",
            "--vars",
            "{snapshot_id: S0}",
        ],
        env,
        target,
    )
    assert run.returncode == 0, run.stdout[-4000:]
    assert _rows(settings, "select snapshot_id from staging.stg_ssd__current_snapshot") == [("S0",)]
    keys = {r[0] for r in _rows(settings, "select referral_key from staging.stg_ssd__cin_episodes")}
    assert keys == {_key(f"X{i}") for i in range(3)}


@pytest.mark.skipif(
    os.environ.get("FIW_SQL_LINTED") == "1",
    reason="make test ran `make lint` (sqlfluff on the same models) just before pytest",
)
def test_sqlfluff_lint_models_clean(tmp_path):
    """The models lint clean (for pytest run on its own; `make test` lints them first)."""
    env = {**os.environ, "FIW_WAREHOUSE_PATH": str(tmp_path / "lint.duckdb")}
    lint = subprocess.run(
        [str(BIN / "sqlfluff"), "lint", "models", "--disable-progress-bar", "--nocolor"],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert lint.returncode == 0, lint.stdout[-6000:]
