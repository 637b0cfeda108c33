"""CIN census XML (``/Message/Children/Child``): persons, referrals, assessments and plans.

Each ``Child`` gives one ``ssd_person`` row (``Sex``, or ``GenderCurrent`` in older schemas) and
each of its ``CINdetails`` one ``ssd_cin_episodes`` row, id ``LAchildID/CINreferralDate``. Every
``Assessments``, ``CINPlanDates`` and ``ChildProtectionPlans`` element inside a ``CINdetails`` is
one item, id ``<referral id>/A|CIN|CP/<start date>``. Dates are ``YYYY-MM-DD`` as sent.

The census date (``Header/CollectionDetails/ReferenceDate``) orders the files of a folder; a file
without one is ordered by the year in its name (``2016.xml``, ``CIN_Census_2016.xml``: the census
of 31 March of that year).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from fiw.extract.returns.rows import FileProblem, RowSink, clean, key, nfa, sex
from fiw.extract.returns.xmlstream import child, children, fields, records, text

_YEAR_IN_NAME = re.compile(r"(?<!\d)(20\d\d)(?!\d)")
_REFERENCE_DATE = ("Message", "Header", "CollectionDetails", "ReferenceDate")
# The elements of a CINdetails other than its items (Assessments, CINPlanDates, ...): one that
# holds nothing else has no item to look for.
_DETAILS_FIELDS = frozenset(
    (
        "CINreferralDate",
        "ReferralSource",
        "PrimaryNeedCode",
        "ReferralNFA",
        "CINclosureDate",
        "ReasonForClosure",
        "DateOfInitialCPC",
    )
)


def year_from_name(name: str) -> str | None:
    """The census date a file name stands for (``2016`` -> ``2016-03-31``), or None."""
    years = _YEAR_IN_NAME.findall(Path(name).stem)
    return f"{years[-1]}-03-31" if years else None


def _iso_date(value: str | None) -> str | None:
    try:
        return date.fromisoformat(value).isoformat() if value and len(value) == 10 else None
    except ValueError:
        return None


def read(path: Path, display: str, sink: RowSink, file_no: int) -> str:
    """Stream one CIN census file into the sink; return its census date (ISO) for ordering.

    Raises :class:`FileProblem` when the file is not well-formed XML, is not a CIN census
    (``Message`` root), or has neither a census date nor a year in its name.
    """
    found: dict[str, str | None] = {}

    def reference(element) -> None:
        found["reference"] = clean(element.text)

    watch = {_REFERENCE_DATE: reference}
    for location, element in records(path, display, ("Message", "Children", "Child"), watch):
        _child(element, location, display, sink, file_no)
    census = _iso_date(found.get("reference")) or year_from_name(path.name)
    if census is None:
        raise FileProblem(
            f"{display}: no census date (Header/CollectionDetails/ReferenceDate) and no year in "
            "the file name, so its place among the years cannot be told; name it <year>.xml"
        )
    return census


def _child(element, location: str, display: str, sink: RowSink, file_no: int) -> None:
    ids = fields(child(element, "ChildIdentifiers"))
    child_id = ids.get("LAchildID")
    gender = ids.get("Sex")
    if gender is None:
        gender = ids.get("GenderCurrent")
    person = {
        "pers_person_id": child_id,
        "pers_sex": sex(gender),
        "pers_dob": ids.get("PersonBirthDate"),
        "pers_ethnicity": text(child(element, "ChildCharacteristics"), "Ethnicity"),
        "pers_common_child_id": ids.get("UPN"),
    }
    sink.add("ssd_person", person, file_no, f"{display}: {location}")
    for i, details in enumerate(children(element, "CINdetails"), start=1):
        where = f"{display}: {location}/CINdetails[{i}]"
        values = fields(details)
        referral_date = values.get("CINreferralDate")
        referral = key(child_id, referral_date)
        episode = {
            "cine_referral_id": referral,
            "cine_person_id": child_id,
            "cine_referral_date": referral_date,
            "cine_referral_source_code": values.get("ReferralSource"),
            "cine_cin_primary_need_code": values.get("PrimaryNeedCode"),
            "cine_referral_nfa": nfa(values.get("ReferralNFA")),
            "cine_close_date": values.get("CINclosureDate"),
            "cine_close_reason": values.get("ReasonForClosure"),
            "cine_referral_team": None,
        }
        sink.add("ssd_cin_episodes", episode, file_no, where)
        if len(values) <= len(_DETAILS_FIELDS) and values.keys() <= _DETAILS_FIELDS:
            continue  # no assessment or plan element in it
        for j, item in enumerate(children(details, "Assessments"), start=1):
            v = fields(item)
            start = v.get("AssessmentActualStartDate")
            row = {
                "cina_assessment_id": key(referral, "A", start),
                "cina_person_id": child_id,
                "cina_referral_id": referral,
                "cina_assessment_start_date": start,
                "cina_assessment_auth_date": v.get("AssessmentAuthorisationDate"),
            }
            sink.add("ssd_cin_assessments", row, file_no, f"{where}/Assessments[{j}]")
        for j, item in enumerate(children(details, "CINPlanDates"), start=1):
            v = fields(item)
            start = v.get("CINPlanStartDate")
            row = {
                "cinp_cin_plan_id": key(referral, "CIN", start),
                "cinp_referral_id": referral,
                "cinp_person_id": child_id,
                "cinp_cin_plan_start_date": start,
                "cinp_cin_plan_end_date": v.get("CINPlanEndDate"),
            }
            sink.add("ssd_cin_plans", row, file_no, f"{where}/CINPlanDates[{j}]")
        for j, item in enumerate(children(details, "ChildProtectionPlans"), start=1):
            v = fields(item)
            start = v.get("CPPstartDate")
            row = {
                "cppl_cp_plan_id": key(referral, "CP", start),
                "cppl_referral_id": referral,
                "cppl_person_id": child_id,
                "cppl_cp_plan_start_date": start,
                "cppl_cp_plan_end_date": v.get("CPPendDate"),
                "cppl_cp_plan_initial_category": v.get("InitialCategoryOfAbuse"),
                "cppl_cp_plan_latest_category": v.get("LatestCategoryOfAbuse"),
            }
            sink.add("ssd_cp_plans", row, file_no, f"{where}/ChildProtectionPlans[{j}]")
