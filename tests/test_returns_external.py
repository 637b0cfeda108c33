"""Proof on files nobody here wrote: every public fake return in tests/data/external/ (written by
Data to Insight for their validators, with deliberate errors) loads as a returns snapshot, or is
rejected whole, or has rows quarantined, each with its reasons.

Each file is its own snapshot (its own exports root), except the 903 CSV tables, which are one
year together (header and episodes are needed; reviews, UASC and missing are ignored). The counts
per reason (values replaced by ``'…'``) are printed (``pytest -s``) and pinned below, so a change
in how the readers map these files shows up here.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from fiw.extract import FAILED_QUARANTINE, LOADED, REJECTED, load_new_snapshots

from tests.fixtures.extract_helpers import query, settings_for

EXTERNAL = Path(__file__).parent / "data" / "external"
DAY = "2024-06-01"
YEAR_903 = "2018"  # the fake 903 data runs to 31 March 2018


def snapshots() -> dict[str, list[tuple[Path, str]]]:
    """Snapshot name -> (external file, its place in the returns folder), covering every file."""
    found: dict[str, list[tuple[Path, str]]] = {}
    for path in sorted(EXTERNAL.rglob("*")):
        if not path.is_file() or path.name == "README.md":
            continue
        if path.parent.name == "cin-census-fake":
            found[path.name] = [(path, f"cin/{path.name}")]
        elif path.suffix == ".xml":
            found[path.name] = [(path, f"ssda903/{YEAR_903}/return.xml")]
        else:
            found.setdefault("903 CSV tables", []).append((path, f"ssda903/{YEAR_903}/{path.name}"))
    return found


SNAPSHOTS = snapshots()

# Status, (rows, quarantined) of each object with rows, and the count of each reason.
CEASED_REASON_ALONE = "clae_cla_episode_ceased_reason given without clae_cla_episode_ceased_date"
AUTH_BEFORE_START = "cina_assessment_auth_date '…' is before cina_assessment_start_date '…'"
SMALL_CIN = {
    "ssd_person": (2, 0),
    "ssd_cin_episodes": (2, 0),
    "ssd_cin_assessments": (2, 1),
    "ssd_cin_plans": (1, 0),
    "ssd_cp_plans": (1, 0),
}
# Status, (rows, quarantined) of each object with rows, and the count of each reason. Every open
# episode of the fake 903 data has a reason ceased (mostly X1): quarantined by the contract's
# present-together rule. The small CIN files' first assessment is authorised before it starts.
EXPECTED = {
    "903 CSV tables": (
        FAILED_QUARANTINE,
        {"ssd_person": (2675, 0), "ssd_cla_episodes": (5050, 1413)},
        {("ssd_cla_episodes", CEASED_REASON_ALONE): 1413},
    ),
    "fake_903.xml": (
        FAILED_QUARANTINE,
        {"ssd_person": (253, 0), "ssd_cla_episodes": (459, 133)},
        {("ssd_cla_episodes", CEASED_REASON_ALONE): 133},
    ),
    "fake_CIN_data.xml": (LOADED, {"ssd_person": (332, 0), "ssd_cin_episodes": (402, 0)}, {}),
    "CIN_Census_2024.xml": (
        FAILED_QUARANTINE,
        SMALL_CIN,
        {("ssd_cin_assessments", AUTH_BEFORE_START): 1},
    ),
    "CIN_Census_2026.xml": (
        FAILED_QUARANTINE,
        SMALL_CIN,
        {("ssd_cin_assessments", AUTH_BEFORE_START): 1},
    ),
}


def reason_kind(reason: str) -> str:
    """A reason with its values and line numbers left out, to count reasons by kind."""
    reason = re.sub(r"'[^']*'", "'…'", reason)
    return re.sub(r"\(also on lines? [^)]*\)", "(also on line …)", reason)


def test_every_external_file_is_covered():
    covered = {p for files in SNAPSHOTS.values() for p, _ in files}
    assert covered == {p for p in EXTERNAL.rglob("*") if p.is_file() and p.name != "README.md"}
    assert set(SNAPSHOTS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_external_file_loads_or_is_rejected_or_quarantined_with_reasons(tmp_path, name):
    folder = tmp_path / "exports" / DAY
    for source, place in SNAPSHOTS[name]:
        (folder / place).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / place)
    settings = settings_for(tmp_path)
    (outcome,) = load_new_snapshots(settings).outcomes
    print(f"\n{name}: {outcome.status}")
    for obj, c in outcome.objects.items():
        if c.rows:
            print(f"  {obj}: {c.rows} rows, {c.rows_quarantined} quarantined ({c.source_file})")
    assert outcome.status in (LOADED, FAILED_QUARANTINE, REJECTED)
    if outcome.status == REJECTED:
        assert outcome.reason and place_named(outcome.reason, SNAPSHOTS[name])
        return
    quarantined = query(settings, "select object, source_file, reasons from audit.quarantine")
    assert len(quarantined) == outcome.rows_quarantined
    counts = Counter()
    for obj, where, reasons in quarantined:
        assert reasons, f"{obj} row at {where} quarantined without a reason"
        assert any(where.startswith(f"{place}: ") for _, place in SNAPSHOTS[name]), where
        for reason in reasons.split("; "):
            counts[(obj, reason_kind(reason))] += 1
    for (obj, kind), n in sorted(counts.items()):
        print(f"  {n:5d}  {obj}: {kind}")
    if outcome.status == LOADED:
        assert outcome.rows_quarantined <= sum(c.rows for c in outcome.objects.values()) * 0.05
    else:
        assert outcome.rows_quarantined > 0
    status, objects, reasons = EXPECTED[name]
    assert outcome.status == status
    if objects is not None:
        assert {o: (c.rows, c.rows_quarantined) for o, c in outcome.objects.items() if c.rows} == (
            objects
        )
    if reasons is not None:
        assert dict(counts) == reasons


def place_named(reason: str, files: list[tuple[Path, str]]) -> bool:
    return any(place in reason or place.rsplit("/", 1)[0] in reason for _, place in files)
