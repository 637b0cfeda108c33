"""The synthetic authority (``fiw.synthetic.generate``): deterministic, valid, realistic enough.

Validity is checked with DuckDB over the CSVs, rule by rule from ``fiw.contract`` (plus the
statutory cross-record rules), and the era findings with a quick approximation of metrics.md.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from datetime import date
from pathlib import Path

import duckdb
from fiw.contract import (
    CLA_PRIMARY_NEEDS,
    DATE,
    FLAG,
    OBJECTS,
    SEEDS_DIR,
    Interval,
    PresentTogether,
    Range,
    code_list,
)
from fiw.synthetic import generate

AS_OF = date(2017, 11, 30)


def connect(folder: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one all-text view per object of the snapshot ``folder``."""
    con = duckdb.connect()
    con.execute("CREATE MACRO d(x) AS try_cast(x AS DATE)")
    con.execute("CREATE MACRO till(x) AS coalesce(try_cast(x AS DATE), DATE '9999-12-31')")
    for name in OBJECTS:
        path = folder / f"{name}.csv"
        con.execute(
            f"CREATE VIEW {name} AS SELECT * FROM read_csv('{path}', header = true, "
            "all_varchar = true, quote = '\"', escape = '\"', delim = ',')"
        )
    return con


def _codes(column_name: str, seed: str) -> str:
    codes = CLA_PRIMARY_NEEDS if column_name == "clae_cla_primary_need_code" else code_list(seed)
    return ", ".join(f"'{c}'" for c in sorted(codes))


def _row_rule_checks() -> list[tuple[str, str, str]]:
    """(kind, object, SQL condition of a bad row) for every row rule of the contract."""
    checks = []
    for name, obj in OBJECTS.items():
        pk = obj.primary_key
        checks.append(("pk_null", name, f"{pk} IS NULL"))
        checks.append(
            (
                "pk_duplicate",
                name,
                f"{pk} IN (SELECT {pk} FROM {name} GROUP BY 1 HAVING count(*) > 1)",
            )
        )
        for c in obj.columns:
            col = c.name
            if c.not_null and col != pk:
                checks.append(("not_null", name, f"{col} IS NULL"))
            if c.kind == DATE:
                iso = f"regexp_full_match({col}, '\\d{{4}}-\\d{{2}}-\\d{{2}}')"
                bad = f"NOT {iso} OR try_cast({col} AS DATE) IS NULL"
                checks.append(("bad_date", name, f"{col} IS NOT NULL AND ({bad})"))
            if c.kind == FLAG:
                checks.append(("unknown_code", name, f"{col} NOT IN ('Y', 'N')"))
            if c.codes:
                checks.append(("unknown_code", name, f"{col} NOT IN ({_codes(col, c.codes)})"))
            if c.references:
                key, target = OBJECTS[c.references].primary_key, c.references
                keys = f"SELECT {key} FROM {target} WHERE {key} IS NOT NULL"
                checks.append(("dangling_reference", name, f"{col} NOT IN ({keys})"))
        for rule in obj.rules:
            if isinstance(rule, Interval):
                s, e = (f"try_cast({x} AS DATE)" for x in (rule.start, rule.end))
                checks.append(("end_before_start", name, f"{e} < {s}"))
            elif isinstance(rule, PresentTogether):
                checks.append(
                    ("close_without_reason", name, f"({rule.a} IS NULL) <> ({rule.b} IS NULL)")
                )
            elif isinstance(rule, Range):
                v = f"try_cast({rule.column} AS DOUBLE)"
                cond = f"{v} IS NULL OR {v} <= {rule.low_exclusive} OR {v} > {rule.high_inclusive}"
                checks.append(("out_of_range", name, f"{rule.column} IS NOT NULL AND ({cond})"))
    return checks


STATUTORY = {
    "cp_plans_overlap": """
        SELECT count(*) FROM ssd_cp_plans a JOIN ssd_cp_plans b
          ON a.cppl_person_id = b.cppl_person_id AND a.cppl_cp_plan_id < b.cppl_cp_plan_id
         AND d(a.cppl_cp_plan_start_date) <= till(b.cppl_cp_plan_end_date)
         AND d(b.cppl_cp_plan_start_date) <= till(a.cppl_cp_plan_end_date)""",
    "cin_plan_inside_cp_plan": """
        SELECT count(*) FROM ssd_cin_plans n JOIN ssd_cp_plans p
          ON n.cinp_person_id = p.cppl_person_id
         AND d(n.cinp_cin_plan_start_date) >= d(p.cppl_cp_plan_start_date)
         AND d(n.cinp_cin_plan_start_date) < till(p.cppl_cp_plan_end_date)""",
    "care_episode_before_previous_ends": """
        SELECT count(*) FROM (
          SELECT d(clae_cla_episode_start_date) AS s, lag(d(clae_cla_episode_ceased_date))
                 OVER (PARTITION BY clae_person_id ORDER BY d(clae_cla_episode_start_date),
                       clae_cla_episode_id) AS prev_end,
                 lag(clae_cla_episode_id) OVER (PARTITION BY clae_person_id
                       ORDER BY d(clae_cla_episode_start_date), clae_cla_episode_id) AS prev_id
          FROM ssd_cla_episodes)
        WHERE prev_id IS NOT NULL AND (prev_end IS NULL OR s < prev_end)""",
    "x1_without_next_episode": """
        SELECT count(*) FROM ssd_cla_episodes a WHERE a.clae_cla_episode_ceased_reason = 'X1'
          AND NOT EXISTS (SELECT 1 FROM ssd_cla_episodes b WHERE b.clae_person_id = a.clae_person_id
                          AND b.clae_cla_episode_start_date = a.clae_cla_episode_ceased_date)""",
}


def violations(folder: Path) -> Counter[str]:
    """Rows breaking each contract rule (by kind), statutory rule, and dates after the snapshot."""
    con = connect(folder)
    found: Counter[str] = Counter()
    for name, obj in OBJECTS.items():
        with (folder / f"{name}.csv").open(newline="", encoding="utf-8") as f:
            assert next(csv.reader(f)) == obj.column_names, name
    for kind, name, condition in _row_rule_checks():
        found[kind] += con.execute(f"SELECT count(*) FROM {name} WHERE {condition}").fetchone()[0]
    for rule, sql in STATUTORY.items():
        found[rule] += con.execute(sql).fetchone()[0]
    day = folder.name
    for name, obj in OBJECTS.items():
        for c in obj.columns:
            if c.kind == DATE:
                found["after_snapshot"] += con.execute(
                    f"SELECT count(*) FROM {name} WHERE try_cast({c.name} AS DATE) > DATE '{day}'"
                ).fetchone()[0]
    return found


def hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# -- era findings: a quick approximation of metrics.md over the CSVs ------------------------------

ERA_SQL = """
WITH windows AS (
  SELECT window_name AS w, window_start::DATE AS ws, window_end::DATE AS we
  FROM read_csv('{seeds}/programme_windows.csv', all_varchar = true)),
home AS (SELECT code FROM read_csv('{seeds}/ref_reasons_episode_ceased.csv', all_varchar = true)
         WHERE returned_home = 'true'),
referrals AS (
  SELECT cine_referral_id AS rid, cine_person_id AS pid, cine_referral_date::DATE AS rdate,
         cine_close_date::DATE AS cdate, cine_close_reason AS reason, cine_referral_nfa AS nfa
  FROM ssd_cin_episodes),
cases AS (SELECT * FROM referrals WHERE coalesce(nfa, '') <> 'Y'),
eps AS (
  SELECT clae_cla_episode_id AS id, clae_person_id AS pid, clae_referral_id AS rid,
         clae_cla_episode_start_date::DATE AS s, clae_cla_episode_ceased_date::DATE AS e,
         clae_cla_episode_ceased_reason AS reason FROM ssd_cla_episodes),
flagged AS (
  SELECT c.*, NOT EXISTS (SELECT 1 FROM eps p WHERE p.pid = c.pid AND p.reason = 'X1'
                          AND p.e = c.s) AS first FROM eps c),
grouped AS (
  SELECT *, sum(first::INT) OVER (PARTITION BY pid ORDER BY s, id) AS grp FROM flagged),
periods AS (
  SELECT pid, min(s) AS s, arg_max_null(e, s) AS e, arg_max_null(reason, s) AS reason,
         arg_min_null(rid, s) AS rid, arg_min(id, s) AS id FROM grouped GROUP BY pid, grp),
plans AS (
  SELECT 'CIN' AS kind, 1 AS lvl, cinp_cin_plan_id AS id, cinp_person_id AS pid,
         cinp_referral_id AS rid, cinp_cin_plan_start_date::DATE AS s,
         cinp_cin_plan_end_date::DATE AS e, NULL AS reason FROM ssd_cin_plans
  UNION ALL
  SELECT 'CP', 2, cppl_cp_plan_id, cppl_person_id, cppl_referral_id,
         cppl_cp_plan_start_date::DATE, cppl_cp_plan_end_date::DATE, NULL FROM ssd_cp_plans
  UNION ALL SELECT 'LAC', 3, id, pid, rid, s, e, reason FROM periods),
fallback AS (
  SELECT p.kind, p.id, arg_max(c.rid, c.rdate) AS case_id FROM plans p JOIN cases c
    ON c.pid = p.pid AND c.rdate <= p.s AND (c.cdate IS NULL OR c.cdate >= p.s)
  GROUP BY p.kind, p.id),
pc AS (
  SELECT p.*, coalesce(c.rid, f.case_id) AS case_id FROM plans p
  LEFT JOIN cases c ON c.rid = p.rid LEFT JOIN fallback f ON f.kind = p.kind AND f.id = p.id),
cand AS (
  SELECT p.kind, p.id, p.lvl, p.e, p.case_id, q.kind AS qkind, q.lvl AS qlvl, q.s AS qs,
         row_number() OVER (PARTITION BY p.kind, p.id
                            ORDER BY abs(date_diff('day', p.e, q.s)), q.lvl DESC) AS rn
  FROM pc p JOIN pc q ON q.pid = p.pid AND q.kind <> p.kind AND q.s > p.s
   AND abs(date_diff('day', p.e, q.s)) <= 7
  WHERE p.e IS NOT NULL),
deesc AS (SELECT * FROM cand WHERE rn = 1 AND qlvl < lvl),
active AS (
  SELECT w.w, c.* FROM windows w JOIN cases c
    ON c.rdate <= w.we AND (c.cdate IS NULL OR c.cdate >= w.ws)),
de_den AS (
  SELECT DISTINCT a.w, a.rid FROM active a JOIN windows w USING (w) JOIN pc ON pc.case_id = a.rid
   AND pc.kind IN ('CP', 'LAC') AND pc.s <= w.we AND (pc.e IS NULL OR pc.e >= w.ws)),
de_first AS (
  SELECT w.w, d.case_id, arg_min(d.kind || '>' || d.qkind, (d.e, d.qs)) AS first
  FROM deesc d JOIN windows w ON d.e BETWEEN w.ws AND w.we GROUP BY w.w, d.case_id),
de AS (
  SELECT d.w, count(*) AS den, count(f.case_id) AS num,
         count(*) FILTER (WHERE f.first = 'CP>CIN') AS cp_cin
  FROM de_den d LEFT JOIN de_first f ON f.w = d.w AND f.case_id = d.rid GROUP BY d.w),
closed AS (
  SELECT a.*, (SELECT arg_max(pc.kind, (pc.s, pc.lvl)) FROM pc WHERE pc.case_id = a.rid
               AND pc.s <= a.cdate) AS last_kind
  FROM active a JOIN windows w USING (w) WHERE a.cdate BETWEEN w.ws AND w.we),
clo AS (
  SELECT a.w, count(*) AS den,
         (SELECT count(*) FROM closed c WHERE c.w = a.w) AS num,
         (SELECT count(*) FROM closed c WHERE c.w = a.w AND c.reason = 'RC8') AS rc8,
         (SELECT count(*) FROM closed c WHERE c.w = a.w AND c.last_kind = 'CIN') AS last_cin
  FROM active a GROUP BY a.w),
rr AS (
  SELECT w.w, count(*) AS den,
         count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM referrals o WHERE o.pid = r.pid AND o.rid <> r.rid
              AND o.rdate >= r.rdate - INTERVAL 12 MONTH AND o.rdate < r.rdate)) AS num
  FROM windows w JOIN referrals r ON r.rdate BETWEEN w.ws AND w.we GROUP BY w.w),
care AS (
  SELECT w.w, count(DISTINCT p.pid) AS den,
         count(DISTINCT p.pid) FILTER (WHERE p.e BETWEEN w.ws AND w.we
                                        AND p.reason IN (SELECT code FROM home)) AS num
  FROM windows w JOIN periods p ON p.s <= w.we AND (p.e IS NULL OR p.e >= w.ws) GROUP BY w.w)
SELECT w.w,
       de.num / de.den AS de_escalation_rate, de.cp_cin / de.num AS cp_to_cin_share,
       clo.num / clo.den AS closure_rate, clo.rc8 / clo.num AS closure_nfa_share,
       clo.last_cin / clo.num AS closed_last_on_cin_plan_share,
       rr.num / rr.den AS re_referral_rate, care.num / care.den AS returned_home_rate,
       rr.den AS referrals, care.den AS children_in_care
FROM windows w JOIN de USING (w) JOIN clo USING (w) JOIN rr USING (w) JOIN care USING (w)
"""


def era_metrics(folder: Path) -> dict[str, dict[str, float]]:
    """window name -> metric -> value, approximating metrics.md (segment ``all``)."""
    con = connect(folder)
    result = con.execute(ERA_SQL.format(seeds=SEEDS_DIR))
    names = [d[0] for d in result.description]
    return {row[0]: dict(zip(names[1:], row[1:], strict=True)) for row in result.fetchall()}


# -- tests ----------------------------------------------------------------------------------------


def test_same_seed_same_bytes_different_seed_differs(tmp_path, monkeypatch):
    import fiw.synthetic as synthetic
    from fiw.synthetic.chunks import CHUNK_CHILDREN

    children = CHUNK_CHILDREN + 700  # two chunks: run in the worker pool
    args = dict(children=children, seed=7, snapshots=2, defects=0.02)
    report = generate(tmp_path / "a", **args)
    generate(tmp_path / "b", **args)
    monkeypatch.setattr(synthetic, "WORKERS", 1)  # the same chunks, all in this process
    generate(tmp_path / "c", **args)
    generate(tmp_path / "d", **(args | {"seed": 8}))
    a, b, c, d = (hashes(tmp_path / x) for x in "abcd")
    assert len(a) == 2 * (len(OBJECTS) + 1)
    assert a == b == c
    assert a.keys() == d.keys() and all(a[k] != d[k] for k in a if k.endswith(".csv")
                                        and "department" not in k)  # fmt: skip
    assert [f.name for f in report.folders] == ["2017-11-29", "2017-11-30"]
    for folder in report.folders:
        for name in OBJECTS:
            lines = (folder / f"{name}.csv").read_bytes().count(b"\n") - 1
            assert report.rows[folder.name][name] == lines


def test_clean_output_keeps_every_rule(tmp_path):
    report = generate(tmp_path, children=3000, snapshots=2)
    assert report.defects == {}
    for folder in report.folders:
        found = violations(folder)
        assert sum(found.values()) == 0, {k: v for k, v in found.items() if v}
        assert (folder / "_SUCCESS").exists()
    con = connect(report.folders[-1])
    units = con.execute(
        f"SELECT team_id, segment, model FROM read_csv('{SEEDS_DIR}/units.csv', all_varchar=true)"
    ).fetchall()
    teams = {t for (t,) in con.execute("SELECT dept_team_id FROM ssd_department").fetchall()}
    assert {t for t, _, _ in units} <= teams
    # allocation by era: previous-model teams before the programme, needs-based units from then on
    model = {t: m for t, _, m in units}
    starts = con.execute(
        "SELECT invo_professional_team, invo_involvement_start_date >= '2015-06-01', count(*) "
        "FROM ssd_involvements GROUP BY ALL"
    ).fetchall()
    for team, after, n in starts:
        assert model[team] == ("family_insights" if after else "previous_model"), (team, n)
    assert {t for t, _, _ in starts} == set(model)
    # people look real: M/F/U, England-like ethnicity, NHS numbers with a valid check digit
    sexes = dict(con.execute("SELECT pers_sex, count(*) FROM ssd_person GROUP BY 1").fetchall())
    assert set(sexes) == {"M", "F", "U"}
    white_british = con.execute("SELECT avg((pers_ethnicity = 'WBRI')::INT) FROM ssd_person")
    assert 0.6 < white_british.fetchone()[0] < 0.8
    for (nhs,) in con.execute(
        "SELECT pers_common_child_id FROM ssd_person WHERE pers_common_child_id IS NOT NULL"
    ).fetchall():
        check = 11 - sum(int(x) * (10 - i) for i, x in enumerate(nhs[:9])) % 11
        assert len(nhs) == 10 and int(nhs[9]) == check % 11


def test_defects_of_every_kind_when_asked(tmp_path):
    report = generate(tmp_path, children=3000, defects=0.04)
    kinds = {
        "bad_date",
        "unknown_code",
        "pk_null",
        "pk_duplicate",
        "end_before_start",
        "close_without_reason",
        "dangling_reference",
    }
    assert kinds <= set(report.defects)
    found = violations(report.folders[0])
    assert all(found[kind] > 0 for kind in kinds), found
    rows = sum(n for name, n in report.rows[report.folders[0].name].items()
               if name != "ssd_department")  # fmt: skip
    assert 0.03 < sum(report.defects.values()) / rows < 0.05
    again = generate(tmp_path / "again", children=3000, defects=0.04)
    assert hashes(report.folders[0]) == hashes(again.folders[0])


def test_snapshots_supersede(tmp_path):
    report = generate(tmp_path, children=3000, snapshots=30)
    first, last = report.folders[0], report.folders[-1]
    con, old = connect(last), connect(first)
    for name in OBJECTS:
        con.execute(f"CREATE VIEW old_{name} AS FROM read_csv('{first}/{name}.csv', all_varchar=1)")
    arrived = Counter()
    for name, obj in OBJECTS.items():
        counts = [report.rows[f.name][name] for f in report.folders]
        assert name == "ssd_person" or counts == sorted(counts), name
        for c in obj.columns:
            if c.kind != DATE:
                continue
            # what happened after the first snapshot's day is absent from it, or NULL in it
            shown_early = (
                f"SELECT count(*) FROM {name} n JOIN old_{name} o USING ({obj.primary_key}) "
                f"WHERE n.{c.name} > '{first.name}' AND o.{c.name} IS NOT NULL"
            )
            assert con.execute(shown_early).fetchone()[0] == 0, (name, c.name)
            if c.not_null:  # a start date: records that began since are not in the first
                new = f"SELECT count(*) FROM {{}} WHERE {c.name} > '{first.name}'"
                arrived[name] = con.execute(new.format(name)).fetchone()[0]
                assert con.execute(new.format(f"old_{name}")).fetchone()[0] == 0, name
    assert arrived["ssd_cin_episodes"] > 0 and arrived["ssd_involvements"] > 0, arrived
    closed_since = """SELECT count(*) FROM ssd_cin_episodes n JOIN old_ssd_cin_episodes o
        USING (cine_referral_id) WHERE o.cine_close_date IS NULL AND n.cine_close_date NOT NULL"""
    assert con.execute(closed_since).fetchone()[0] > 0
    # deleted between snapshots: only duplicate person records, which nothing refers to
    deleted = con.execute(
        "SELECT pers_person_id FROM old_ssd_person EXCEPT SELECT pers_person_id FROM ssd_person"
    ).fetchall()
    assert deleted
    for (pid,) in deleted:
        refs = old.execute("SELECT count(*) FROM ssd_cin_episodes WHERE cine_person_id = ?", [pid])
        assert refs.fetchone()[0] == 0


def test_eras_reproduce_the_direction_of_the_findings(tmp_path):
    report = generate(tmp_path)  # the default authority: 12,000 children
    m = era_metrics(report.folders[-1])
    prev, fi = m["previous_model"], m["family_insights"]
    assert fi["de_escalation_rate"] < prev["de_escalation_rate"]
    assert fi["closure_rate"] < prev["closure_rate"]
    assert fi["re_referral_rate"] < prev["re_referral_rate"]
    assert fi["returned_home_rate"] > prev["returned_home_rate"]
    # rough size of the evaluation's figures (12 % vs 21 %, 22 % vs 41 %, 2 % vs 4 %, 50 % vs 25 %)
    assert 0.06 < fi["de_escalation_rate"] < 0.18 < prev["de_escalation_rate"] < 0.30
    assert 0.14 < fi["closure_rate"] < 0.32 < prev["closure_rate"] < 0.52
    assert 0.005 < fi["re_referral_rate"] < 0.035 < prev["re_referral_rate"] < 0.07
    assert 0.15 < prev["returned_home_rate"] < 0.35 < fi["returned_home_rate"] < 0.65
    for window in (prev, fi):
        assert 0.6 < window["cp_to_cin_share"] < 0.95
        assert window["closure_nfa_share"] > 0.5
        assert window["closed_last_on_cin_plan_share"] > 0.5
        assert 2500 < window["referrals"] * 12 / 17 < 4500  # about 3,500 referrals a year


CASELOAD_SQL = """
WITH months AS (
  SELECT CAST(last_day(m) AS DATE) AS month_end
  FROM range(DATE '2014-01-01', DATE '2016-11-01', INTERVAL 1 MONTH) AS t(m)),
invo AS (
  SELECT invo_professional_team AS team, invo_person_id AS child, invo_professional_id AS worker,
         d(invo_involvement_start_date) AS s, till(invo_involvement_end_date) AS e
  FROM ssd_involvements),
fte AS (
  SELECT prof_professional_id AS worker, try_cast(prof_full_time_equivalency AS DOUBLE) AS fte
  FROM ssd_professionals),
open_on AS (
  SELECT team, month_end, count(DISTINCT child) AS children,
         list(DISTINCT worker) AS workers
  FROM invo JOIN months ON s <= month_end AND e >= month_end GROUP BY ALL),
monthly AS (
  SELECT team, month_end, children, len(workers) AS workers,
         (SELECT sum(fte) FROM fte WHERE list_contains(workers, fte.worker)) AS fte
  FROM open_on)
SELECT team, avg(children) AS children, avg(workers) AS workers, avg(fte) AS fte,
       avg(children / fte) AS children_per_fte
FROM monthly
WHERE (team LIKE 'T2%' AND month_end BETWEEN DATE '2014-01-01' AND DATE '2015-05-31')
   OR (team LIKE 'T1%' AND month_end BETWEEN DATE '2015-06-01' AND DATE '2016-10-31')
GROUP BY team ORDER BY team
"""


def caseloads(folder: Path) -> dict[str, dict[str, float]]:
    """team -> mean open children, workers, FTE and children per FTE over the month ends of its
    own era's programme window (caseload_monthly's definition, metrics.md "Caseloads")."""
    result = connect(folder).execute(CASELOAD_SQL)
    names = [d[0] for d in result.description]
    return {row[0]: dict(zip(names[1:], row[1:], strict=True)) for row in result.fetchall()}


def test_caseloads_per_fte_are_in_the_real_range(tmp_path):
    """The DfE workforce census: about 16 children per case-holding FTE in England, 10 to 27
    across authorities. The demo authority (the default 12,000 children) sits in that range under
    the previous model and lower in its Family Insights units, with the workers that implies."""
    loads = caseloads(generate(tmp_path).folders[-1])
    previous = {t: v for t, v in loads.items() if t.startswith("T2")}
    units = {t: v for t, v in loads.items() if t.startswith("T1")}
    assert len(previous) == 4 and len(units) == 8
    for team, v in previous.items():
        assert 14 <= v["children_per_fte"] <= 22, (team, v)
    for team, v in units.items():
        assert 8 <= v["children_per_fte"] <= 16, (team, v)
    mean = lambda group: sum(v["children_per_fte"] for v in group.values()) / len(group)  # noqa: E731
    assert mean(units) < mean(previous) - 3
    # the open cases that imply: thousands of children, hundreds of case-holding staff
    assert 2500 < sum(v["children"] for v in units.values()) < 6000
    assert 250 < sum(v["workers"] for v in {**previous, **units}.values()) < 700
