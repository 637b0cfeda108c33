"""The volume rule for statutory returns (docs/returns.md, exports.md): a snapshot is compared
only on the objects its kind carries. Returns never carry workers or teams, so a returns snapshot
after an SSD one loads; a real drop in what returns do carry is still refused."""

from __future__ import annotations

import csv
import shutil
from datetime import date
from pathlib import Path

import pytest
from fiw.contract import LOAD_ORDER
from fiw.extract import FAILED_VOLUME, LOADED, load_new_snapshots
from fiw.extract.returns import CARRIED
from fiw.extract.returns.folder import NO_WORKFORCE
from fiw.synthetic import generate
from fiw.synthetic.returns import write_returns

from tests.fixtures.extract_helpers import query, settings_for

AS_OF = date(2017, 3, 31)
DAY1, DAY2 = date(2017, 4, 1), date(2017, 4, 2)
TODAY = date(2026, 12, 31)


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> Path:
    """One small synthetic authority's SSD snapshot folder."""
    root = tmp_path_factory.mktemp("authority")
    generate(root, children=200, seed=5, as_of=AS_OF, snapshots=1)
    return root / AS_OF.isoformat()


def _ssd(ssd: Path, exports: Path, day: date) -> None:
    shutil.copytree(ssd, exports / day.isoformat())


def _returns(ssd: Path, exports: Path, day: date) -> Path:
    """The same authority as returns, in the folder ``day`` (returns up to AS_OF)."""
    tmp = exports.parent / f"returns-{day.isoformat()}"
    report = write_returns(ssd, tmp, AS_OF)
    return report.folder.rename(exports / day.isoformat())


def _objects(settings, day: date) -> dict[str, int]:
    return dict(
        query(
            settings,
            "select o.object, o.rows from audit.snapshot_objects o join audit.snapshots s "
            "using (snapshot_id) where s.snapshot_date = ?",
            [day],
        )
    )


def _load(tmp_path):
    report = load_new_snapshots(settings_for(tmp_path), today=TODAY)
    return {o.snapshot_date: o for o in report.outcomes}


def test_returns_carry_everything_but_the_workforce():
    assert set(CARRIED) | set(NO_WORKFORCE) == set(LOAD_ORDER)
    assert not set(CARRIED) & set(NO_WORKFORCE)


def test_returns_after_an_ssd_snapshot_load(tmp_path, authority):
    exports = tmp_path / "exports"
    exports.mkdir()
    _ssd(authority, exports, DAY1)
    _returns(authority, exports, DAY2)
    outcomes = _load(tmp_path)
    assert outcomes[DAY1].status == LOADED
    assert outcomes[DAY2].status == LOADED, outcomes[DAY2].reason
    before, after = _objects(settings_for(tmp_path), DAY1), _objects(settings_for(tmp_path), DAY2)
    # The objects returns cannot carry went from rows to none: under the rule for SSD snapshots
    # each of them alone would have refused the snapshot.
    for name in NO_WORKFORCE:
        assert before[name] > 0 and after[name] == 0, name
    # What returns do carry arrived (and so was compared).
    for name in CARRIED:
        assert after[name] > 0, name


def test_an_ssd_snapshot_after_returns_loads(tmp_path, authority):
    exports = tmp_path / "exports"
    exports.mkdir()
    _returns(authority, exports, DAY1)
    _ssd(authority, exports, DAY2)
    outcomes = _load(tmp_path)
    assert [outcomes[d].status for d in (DAY1, DAY2)] == [LOADED, LOADED], outcomes[DAY2].reason


def _keep_every_third_episode(ssd: Path, out: Path) -> Path:
    """A copy of the SSD folder with two episodes of care in three left out."""
    shutil.copytree(ssd, out)
    path = out / "ssd_cla_episodes.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows([rows[0], *rows[1::3]])
    return out


def test_returns_after_returns_with_a_real_drop_in_episodes_are_refused(tmp_path, authority):
    exports = tmp_path / "exports"
    exports.mkdir()
    _returns(authority, exports, DAY1)
    _returns(_keep_every_third_episode(authority, tmp_path / "fewer"), exports, DAY2)
    outcomes = _load(tmp_path)
    settings = settings_for(tmp_path)
    assert outcomes[DAY1].status == LOADED
    before, after = _objects(settings, DAY1), _objects(settings, DAY2)
    assert after["ssd_cla_episodes"] < before["ssd_cla_episodes"] / 2
    assert outcomes[DAY2].status == FAILED_VOLUME
    reason = outcomes[DAY2].reason
    # One reason, the episodes': the workforce objects (0 rows both times) and the other objects
    # (unchanged) are not in it. The 903 files are named, then the counts and the reference.
    assert reason.count("in the last accepted snapshot") == 1, reason
    assert reason.startswith("ssda903/")
    assert (
        f": {after['ssd_cla_episodes']:,} rows, {before['ssd_cla_episodes']:,} in the last "
        f"accepted snapshot ({DAY1.isoformat()})"
    ) in reason
