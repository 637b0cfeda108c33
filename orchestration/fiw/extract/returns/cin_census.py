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
from fiw.extract.returns.xmlstream import fields, records

_YEAR_IN_NAME = re.compile(r"(?<!\d)(20\d\d)(?!\d)")
_REFERENCE_DATE = ("Message", "Header", "CollectionDetails", "ReferenceDate")
# The items of a CINdetails: each element of these names is one row of its object.
_ITEMS = ("Assessments", "CINPlanDates", "ChildProtectionPlans")
PERSON, EPISODES = "ssd_person", "ssd_cin_episodes"
ASSESSMENTS, CIN_PLANS, CP_PLANS = "ssd_cin_assessments", "ssd_cin_plans", "ssd_cp_plans"


def year_from_name(name: str) -> str | None:
    """The census date a file name stands for (``2016`` -> ``2016-03-31``), or None."""
    years = _YEAR_IN_NAME.findall(Path(name).stem)
    return f"{years[-1]}-03-31" if years else None


def _iso_date(value: str | None) -> str | None:
    try:
        return date.fromisoformat(value).isoformat() if value and len(value) == 10 else None
    except ValueError:
        return None


def read(path: Path, display: str, sink: RowSink) -> str:
    """Stream one CIN census file into the sink; return its census date (ISO) for ordering.

    Raises :class:`FileProblem` when the file is not well-formed XML, is not a CIN census
    (``Message`` root), or has neither a census date nor a year in its name.
    """
    found: dict[str, str | None] = {}

    def reference(element) -> None:
        found["reference"] = clean(element.text)

    watch = {_REFERENCE_DATE: reference}
    for location, element in records(path, display, ("Message", "Children", "Child"), watch):
        _child(element, f"{display}: {location}", sink.add)
    census = _iso_date(found.get("reference")) or year_from_name(path.name)
    if census is None:
        raise FileProblem(
            f"{display}: no census date (Header/CollectionDetails/ReferenceDate) and no year in "
            "the file name, so its place among the years cannot be told; name it <year>.xml"
        )
    return census


def _child(element, where: str, add) -> None:
    """The rows of one ``Child``, read in one pass over its children and one over each of its
    ``CINdetails`` (a search per element name costs a Python step per child for each name)."""
    ids = characteristics = None
    details = []
    for c in element:
        name = c.tag
        if type(name) is not str:  # an entity reference
            continue
        if name[0] == "{":
            name = name[name.index("}") + 1 :]
        if name == "CINdetails":
            details.append(c)
        elif name == "ChildIdentifiers":
            if ids is None:
                ids = c
        elif name == "ChildCharacteristics" and characteristics is None:
            characteristics = c
    ids = fields(ids)
    child_id = ids.get("LAchildID")
    gender = ids.get("Sex")
    if gender is None:
        gender = ids.get("GenderCurrent")
    ethnicity = fields(characteristics).get("Ethnicity")
    add(
        PERSON,
        (child_id, sex(gender), ids.get("PersonBirthDate"), ethnicity, ids.get("UPN")),
        where,
    )
    for i, d in enumerate(details, start=1):
        _details(d, child_id, f"{where}/CINdetails[{i}]", add)


def _details(element, child_id: str | None, where: str, add) -> None:
    values: dict[str, str | None] = {}
    items = None  # (name, element) of each assessment or plan, in the file's order
    for c in element:
        name = c.tag
        if type(name) is not str:
            continue
        if name[0] == "{":
            name = name[name.index("}") + 1 :]
        if name in _ITEMS:
            if items is None:
                items = []
            items.append((name, c))
        elif name not in values:
            text = c.text
            if text is not None:
                text = text.strip() or None
            values[name] = text
    referral_date = values.get("CINreferralDate")
    referral = key(child_id, referral_date)
    add(
        EPISODES,
        (
            referral,
            child_id,
            referral_date,
            values.get("ReferralSource"),
            values.get("PrimaryNeedCode"),
            nfa(values.get("ReferralNFA")),
            values.get("CINclosureDate"),
            values.get("ReasonForClosure"),
        ),
        where,
    )
    if items is None:
        return
    seen = dict.fromkeys(_ITEMS, 0)  # items of each name so far: the element's index
    for name, item in items:
        seen[name] = n = seen[name] + 1
        v = fields(item)
        at = f"{where}/{name}[{n}]"
        if name == "Assessments":
            start = v.get("AssessmentActualStartDate")
            row = (
                key(referral, "A", start),
                child_id,
                referral,
                start,
                v.get("AssessmentAuthorisationDate"),
            )
            add(ASSESSMENTS, row, at)
        elif name == "CINPlanDates":
            start = v.get("CINPlanStartDate")
            row = (key(referral, "CIN", start), referral, child_id, start, v.get("CINPlanEndDate"))
            add(CIN_PLANS, row, at)
        else:
            start = v.get("CPPstartDate")
            row = (
                key(referral, "CP", start),
                referral,
                child_id,
                start,
                v.get("CPPendDate"),
                v.get("InitialCategoryOfAbuse"),
                v.get("LatestCategoryOfAbuse"),
            )
            add(CP_PLANS, row, at)
