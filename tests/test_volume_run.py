"""The issue's case through ``fiw run``: a header-only ``ssd_involvements.csv`` the night after a
full one used to be published (exit 0, ``caseload_monthly`` empty); it is refused now."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures import pipeline as p


@pytest.fixture(scope="module")
def published_day1(tmp_path_factory) -> tuple[p.Home, Path]:
    """The shared home that has published DAY1, and the snapshot folders to add to a copy."""
    return p.baseline(tmp_path_factory), p.source(tmp_path_factory)


def test_header_only_involvements_exits_2_and_keeps_the_publication(published_day1, tmp_path):
    base, source = published_day1
    home = base.copy(tmp_path)
    before = p.sha256(home.published)
    caseload = p.query(home.published, "select count(*) from caseload_monthly")[0][0]
    assert caseload > 0
    involvements = p.query(
        home.warehouse,
        "select o.rows from audit.snapshot_objects o join audit.snapshots s using (snapshot_id)"
        " where s.snapshot_date = ? and o.object = 'ssd_involvements'",
        [p.DAY1],
    )[0][0]
    folder = p.add_snapshot(source, home.exports, p.DAY2)
    csv = folder / "ssd_involvements.csv"
    csv.write_text(csv.read_text(encoding="utf-8").splitlines(keepends=True)[0], encoding="utf-8")

    result = p.run(home.exports, home.home)
    out = p.plain(result.stdout)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        f"snapshot 2017-11-30 failed_volume: ssd_involvements.csv: 0 rows, {involvements:,} in "
        "the last accepted snapshot (2017-11-29): lost 100% (more than FIW_VOLUME_DROP=0.5): an "
        "exporter whose query failed often still writes the header; check the export"
    ) in out
    assert p.sha256(home.published) == before
    assert p.query(home.published, "select count(*) from caseload_monthly") == [(caseload,)]
    assert p.audit_rows(home.home, "publications", "snapshot_date") == [(p.DAY1,)]
    assert p.statuses(home.home) == {p.DAY1: "published", p.DAY2: "failed_volume"}
    # Nothing that arrives is lost: the other objects of DAY2 are in raw.
    assert p.raw_counts(home.home)[("ssd_person", p.DAY2)] > 0

    status = p.fiw("status", "--home", str(home.home))
    assert status.returncode == 0, status.stdout + status.stderr
    text = p.plain(status.stdout)
    assert "2017-11-30 │ failed_volume" in text
    assert "Last publication: snapshot 2017-11-29" in text
