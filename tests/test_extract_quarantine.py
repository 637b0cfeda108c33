"""Row rules: each rule of exports.md sends a row to quarantine with file, line and reason."""

from __future__ import annotations

import json

import pytest
from fiw.extract import FAILED_QUARANTINE, LOADED

from tests.fixtures.extract_helpers import load, quarantine, query, settings_for
from tests.fixtures.ssd_builder import minimal_snapshot, write_snapshot

DAY = "2026-11-24"


def _load(tmp_path, data, threshold: float = 1.0):
    write_snapshot(tmp_path / "exports", DAY, data)
    settings = settings_for(tmp_path, quarantine_threshold=threshold)
    report = load(settings)
    return settings, report.outcomes[0]


def _single(tmp_path, obj: str, row: int, **changes) -> tuple[str, int, str, str]:
    """Change one row, load, and return its single quarantine entry."""
    data = minimal_snapshot()
    data[obj][row].update(changes)
    settings, outcome = _load(tmp_path, data)
    assert outcome.status == LOADED
    entries = quarantine(settings, obj)
    assert len(entries) == 1, entries
    return entries[0]


def test_minimal_snapshot_loads_clean(tmp_path):
    settings, outcome = _load(tmp_path, minimal_snapshot(), threshold=0.0)
    assert outcome.status == LOADED and outcome.reason is None
    assert outcome.rows_quarantined == 0
    assert query(settings, "select count(*) from audit.quarantine") == [(0,)]
    assert query(settings, "select count(*) from raw.ssd_person where _quarantined") == [(0,)]


def test_not_null_column(tmp_path):
    entry = _single(tmp_path, "ssd_cin_episodes", 1, cine_referral_date=None)
    assert entry == (
        "ssd_cin_episodes.csv",
        3,
        "R2",
        "cine_referral_date is empty (required)",
    )


def test_primary_key_null(tmp_path):
    data = minimal_snapshot()
    data["ssd_department"].append({"dept_team_id": None, "dept_team_name": "Orphan"})
    settings, _ = _load(tmp_path, data)
    assert quarantine(settings, "ssd_department") == [
        ("ssd_department.csv", 4, None, "dept_team_id is empty (required)")
    ]


def test_primary_key_duplicated_quarantines_every_copy(tmp_path):
    data = minimal_snapshot()
    data["ssd_professionals"].append(dict(data["ssd_professionals"][0]))
    data["ssd_professionals"].append(dict(data["ssd_professionals"][0]))
    settings, _ = _load(tmp_path, data)
    assert quarantine(settings, "ssd_professionals") == [
        (
            "ssd_professionals.csv",
            2,
            "W1",
            "prof_professional_id 'W1' is duplicated (also on lines 4, 5)",
        ),
        (
            "ssd_professionals.csv",
            4,
            "W1",
            "prof_professional_id 'W1' is duplicated (also on lines 2, 5)",
        ),
        (
            "ssd_professionals.csv",
            5,
            "W1",
            "prof_professional_id 'W1' is duplicated (also on lines 2, 4)",
        ),
    ]
    # Involvement I1 names W1, which now has no accepted row.
    assert quarantine(settings, "ssd_involvements") == [
        (
            "ssd_involvements.csv",
            2,
            "I1",
            "invo_professional_id 'W1' has no accepted row in ssd_professionals",
        )
    ]


@pytest.mark.parametrize("bad", ["2024-02-30", "10/01/2024", "2024-1-10", "2024-01-10 9:00:00"])
def test_bad_date(tmp_path, bad):
    entry = _single(tmp_path, "ssd_cin_episodes", 0, cine_close_date=bad)
    assert entry == (
        "ssd_cin_episodes.csv",
        2,
        "R1",
        f"cine_close_date '{bad}' is not a real date (YYYY-MM-DD)",
    )


def test_datetime_is_accepted_for_a_date_and_kept_as_it_arrived(tmp_path):
    data = minimal_snapshot()
    data["ssd_cin_episodes"][0]["cine_referral_date"] = "2024-01-10 09:30:00"
    data["ssd_cin_episodes"][0]["cine_close_date"] = "2024-06-30 00:00:00"
    settings, outcome = _load(tmp_path, data, threshold=0.0)
    assert outcome.status == LOADED and outcome.rows_quarantined == 0
    assert query(
        settings,
        "select cine_referral_date from raw.ssd_cin_episodes where cine_referral_id = 'R1'",
    ) == [("2024-01-10 09:30:00",)]


def test_personal_data_value_is_withheld_from_the_reason(tmp_path):
    entry = _single(tmp_path, "ssd_person", 0, pers_dob="2015-13-01")
    assert entry[3] == "pers_dob (value withheld: personal data) is not a real date (YYYY-MM-DD)"


def test_flag_not_y_or_n(tmp_path):
    entry = _single(tmp_path, "ssd_cin_assessments", 0, cina_assessment_outcome_nfa="yes")
    assert entry == (
        "ssd_cin_assessments.csv",
        2,
        "A1",
        "cina_assessment_outcome_nfa 'yes' is not Y or N",
    )


def test_code_not_in_seed_list(tmp_path):
    entry = _single(tmp_path, "ssd_person", 1, pers_ethnicity="XXXX")
    assert entry == (
        "ssd_person.csv",
        3,
        "P2",
        "pers_ethnicity 'XXXX' is not a code in ref_ethnicity",
    )


def test_cla_primary_need_allows_only_n1_to_n8(tmp_path):
    entry = _single(tmp_path, "ssd_cla_episodes", 0, clae_cla_primary_need_code="N0")
    assert entry[3] == "clae_cla_primary_need_code 'N0' is not a code in N1-N8 (CLA primary need)"


def test_legacy_sex_codes_are_accepted(tmp_path):
    data = minimal_snapshot()
    data["ssd_person"][0]["pers_sex"] = "1"
    data["ssd_person"][1]["pers_sex"] = "9"
    _, outcome = _load(tmp_path, data, threshold=0.0)
    assert outcome.rows_quarantined == 0


def test_decimal_not_a_number(tmp_path):
    entry = _single(tmp_path, "ssd_professionals", 1, prof_full_time_equivalency="0,6")
    assert entry == (
        "ssd_professionals.csv",
        3,
        "W2",
        "prof_full_time_equivalency '0,6' is not a number",
    )


@pytest.mark.parametrize("fte", ["0", "-0.5", "1.01"])
def test_fte_out_of_range(tmp_path, fte):
    entry = _single(tmp_path, "ssd_professionals", 1, prof_full_time_equivalency=fte)
    assert entry[3] == f"prof_full_time_equivalency '{fte}' is outside (0, 1]"


def test_end_before_start(tmp_path):
    entry = _single(tmp_path, "ssd_cp_plans", 0, cppl_cp_plan_end_date="2025-02-28")
    assert entry == (
        "ssd_cp_plans.csv",
        2,
        "PP1",
        "cppl_cp_plan_end_date '2025-02-28' is before cppl_cp_plan_start_date '2025-03-01'",
    )


def test_close_date_without_reason(tmp_path):
    entry = _single(tmp_path, "ssd_cin_episodes", 0, cine_close_reason=None)
    assert entry[:3] == ("ssd_cin_episodes.csv", 2, "R1")
    assert entry[3] == "cine_close_date given without cine_close_reason"


def test_close_reason_without_date(tmp_path):
    entry = _single(tmp_path, "ssd_cin_episodes", 1, cine_close_reason="RC2")
    assert entry[3] == "cine_close_reason given without cine_close_date"


def test_dangling_reference(tmp_path):
    entry = _single(tmp_path, "ssd_cin_plans", 0, cinp_referral_id="R9")
    assert entry == (
        "ssd_cin_plans.csv",
        2,
        "CP1",
        "cinp_referral_id 'R9' has no accepted row in ssd_cin_episodes",
    )


def test_reference_to_a_quarantined_row_dangles(tmp_path):
    data = minimal_snapshot()
    data["ssd_department"][1]["dept_team_id"] = None  # T102 is gone from the accepted rows
    settings, _ = _load(tmp_path, data)
    assert [e[2:] for e in quarantine(settings, "ssd_cin_episodes")] == [
        ("R2", "cine_referral_team 'T102' has no accepted row in ssd_department")
    ]


def test_every_reason_of_a_row_is_collected(tmp_path):
    entry = _single(
        tmp_path,
        "ssd_cin_episodes",
        0,
        cine_person_id="P9",
        cine_referral_nfa="X",
        cine_close_date="2023-01-01",
        cine_close_reason=None,
    )
    assert entry[3].split("; ") == [
        "cine_referral_nfa 'X' is not Y or N",
        "cine_person_id 'P9' has no accepted row in ssd_person",
        "cine_close_date '2023-01-01' is before cine_referral_date '2024-01-10'",
        "cine_close_date given without cine_close_reason",
    ]


def test_quarantined_rows_stay_in_raw_with_the_record_in_audit(tmp_path):
    data = minimal_snapshot()
    data["ssd_person"][1]["pers_ethnicity"] = "XXXX"
    data["ssd_person"][1]["pers_notes"] = "extra column"
    settings, outcome = _load(tmp_path, data)
    assert outcome.objects["ssd_person"].rows == 2
    assert outcome.objects["ssd_person"].rows_quarantined == 1
    assert query(
        settings, "select pers_person_id, _quarantined from raw.ssd_person order by 1"
    ) == [("P1", False), ("P2", True)]
    (record,) = query(settings, "select record from audit.quarantine where object = 'ssd_person'")
    assert json.loads(record[0])["pers_notes"] == "extra column"
    assert json.loads(record[0])["pers_ethnicity"] == "XXXX"
    assert query(
        settings,
        "select rows, rows_quarantined from audit.snapshot_objects where object = 'ssd_person'",
    ) == [(2, 1)]


def test_quarantine_over_threshold_fails_the_snapshot_but_keeps_rows(tmp_path):
    data = minimal_snapshot()
    data["ssd_person"][1]["pers_sex"] = "Z"  # 1 of 2 rows: 50 %
    settings, outcome = _load(tmp_path, data, threshold=0.05)
    assert outcome.status == FAILED_QUARANTINE
    assert outcome.reason.startswith(
        "ssd_person.csv: 1 of 2 rows quarantined (50.0%), above the 5.0% threshold"
    )
    assert query(settings, "select status, reason from audit.snapshots") == [
        (FAILED_QUARANTINE, outcome.reason)
    ]
    assert query(settings, "select count(*) from raw.ssd_person") == [(2,)]


def test_quarantine_at_threshold_still_loads(tmp_path):
    data = minimal_snapshot()
    for pid in ("P3", "P4"):  # people nothing else refers to
        data["ssd_person"].append({**data["ssd_person"][0], "pers_person_id": pid})
    data["ssd_person"][3]["pers_sex"] = "Z"  # 1 of 4 rows: 25 %
    _, outcome = _load(tmp_path, data, threshold=0.25)
    assert outcome.status == LOADED
    assert outcome.rows_quarantined == 1
