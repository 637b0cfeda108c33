"""``fiw generate --format returns`` and one generated returns snapshot through ``fiw run``: the
same Dagster assets load it, and staging, marts, validation and publication run unchanged."""

from __future__ import annotations

from datetime import date

import pytest

from tests.fixtures.pipeline import CHILDREN, DATA_TABLES, SEED, fiw, plain, query, run, statuses

pytestmark = pytest.mark.slow

AS_OF = date(2017, 11, 30)


def test_generated_returns_snapshot_runs_end_to_end(tmp_path):
    exports, home = tmp_path / "exports", tmp_path / "home"
    made = fiw(
        "generate", "--format", "returns", "--out", str(exports),
        "--children", str(CHILDREN), "--seed", str(SEED), "--as-of", AS_OF.isoformat(),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    folder = exports / AS_OF.isoformat()
    xml_903 = sorted(p.parent.name for p in folder.glob("ssda903/*/return.xml"))
    csv_903 = sorted(p.parent.name for p in folder.glob("ssda903/*/episodes.csv"))
    cin = sorted(p.stem for p in folder.glob("cin/*.xml"))
    assert len(xml_903) == 1 and len(csv_903) >= 2 and cin == sorted(xml_903 + csv_903)
    assert cin[-1] == "2017" and (folder / "_SUCCESS").exists()

    done = run(exports, home)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert statuses(home) == {AS_OF: "published"}, plain(done.stdout)
    warehouse = home / "warehouse.duckdb"
    assert query(warehouse, "select count(*) from audit.quarantine") == [(0,)]
    counts = dict(
        query(warehouse, "select object, rows from audit.snapshot_objects where rows > 0")
    )
    assert set(counts) == {
        "ssd_person",
        "ssd_cin_episodes",
        "ssd_cin_assessments",
        "ssd_cin_plans",
        "ssd_cp_plans",
        "ssd_cla_episodes",
    }
    published = home / "published.duckdb"
    for table in DATA_TABLES:
        n = query(published, f"select count(*) from {table}")[0][0]
        print(f"{table}: {n} rows")
        if table == "caseload_monthly":
            assert n == 0  # returns carry no workers
        else:
            assert n > 0
