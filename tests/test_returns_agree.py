"""Issue 12, item 4: the two sources agree. One synthetic authority is written both ways (an SSD
snapshot and its statutory returns, same seed, same as-of date) and each goes through ``fiw run``
into its own home; ``marts.outcome_metrics`` of segment ``all`` must agree metric by metric,
except where the returns cannot carry a fact (docs/returns.md, "What returns cannot carry"):

- no referral id on an episode of care: a period of care's case comes from metrics.md's fallback,
  so the metrics built on a case's *own* plan episodes may differ. A third home loads the SSD
  snapshot with ``clae_referral_id`` blanked: it must equal the returns side exactly, so that fact
  is the only cause of every difference.
- no teams: every case is ``unassigned``, so each unit's segment is 0 / 0 and ``unassigned``
  equals ``all``.

The as-of date is a census date (31 March): a returns snapshot knows only what its last census
knew, so with a later date the SSD side would also hold months the returns cannot.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from fiw.synthetic.returns import write_returns

from tests.fixtures.pipeline import CHILDREN, RUN_TIMEOUT, SEED, env_for, fiw, query, run_argv

pytestmark = pytest.mark.slow

AS_OF = date(2017, 3, 31)
REPO = Path(__file__).resolve().parents[1]
METRICS_MD = REPO / "docs" / "metrics.md"
RETURNS_MD = REPO / "docs" / "returns.md"


def _generate(out: Path, *fmt: str) -> Path:
    made = fiw(
        "generate", *fmt, "--out", str(out), "--children", str(CHILDREN), "--seed", str(SEED),
        "--as-of", AS_OF.isoformat(),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return out / AS_OF.isoformat()


def _blank_column(folder: Path, obj: str, column: str) -> int:
    """Empty ``column`` of every row of ``folder/obj.csv``; the number of values it removed."""
    path = folder / f"{obj}.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    removed = sum(1 for r in rows if r[column])
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({**r, column: ""} for r in rows)
    return removed


def _run_all(homes: dict[str, Path], root: Path) -> None:
    """``fiw run`` on each exports folder at once (each is mostly fixed costs and waiting)."""
    started = {}
    for name, exports in homes.items():
        started[name] = subprocess.Popen(
            run_argv(exports, root / f"home-{name}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env_for(),
            start_new_session=True,
        )
    deadline = time.monotonic() + RUN_TIMEOUT
    for name, proc in started.items():
        try:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for other in started.values():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(other.pid, signal.SIGKILL)
            raise AssertionError(f"the {name} run ran over {RUN_TIMEOUT}s") from None
        assert proc.returncode == 0, f"{name}: {out}\n{err}"


def _link_care_to_first_case(folder: Path) -> int:
    """Point each episode of care of a child with several cases at the child's first case, where
    metrics.md's fallback (the case open on the period's start) would give another: the fact the
    903 cannot carry, made to matter. The generator links a period to the fallback's case, so
    without this the comparison could not tell whether the referral id is lost. Returns how many
    episodes now name a case other than the fallback's."""
    with (folder / "ssd_cin_episodes.csv").open(newline="", encoding="utf-8") as f:
        cases = [r for r in csv.DictReader(f) if r["cine_referral_nfa"] != "Y"]
    first: dict[str, dict] = {}
    for c in sorted(cases, key=lambda c: c["cine_referral_date"]):
        first.setdefault(c["cine_person_id"], c)
    path = folder / "ssd_cla_episodes.csv"
    with path.open(newline="", encoding="utf-8") as f:
        episodes = list(csv.DictReader(f))
    changed = 0
    for e in episodes:
        case = first.get(e["clae_person_id"])
        fallback = _case_open_on(cases, e["clae_person_id"], e["clae_cla_episode_start_date"])
        if case is not None and case["cine_referral_id"] != fallback:
            e["clae_referral_id"] = case["cine_referral_id"]
            changed += 1
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(episodes[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(episodes)
    return changed


def _case_open_on(cases: list[dict], person: str, day: str) -> str | None:
    """The id of the person's case open on ``day``, the latest referral date first."""
    open_ = [
        c
        for c in cases
        if c["cine_person_id"] == person
        and c["cine_referral_date"] <= day
        and (not c["cine_close_date"] or day <= c["cine_close_date"])
    ]
    return max(open_, key=lambda c: c["cine_referral_date"])["cine_referral_id"] if open_ else None


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("agree")
    ssd = _generate(root / "ssd")
    relinked = _link_care_to_first_case(ssd)
    write_returns(ssd, root / "returns", AS_OF)  # what `fiw generate --format returns` runs
    shutil.copytree(ssd, root / "ssd-no-care-referral" / AS_OF.isoformat())
    blanked = _blank_column(
        root / "ssd-no-care-referral" / AS_OF.isoformat(), "ssd_cla_episodes", "clae_referral_id"
    )
    exports = {n: root / n for n in ("ssd", "returns", "ssd-no-care-referral")}
    _run_all(exports, root)
    return {"root": root, "blanked": blanked, "relinked": relinked}


def _warehouse(built: dict, name: str) -> Path:
    return built["root"] / f"home-{name}" / "warehouse.duckdb"


def _metrics(built: dict, name: str, segment: str = "all") -> dict[tuple, tuple[int, int]]:
    rows = query(
        _warehouse(built, name),
        "select window_name, metric, numerator, denominator from marts.outcome_metrics "
        "where segment = ?",
        [segment],
    )
    return {(w, m): (n, d) for w, m, n, d in rows}


def _differing(a: dict, b: dict) -> dict[tuple, tuple]:
    assert a.keys() == b.keys()
    return {k: (a[k], b[k]) for k in a if a[k] != b[k]}


def metric_definitions() -> dict[str, str]:
    """metrics.md's outcome table: metric -> its denominator and numerator text ("same" is
    replaced by the row above's denominator)."""
    out: dict[str, str] = {}
    previous = ""
    for line in METRICS_MD.read_text().splitlines():
        m = re.match(r"^\| `(\w+)` \| (.*?) \| (.*?) \|$", line)
        if m:
            denominator = previous if m[2].strip() == "same" else m[2]
            out[m[1]] = f"{denominator} | {m[3]}"
            previous = denominator
    return out


def case_plan_metrics() -> set[str]:
    """The metrics whose definition rests on a case's own plan episodes (metrics.md), directly
    or through another such metric: those a period of care's case can change."""
    definitions = metric_definitions()
    found = {m for m, text in definitions.items() if re.search(r"\bown\b", text)}
    while True:
        more = {m for m, text in definitions.items() if any(f"`{f}`" in text for f in found)}
        if more <= found:
            return found
        found |= more


def test_the_metric_table_was_read():
    definitions = metric_definitions()
    assert len(definitions) == 11 and "returned_home_rate" in definitions
    # returned_home_rate counts children, not cases: a period's case cannot change it.
    assert "returned_home_rate" not in case_plan_metrics()


def test_returns_md_names_the_figures_that_differ():
    section = RETURNS_MD.read_text().split("## What returns cannot carry", 1)[1].split("\n## ")[0]
    named = set(re.findall(r"`(\w+)`", section))
    assert case_plan_metrics() <= named


def test_every_run_published_with_nothing_quarantined(built):
    for name in ("ssd", "returns", "ssd-no-care-referral"):
        w = _warehouse(built, name)
        assert query(w, "select status from audit.snapshots") == [("published",)], name
        assert query(w, "select count(*) from audit.quarantine") == [(0,)], name


def test_returns_equal_the_ssd_snapshot_without_the_care_referral_in_every_figure(built):
    assert built["blanked"] > 0  # the SSD snapshot did link episodes of care to referrals
    returns = _metrics(built, "returns")
    assert _differing(returns, _metrics(built, "ssd-no-care-referral")) == {}
    assert sum(d for _, d in returns.values()) > 0


def test_returns_and_ssd_differ_only_where_a_period_of_cares_case_counts(built):
    ssd, returns = _metrics(built, "ssd"), _metrics(built, "returns")
    differing = _differing(ssd, returns)
    allowed = case_plan_metrics()
    assert {metric for _, metric in differing} <= allowed, differing
    equal = {k for k in ssd if k not in differing}
    assert {metric for _, metric in equal} >= set(metric_definitions()) - allowed
    print(f"differing because of clae_referral_id: {differing}")


def test_plan_episodes_agree_but_for_the_case_of_a_period_of_care(built):
    """Every plan episode the SSD builds, the returns build too (same child, kind, dates, end
    reason), and each has the same case (by its child and referral date) except periods of care
    whose referral id named a case other than the fallback's."""
    sql = """
        select p.child_key, p.plan_type, p.start_date, p.end_date, p.end_reason,
            c.referral_date
        from marts.plan_episodes p left join intermediate.int_cases c using (case_key)
    """
    ssd = Counter(query(_warehouse(built, "ssd"), sql))
    returns = Counter(query(_warehouse(built, "returns"), sql))
    blanked = Counter(query(_warehouse(built, "ssd-no-care-referral"), sql))
    assert returns == blanked
    assert _without_case(ssd) == _without_case(returns)
    moved = (ssd - returns) + (returns - ssd)
    assert built["relinked"] > 0
    assert moved and {k[1] for k in moved} == {"LAC"}


def _without_case(counts: Counter) -> Counter:
    out: Counter = Counter()
    for k, n in counts.items():
        out[k[:5]] += n
    return out


def test_without_teams_every_case_is_unassigned(built):
    """Returns have no teams: each unit's segment is empty and `unassigned` is `all`."""
    segments = {s for (s,) in query(_warehouse(built, "returns"), "select distinct segment "
                                    "from marts.outcome_metrics")}  # fmt: skip
    units = segments - {"all", "unassigned"}
    assert units
    ssd_units = {u: _metrics(built, "ssd", u) for u in units}
    assert any(d for figures in ssd_units.values() for _, d in figures.values())  # SSD: teams
    for unit in units:
        assert set(_metrics(built, "returns", unit).values()) == {(0, 0)}, unit
    assert _metrics(built, "returns", "unassigned") == _metrics(built, "returns", "all")
