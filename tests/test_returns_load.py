"""Statutory returns snapshots (docs/returns.md): mapping, latest year wins, bad input."""

from __future__ import annotations

import json
from pathlib import Path

from fiw.extract import FAILED_QUARANTINE, LOADED, REJECTED, load_new_snapshots

from tests.fixtures.extract_helpers import (
    load_honouring_permissions,
    quarantine,
    query,
    settings_for,
)

DAY = "2016-06-01"

HEADER_2015 = """CHILD,SEX,DOB,ETHNIC,UPN,MOTHER,MC_DOB
C1,1,05/06/2010,WBRI,A100000000001,,
C2,2,17/01/2008,MWBC,A100000000002,,
"""
# C1's episode is open on 31 March 2015; the 2016 return has it closed.
EPISODES_2015 = """child,decom,rne,ls,cin,place,place_provider,dec,rec,reason_place_change
C1,01/02/2015,S,C2,N1,U1,PR1,,,
C2,03/03/2014,L,V2,N2,U3,PR2,10/01/2015,E13,
"""
XML_903_2016 = """<?xml version="1.0" encoding="utf-8"?>
<EXPSSDA903>
  <CHILD>
    <HEADER><CHILDID>C1</CHILDID><UPN>A100000000001</UPN><SEX>1</SEX><DOB>05/06/2010</DOB>
      <ETHNIC>WBRI</ETHNIC></HEADER>
    <EPISODE><DECOM>01/02/2015</DECOM><RNE>S</RNE><LS>C2</LS><CIN>N1</CIN><PL>U1</PL>
      <DEC>10/10/2015</DEC><REC>E11</REC></EPISODE>
  </CHILD>
  <CHILD>
    <HEADER><CHILDID>C3</CHILDID><SEX>U</SEX><DOB>29/02/2012</DOB><ETHNIC>AIND</ETHNIC></HEADER>
    <EPISODE><DECOM>04/04/2015</DECOM><RNE>P</RNE><CIN>N4</CIN><DEC></DEC><REC></REC></EPISODE>
  </CHILD>
</EXPSSDA903>
"""
CIN_2015 = """<Message>
  <Header><CollectionDetails><Collection>CIN</Collection><Year>2015</Year>
    <ReferenceDate>2015-03-31</ReferenceDate></CollectionDetails></Header>
  <Children>
    <Child>
      <ChildIdentifiers><LAchildID>C1</LAchildID><UPN>A100000000001</UPN>
        <PersonBirthDate>2010-06-04</PersonBirthDate><Sex>M</Sex></ChildIdentifiers>
      <ChildCharacteristics><Ethnicity>WIRI</Ethnicity></ChildCharacteristics>
      <CINdetails>
        <CINreferralDate>2014-05-01</CINreferralDate><ReferralSource>1A</ReferralSource>
        <PrimaryNeedCode>N1</PrimaryNeedCode><ReferralNFA>false</ReferralNFA>
        <Assessments><AssessmentActualStartDate>2014-05-03</AssessmentActualStartDate>
          <AssessmentAuthorisationDate>2014-06-01</AssessmentAuthorisationDate></Assessments>
      </CINdetails>
    </Child>
  </Children>
</Message>
"""
# No ReferenceDate: ordered by its name (2016). GenderCurrent, the older schema's element.
CIN_2016 = """<Message>
  <Header><CollectionDetails><Collection>CIN</Collection></CollectionDetails></Header>
  <Children>
    <Child>
      <ChildIdentifiers><LAchildID>C1</LAchildID><UPN>A100000000001</UPN>
        <PersonBirthDate>2010-06-05</PersonBirthDate><GenderCurrent>2</GenderCurrent>
      </ChildIdentifiers>
      <ChildCharacteristics><Ethnicity>WBRI</Ethnicity></ChildCharacteristics>
      <CINdetails>
        <CINreferralDate>2014-05-01</CINreferralDate><ReferralSource>1A</ReferralSource>
        <PrimaryNeedCode>N1</PrimaryNeedCode><CINclosureDate>2015-12-01</CINclosureDate>
        <ReasonForClosure>RC8</ReasonForClosure><ReferralNFA>0</ReferralNFA>
        <Assessments><AssessmentActualStartDate>2014-05-03</AssessmentActualStartDate>
          <AssessmentAuthorisationDate>2014-06-02</AssessmentAuthorisationDate></Assessments>
        <CINPlanDates><CINPlanStartDate>2014-06-10</CINPlanStartDate>
          <CINPlanEndDate>2014-09-01</CINPlanEndDate></CINPlanDates>
        <ChildProtectionPlans><CPPstartDate>2014-09-01</CPPstartDate>
          <CPPendDate>2015-08-01</CPPendDate><InitialCategoryOfAbuse>NEG</InitialCategoryOfAbuse>
          <LatestCategoryOfAbuse>EMO</LatestCategoryOfAbuse></ChildProtectionPlans>
      </CINdetails>
      <CINdetails>
        <CINreferralDate>2016-01-20</CINreferralDate><ReferralSource>5A</ReferralSource>
        <PrimaryNeedCode>N3</PrimaryNeedCode><ReferralNFA>true</ReferralNFA>
      </CINdetails>
    </Child>
  </Children>
</Message>
"""


def write(folder: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def good_folder(exports: Path) -> dict[str, str | bytes]:
    files = {
        "ssda903/2015/header.csv": HEADER_2015,
        "ssda903/2015/episodes.csv": EPISODES_2015,
        "ssda903/2015/reviews.csv": "CHILD,DOB,REVIEW,REVIEW_CODE\nC1,05/06/2010,01/03/2015,PN1\n",
        "ssda903/2016/return.xml": XML_903_2016,
        "cin/2015.xml": CIN_2015,
        "cin/2016.xml": CIN_2016,
    }
    write(exports / DAY, files)
    return files


def rows(settings, obj: str, key: str) -> dict[str, dict]:
    with_cols = query(settings, f"select * from raw.{obj} order by {key}")
    names = [
        r[0]
        for r in query(
            settings,
            "select column_name from information_schema.columns where table_schema = 'raw' "
            "and table_name = ? order by ordinal_position",
            [obj],
        )
    ]
    return {r[0]: dict(zip(names, r, strict=True)) for r in with_cols}


def test_returns_folder_loads_with_every_field_mapped(tmp_path):
    good_folder(tmp_path / "exports")
    settings = settings_for(tmp_path)
    (outcome,) = load_new_snapshots(settings).outcomes
    assert outcome.status == LOADED, outcome.reason
    counts = {name: (c.rows, c.rows_quarantined) for name, c in outcome.objects.items()}
    assert counts == {
        "ssd_department": (0, 0),
        "ssd_professionals": (0, 0),
        "ssd_person": (3, 0),
        "ssd_cin_episodes": (2, 0),
        "ssd_cin_assessments": (1, 0),
        "ssd_cin_plans": (1, 0),
        "ssd_cp_plans": (1, 0),
        "ssd_cla_episodes": (3, 0),
        "ssd_involvements": (0, 0),
    }
    assert outcome.objects["ssd_person"].source_file == (
        "cin/2016.xml, ssda903/2015/header.csv, ssda903/2016/return.xml"
    )

    person = rows(settings, "ssd_person", "pers_person_id")
    # C1 is in both returns: the latest CIN census (2016, GenderCurrent 2) wins over the 903.
    c1 = person["C1"]
    assert (c1["pers_sex"], c1["pers_dob"], c1["pers_ethnicity"]) == ("F", "2010-06-05", "WBRI")
    assert c1["pers_common_child_id"] == "A100000000001"
    assert c1["_source_file"] == "cin/2016.xml: /Message/Children/Child[1]"
    c2 = person["C2"]  # 903 CSV only: SEX 2, DOB DD/MM/YYYY
    assert (c2["pers_sex"], c2["pers_dob"], c2["pers_ethnicity"]) == ("F", "2008-01-17", "MWBC")
    assert c2["_source_file"] == "ssda903/2015/header.csv: line 3"
    c3 = person["C3"]  # 903 XML only: SEX U
    assert (c3["pers_sex"], c3["pers_dob"], c3["pers_common_child_id"]) == ("U", "2012-02-29", None)
    assert c3["_source_file"] == "ssda903/2016/return.xml: /EXPSSDA903/CHILD[2]/HEADER"
    assert all(p["pers_forename"] is None and p["pers_death_date"] is None for p in person.values())

    cla = rows(settings, "ssd_cla_episodes", "clae_cla_episode_id")
    assert set(cla) == {"C1/2015-02-01", "C2/2014-03-03", "C3/2015-04-04"}
    c1_episode = cla["C1/2015-02-01"]  # open in 2015, closed in the 2016 return: 2016 wins
    assert {k: v for k, v in c1_episode.items() if k.startswith("clae_")} == {
        "clae_cla_episode_id": "C1/2015-02-01",
        "clae_person_id": "C1",
        "clae_referral_id": None,
        "clae_cla_episode_start_date": "2015-02-01",
        "clae_cla_episode_start_reason": "S",
        "clae_cla_primary_need_code": "N1",
        "clae_cla_episode_ceased_date": "2015-10-10",
        "clae_cla_episode_ceased_reason": "E11",
    }
    assert c1_episode["_source_file"] == "ssda903/2016/return.xml: /EXPSSDA903/CHILD[1]/EPISODE[1]"
    c2_episode = cla["C2/2014-03-03"]  # ended before 2016: kept from the 2015 return
    assert (c2_episode["clae_cla_episode_ceased_date"], c2_episode["_source_file"]) == (
        "2015-01-10",
        "ssda903/2015/episodes.csv: line 3",
    )
    assert cla["C3/2015-04-04"]["clae_cla_episode_ceased_date"] is None

    cin = rows(settings, "ssd_cin_episodes", "cine_referral_id")
    assert {k: v for k, v in cin["C1/2014-05-01"].items() if k.startswith("cine_")} == {
        "cine_referral_id": "C1/2014-05-01",
        "cine_person_id": "C1",
        "cine_referral_date": "2014-05-01",
        "cine_referral_source_code": "1A",
        "cine_cin_primary_need_code": "N1",
        "cine_referral_nfa": "N",
        "cine_close_date": "2015-12-01",
        "cine_close_reason": "RC8",
        "cine_referral_team": None,
    }
    assert cin["C1/2016-01-20"]["cine_referral_nfa"] == "Y"
    assert cin["C1/2016-01-20"]["_source_file"] == (
        "cin/2016.xml: /Message/Children/Child[1]/CINdetails[2]"
    )
    (assessment,) = rows(settings, "ssd_cin_assessments", "cina_assessment_id").values()
    assert {k: v for k, v in assessment.items() if k.startswith("cina_")} == {
        "cina_assessment_id": "C1/2014-05-01/A/2014-05-03",
        "cina_person_id": "C1",
        "cina_referral_id": "C1/2014-05-01",
        "cina_assessment_start_date": "2014-05-03",
        "cina_assessment_auth_date": "2014-06-02",  # the 2016 version
        "cina_assessment_outcome_nfa": None,
    }
    (plan,) = rows(settings, "ssd_cin_plans", "cinp_cin_plan_id").values()
    assert {k: v for k, v in plan.items() if k.startswith("cinp_")} == {
        "cinp_cin_plan_id": "C1/2014-05-01/CIN/2014-06-10",
        "cinp_referral_id": "C1/2014-05-01",
        "cinp_person_id": "C1",
        "cinp_cin_plan_start_date": "2014-06-10",
        "cinp_cin_plan_end_date": "2014-09-01",
    }
    (cp,) = rows(settings, "ssd_cp_plans", "cppl_cp_plan_id").values()
    assert {k: v for k, v in cp.items() if k.startswith("cppl_")} == {
        "cppl_cp_plan_id": "C1/2014-05-01/CP/2014-09-01",
        "cppl_referral_id": "C1/2014-05-01",
        "cppl_person_id": "C1",
        "cppl_cp_plan_start_date": "2014-09-01",
        "cppl_cp_plan_end_date": "2015-08-01",
        "cppl_cp_plan_initial_category": "NEG",
        "cppl_cp_plan_latest_category": "EMO",
    }
    assert cp["_source_file"] == (
        "cin/2016.xml: /Message/Children/Child[1]/CINdetails[1]/ChildProtectionPlans[1]"
    )


def test_loading_a_returns_folder_twice_changes_nothing(tmp_path):
    good_folder(tmp_path / "exports")
    settings = settings_for(tmp_path)
    first = load_new_snapshots(settings).outcomes[0]
    (again,) = load_new_snapshots(settings).outcomes
    assert again.already_known and again.snapshot_id == first.snapshot_id
    # The id covers the files under ssda903/ and cin/: changing one is a new snapshot.
    (tmp_path / "exports" / DAY / "cin" / "2016.xml").write_text(CIN_2016.replace("RC8", "RC7"))
    (changed,) = load_new_snapshots(settings).outcomes
    assert not changed.already_known and changed.snapshot_id != first.snapshot_id


def rejected(tmp_path, files: dict[str, str | bytes]) -> str:
    write(tmp_path / "exports" / DAY, files)
    settings = settings_for(tmp_path)
    (outcome,) = load_new_snapshots(settings).outcomes
    assert outcome.status == REJECTED
    assert query(settings, "select count(*) from raw.ssd_person") == [(0,)]
    return outcome.reason


def test_xml_that_is_not_well_formed_rejects_the_snapshot_naming_the_file(tmp_path):
    broken = CIN_2016.replace("</CINdetails>\n    </Child>", "</CINdetail>\n    </Child>")
    reason = rejected(tmp_path, {"cin/2015.xml": CIN_2015, "cin/2016.xml": broken})
    assert reason.startswith("rejected whole, nothing loaded: cin/2016.xml: not well-formed XML")
    assert reason.endswith(
        "(line 24, column 18): Opening and ending tag mismatch: CINdetails line 21 and CINdetail"
    )


def test_a_record_with_too_many_fields_rejects_the_snapshot_naming_file_and_line(tmp_path):
    ragged = EPISODES_2015 + "C2,04/04/2015,S,C2,N1,U1,PR1,,,,\n"
    reason = rejected(
        tmp_path, {"ssda903/2015/header.csv": HEADER_2015, "ssda903/2015/episodes.csv": ragged}
    )
    assert "ssda903/2015/episodes.csv: line 4 has 11 fields, the header has 10" in reason


def test_invalid_csv_and_utf8_reject_the_snapshot(tmp_path):
    bad_quote = HEADER_2015 + 'C4,1,"01/01/2011"x,WBRI,,,\n'
    reason = rejected(
        tmp_path,
        {
            "ssda903/2015/header.csv": bad_quote,
            "ssda903/2015/episodes.csv": EPISODES_2015,
            "ssda903/2016/header.csv": HEADER_2015.encode() + b"C9,1,01/01/2011,\xff\xfe,,,\n",
            "ssda903/2016/episodes.csv": EPISODES_2015,
        },
    )
    assert "ssda903/2015/header.csv: line 4: not valid CSV" in reason
    assert "ssda903/2016/header.csv: line 4: not valid UTF-8 (invalid start byte)" in reason


def test_a_903_year_without_episodes_rejects_the_snapshot(tmp_path):
    reason = rejected(
        tmp_path,
        {
            "ssda903/2015/header.csv": HEADER_2015,
            "ssda903/2015/uasc.csv": "CHILD,SEX,DOB,DUC\nC1,1,05/06/2010,05/06/2028\n",
            "cin/2015.xml": CIN_2015,
        },
    )
    assert reason == (
        "rejected whole, nothing loaded: ssda903/2015/: no 903 episodes table (a CSV whose "
        "header row has CHILD, DECOM); other tables there: uasc.csv: a 903 year needs both "
        "header and episodes"
    )


def test_returns_and_ssd_files_in_one_folder_are_rejected(tmp_path):
    reason = rejected(
        tmp_path, {"cin/2015.xml": CIN_2015, "ssd_person.csv": "pers_person_id\nC1\n"}
    )
    assert "holds both statutory returns (ssda903/, cin/) and SSD files" in reason
    assert "(ssd_person.csv)" in reason


def test_a_cin_file_without_census_date_or_year_is_rejected(tmp_path):
    reason = rejected(tmp_path, {"cin/latest.xml": CIN_2016, "cin/other.xml": "<Other/>"})
    assert "cin/latest.xml: no census date" in reason
    assert "cin/other.xml: root element is <Other>, not <Message>" in reason


BAD_CIN = """<Message>
  <Header><CollectionDetails><ReferenceDate>2016-03-31</ReferenceDate></CollectionDetails>
  </Header>
  <Children>
    <Child>
      <ChildIdentifiers><LAchildID>C1</LAchildID><PersonBirthDate>2010-06-05</PersonBirthDate>
        <Sex>X</Sex></ChildIdentifiers>
      <CINdetails>
        <CINreferralDate>2014-05-01</CINreferralDate><ReferralSource>1A</ReferralSource>
        <PrimaryNeedCode>N1</PrimaryNeedCode><ReferralNFA>false</ReferralNFA>
      </CINdetails>
      <CINdetails>
        <CINreferralDate>2015-02-30</CINreferralDate><ReferralSource>ZZ</ReferralSource>
        <PrimaryNeedCode>N1</PrimaryNeedCode><ReferralNFA>maybe</ReferralNFA>
        <CINclosureDate>2015-01-01</CINclosureDate>
      </CINdetails>
      <CINdetails>
        <CINreferralDate>2014-05-01</CINreferralDate><ReferralSource>1A</ReferralSource>
        <PrimaryNeedCode>N2</PrimaryNeedCode><ReferralNFA>1</ReferralNFA>
      </CINdetails>
    </Child>
  </Children>
</Message>
"""


def test_records_breaking_rules_are_quarantined_with_file_path_and_every_reason(tmp_path):
    bad_episodes = (
        EPISODES_2015
        + "C2,03/03/2014,Q,C2,N0,U1,PR1,01/01/2014,E11,\n"
        + "C2,31/02/2015,S,C2,N1,U1,PR1,,,\n"
    )
    files = {
        "ssda903/2015/header.csv": HEADER_2015,
        "ssda903/2015/episodes.csv": bad_episodes,
        "cin/2016.xml": BAD_CIN,
    }
    write(tmp_path / "exports" / DAY, files)
    settings = settings_for(tmp_path)
    (outcome,) = load_new_snapshots(settings).outcomes
    assert outcome.status == FAILED_QUARANTINE

    (person,) = quarantine(settings, "ssd_person")
    assert person[0] == "cin/2016.xml: /Message/Children/Child[1]"
    assert person[2:] == ("C1", "pers_sex 'X' is not a code in ref_sex")

    cin = quarantine(settings, "ssd_cin_episodes")
    by_place = {r[0]: r for r in cin}
    assert set(by_place) == {
        "cin/2016.xml: /Message/Children/Child[1]/CINdetails[1]",
        "cin/2016.xml: /Message/Children/Child[1]/CINdetails[2]",
        "cin/2016.xml: /Message/Children/Child[1]/CINdetails[3]",
    }
    # Every CINdetails names a person that is itself quarantined (C1): a dangling reference.
    second = by_place["cin/2016.xml: /Message/Children/Child[1]/CINdetails[2]"][3]
    for reason in (
        "cine_person_id 'C1' has no accepted row in ssd_person",
        "cine_referral_date '2015-02-30' is not a real date (YYYY-MM-DD)",
        "cine_referral_source_code 'ZZ' is not a code in ref_referral_sources",
        "cine_referral_nfa 'maybe' is not Y or N",
        "cine_close_date given without cine_close_reason",
    ):
        assert reason in second
    # Two CINdetails of one year with the same key: a duplicate, both quarantined.
    first = by_place["cin/2016.xml: /Message/Children/Child[1]/CINdetails[1]"]
    third = by_place["cin/2016.xml: /Message/Children/Child[1]/CINdetails[3]"]
    assert "cine_referral_id 'C1/2014-05-01' is duplicated" in first[3]
    assert "cine_referral_id 'C1/2014-05-01' is duplicated" in third[3]

    cla = {r[0]: r for r in quarantine(settings, "ssd_cla_episodes")}
    assert set(cla) == {
        "ssda903/2015/episodes.csv: line 2",
        "ssda903/2015/episodes.csv: line 3",
        "ssda903/2015/episodes.csv: line 4",
        "ssda903/2015/episodes.csv: line 5",
    }
    dangling, duplicate, again, bad_date = cla.values()
    # C1 is in both returns: the CIN census's record wins, and it is quarantined (sex X).
    assert dangling[3] == "clae_person_id 'C1' has no accepted row in ssd_person"
    assert duplicate[2] == again[2] == "C2/2014-03-03"
    assert (
        duplicate[3]
        == f"clae_cla_episode_id 'C2/2014-03-03' is duplicated (also on line {again[1]})"
    )
    for reason in (
        "clae_cla_episode_start_reason 'Q' is not a code in ref_reasons_new_episode",
        "clae_cla_primary_need_code 'N0' is not a code in N1-N8",
        "clae_cla_episode_ceased_date '2014-01-01' is before clae_cla_episode_start_date "
        "'2014-03-03'",
        f"clae_cla_episode_id 'C2/2014-03-03' is duplicated (also on line {duplicate[1]})",
    ):
        assert reason in again[3]
    # A date that is not real is passed on as it arrived, so the reason shows what was sent.
    assert bad_date[2] == "C2/31/02/2015"
    assert bad_date[3] == (
        "clae_cla_episode_start_date '31/02/2015' is not a real date (YYYY-MM-DD)"
    )
    record = json.loads(
        query(
            settings,
            "select record from audit.quarantine where object = 'ssd_cla_episodes' "
            "and source_file like '%line 4'",
        )[0][0]
    )
    assert record["clae_cla_episode_start_reason"] == "Q"
    assert record["clae_cla_episode_ceased_date"] == "2014-01-01"


def test_an_unreadable_returns_file_rejects_the_snapshot_until_it_can_be_read(tmp_path):
    good_folder(tmp_path / "exports")
    header = tmp_path / "exports" / DAY / "ssda903" / "2015" / "header.csv"
    header.chmod(0o000)
    ((name, status, sid, reason, known),) = load_honouring_permissions(tmp_path)
    assert (name, status, known) == (DAY, REJECTED, False)
    assert reason.startswith(
        f"rejected whole, nothing loaded: {DAY}/ssda903/2015/header.csv cannot be read "
        "([Errno 13] Permission denied); check the exporter's file permissions"
    )
    header.chmod(0o644)
    ((_, status, later_sid, _, _),) = load_honouring_permissions(tmp_path)
    assert status == LOADED and later_sid != sid


def loaded_rows(settings) -> dict[str, list[tuple]]:
    """Every raw row (with its line number and source) and every quarantined row."""
    out = {
        obj: query(settings, f"select * from raw.{obj} order by all")
        for obj in (
            "ssd_person",
            "ssd_cin_episodes",
            "ssd_cin_assessments",
            "ssd_cin_plans",
            "ssd_cp_plans",
            "ssd_cla_episodes",
        )
    }
    out["quarantine"] = query(
        settings,
        "select object, source_file, line_number, record_id, reasons from audit.quarantine "
        "order by all",
    )
    return out


def test_a_folder_read_by_several_processes_loads_as_one_process_reads_it(tmp_path, monkeypatch):
    """A big folder's files are read by several processes (here forced for a small one): the same
    rows, numbered and named alike, the same quarantine, the same rejection."""
    from fiw.extract.returns import folder

    bad = {
        "ssda903/2015/header.csv": HEADER_2015,
        "ssda903/2015/episodes.csv": EPISODES_2015 + "C2,31/02/2015,S,C2,N1,U1,PR1,,,\n",
        "cin/2015.xml": CIN_2015,
        "cin/2016.xml": BAD_CIN,
    }
    broken = CIN_2016.replace("</CINdetails>\n    </Child>", "</CINdetail>\n    </Child>")
    outcomes = []
    for readers in (1, 2):
        monkeypatch.setattr(folder, "_readers", lambda planned, n=readers: n)
        seen = []
        for name, files in (
            ("good", None),
            ("bad", bad),
            ("broken", {"cin/2015.xml": CIN_2015, "cin/2016.xml": broken}),
        ):
            root = tmp_path / f"{name}-{readers}"
            if files is None:
                good_folder(root / "exports")
            else:
                write(root / "exports" / DAY, files)
            settings = settings_for(root)
            (outcome,) = load_new_snapshots(settings).outcomes
            seen.append((outcome.status, outcome.reason, loaded_rows(settings)))
        outcomes.append(seen)
    single, several = outcomes
    assert [s[0] for s in single] == [LOADED, FAILED_QUARANTINE, REJECTED]
    assert single[1][2]["quarantine"] and single[0][2]["ssd_cp_plans"]
    assert several == single
