"""The synthetic authority's history as statutory returns (docs/returns.md), from an SSD snapshot.

For each collection year ending 31 March on or before the snapshot's date, the year's files hold
the records open during that year (started by 31 March, not ended before 1 April of the year
before), as the authority would have returned them on 31 March: an end after that date is not
known yet, so it is left empty with its reason. The 903 is written as CSV tables (``header.csv``,
``episodes.csv``, dates ``DD/MM/YYYY``) for every year but one, which is one XML file; the CIN
census is one XML file per year. The census holds every plan and assessment inside the
referral (``CINdetails``) it belongs to: one the case system did not link to a referral goes in
the referral metrics.md's fallback gives it (the child's case open on its start date, the latest
referral first), so its case is the same either way; one with no such case cannot be returned and
is left out. Workers, teams and the link from a period of care to its referral are not in the
returns at all (docs/returns.md, "What returns cannot carry").
"""

from __future__ import annotations

import csv
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

from fiw.contract import OBJECTS

SEX_903 = {"M": "1", "F": "2"}


@dataclass
class ReturnsReport:
    folder: Path
    years: list[int]
    xml_903_year: int | None
    rows: dict[str, int] = field(default_factory=dict)  # "<return> <year>" -> records written

    def summary(self) -> str:
        lines = [
            f"returns snapshot {self.folder} (collection years {self.years[0]}-{self.years[-1]})"
        ]
        for what, n in self.rows.items():
            lines.append(f"  {what}: {n:,}")
        return "\n".join(lines)


def _read(folder: Path, obj: str) -> list[dict[str, str | None]]:
    with (folder / f"{obj}.csv").open(newline="", encoding="utf-8") as f:
        return [{k: (v or None) for k, v in row.items()} for row in csv.DictReader(f)]


def _d(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def _dmy(value: str | None) -> str:
    return "" if not value else _d(value).strftime("%d/%m/%Y")


def _open_in(start: str | None, end: str | None, first: date, last: date) -> bool:
    """Started by ``last`` and not ended before ``first``."""
    s, e = _d(start), _d(end)
    return s is not None and s <= last and (e is None or e >= first)


def _known(end: str | None, last: date) -> str | None:
    """An end date as known on ``last`` (the census date): empty when still in the future."""
    return end if end and _d(end) <= last else None


def _el(name: str, value: str | None) -> str:
    return f"<{name}>{escape(value)}</{name}>" if value else ""


def write_returns(ssd_folder: Path, out: Path, when: date) -> ReturnsReport:
    """Write ``out/<when>/ssda903/<year>/...`` and ``out/<when>/cin/<year>.xml`` from the SSD
    snapshot folder ``ssd_folder``; then ``_SUCCESS``."""
    data = {name: _read(ssd_folder, name) for name in OBJECTS}
    starts = [
        _d(r[c])
        for name, c in (
            ("ssd_cin_episodes", "cine_referral_date"),
            ("ssd_cla_episodes", "clae_cla_episode_start_date"),
        )
        for r in data[name]
        if r[c]
    ]
    first_year = min(starts).year + (1 if min(starts).month > 3 else 0) if starts else when.year
    last_year = when.year if when >= date(when.year, 3, 31) else when.year - 1
    years = list(range(first_year, last_year + 1))
    folder = out / when.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "_SUCCESS").unlink(missing_ok=True)
    xml_year = years[len(years) // 2] if len(years) > 1 else None
    report = ReturnsReport(folder, years, xml_year)
    people = {p["pers_person_id"]: p for p in data["ssd_person"]}
    fallback = _referral_of_items(data)
    for year in years:
        first, last = date(year - 1, 4, 1), date(year, 3, 31)
        report.rows[f"903 {year}"] = _write_903(folder, data, people, year, first, last, xml_year)
        report.rows[f"CIN {year}"] = _write_cin(folder, data, people, fallback, year, first, last)
    (folder / "_SUCCESS").write_bytes(b"")
    return report


def _write_903(folder, data, people, year, first, last, xml_year) -> int:
    episodes = [
        e
        for e in data["ssd_cla_episodes"]
        if _open_in(
            e["clae_cla_episode_start_date"], e["clae_cla_episode_ceased_date"], first, last
        )
    ]
    by_child: dict[str, list[dict]] = defaultdict(list)
    for e in sorted(episodes, key=lambda e: e["clae_cla_episode_start_date"]):
        by_child[e["clae_person_id"]].append(e)
    target = folder / "ssda903" / str(year)
    target.mkdir(parents=True, exist_ok=True)

    def episode_values(e):
        end = _known(e["clae_cla_episode_ceased_date"], last)
        return {
            "DECOM": _dmy(e["clae_cla_episode_start_date"]),
            "RNE": e["clae_cla_episode_start_reason"] or "",
            "CIN": e["clae_cla_primary_need_code"] or "",
            "DEC": _dmy(end),
            "REC": (e["clae_cla_episode_ceased_reason"] or "") if end else "",
        }

    def header_values(child):
        p = people.get(child, {})
        sex = p.get("pers_sex")
        return {
            "SEX": SEX_903.get(sex or "", sex or ""),
            "DOB": _dmy(p.get("pers_dob")),
            "ETHNIC": p.get("pers_ethnicity") or "",
            "UPN": p.get("pers_common_child_id") or "",
        }

    if year == xml_year:
        with (target / "return.xml").open("w", encoding="utf-8") as f:
            f.write('<?xml version="1.0" encoding="utf-8"?>\n<EXPSSDA903>\n')
            for child, eps in by_child.items():
                head = header_values(child)
                f.write(f"<CHILD><HEADER>{_el('CHILDID', child)}")
                f.write("".join(_el(k, v) for k, v in head.items()) + "</HEADER>")
                for e in eps:
                    values = episode_values(e)
                    f.write("<EPISODE>" + "".join(_el(k, v) for k, v in values.items()))
                    f.write("</EPISODE>")
                f.write("</CHILD>\n")
            f.write("</EXPSSDA903>\n")
        return len(episodes)
    with (target / "header.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"])
        for child in by_child:
            w.writerow([child, *header_values(child).values(), "", ""])
    with (target / "episodes.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\r\n")
        columns = ["CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC"]
        w.writerow(columns)
        for child, eps in by_child.items():
            for e in eps:
                v = episode_values(e)
                w.writerow([child, v["DECOM"], v["RNE"], "", v["CIN"], "", "", v["DEC"], v["REC"]])
    return len(episodes)


ITEMS = (  # object, its referral id, person, start and end columns
    (
        "ssd_cin_assessments",
        "cina_referral_id",
        "cina_person_id",
        "cina_assessment_start_date",
        None,
    ),
    (
        "ssd_cin_plans",
        "cinp_referral_id",
        "cinp_person_id",
        "cinp_cin_plan_start_date",
        "cinp_cin_plan_end_date",
    ),
    (
        "ssd_cp_plans",
        "cppl_referral_id",
        "cppl_person_id",
        "cppl_cp_plan_start_date",
        "cppl_cp_plan_end_date",
    ),
)


def _case_open_on(cases: list[dict], day: str | None) -> str | None:
    """metrics.md's fallback: the id of the case (not NFA) of ``cases`` open on ``day``, the
    latest referral date first (then open, else the latest close), or None."""
    d = _d(day)
    open_ = [
        c
        for c in cases
        if d is not None
        and _d(c["cine_referral_date"]) <= d
        and (not c["cine_close_date"] or d <= _d(c["cine_close_date"]))
    ]
    if not open_:
        return None
    best = max(
        open_,
        key=lambda c: (c["cine_referral_date"], c["cine_close_date"] is None, c["cine_close_date"]),
    )
    return best["cine_referral_id"]


def _referral_of_items(data) -> dict[tuple[str, int], str | None]:
    """(object, row index) -> the referral a plan or assessment without one is returned in."""
    cases: dict[str, list[dict]] = defaultdict(list)
    for r in data["ssd_cin_episodes"]:
        if r["cine_referral_nfa"] != "Y":
            cases[r["cine_person_id"]].append(r)
    return {
        (name, i): _case_open_on(cases[row[person]], row[start])
        for name, ref, person, start, _ in ITEMS
        for i, row in enumerate(data[name])
        if not row[ref]
    }


def _write_cin(folder, data, people, fallback, year, first, last) -> int:
    referrals = [
        r
        for r in data["ssd_cin_episodes"]
        if _open_in(r["cine_referral_date"], r["cine_close_date"], first, last)
    ]
    items: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for name, ref, _, start, end in ITEMS:
        for i, row in enumerate(data[name]):
            referral = row[ref] or fallback.get((name, i))
            if referral and _open_in(row[start], row[end] if end else None, first, last):
                items[referral][name].append(row)
    by_child: dict[str, list[dict]] = defaultdict(list)
    for r in sorted(referrals, key=lambda r: r["cine_referral_date"]):
        by_child[r["cine_person_id"]].append(r)
    target = folder / "cin"
    target.mkdir(parents=True, exist_ok=True)
    with (target / f"{year}.xml").open("w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="utf-8"?>\n<Message>\n<Header><CollectionDetails>')
        f.write(f"<Collection>CIN</Collection><Year>{year}</Year>")
        f.write(f"<ReferenceDate>{last.isoformat()}</ReferenceDate></CollectionDetails></Header>\n")
        f.write("<Children>\n")
        for child, refs in by_child.items():
            p = people.get(child, {})
            f.write("<Child><ChildIdentifiers>" + _el("LAchildID", child))
            f.write(_el("UPN", p.get("pers_common_child_id")))
            f.write(_el("PersonBirthDate", p.get("pers_dob")) + _el("Sex", p.get("pers_sex")))
            f.write("</ChildIdentifiers><ChildCharacteristics>")
            f.write(_el("Ethnicity", p.get("pers_ethnicity")) + "</ChildCharacteristics>\n")
            for r in refs:
                f.write(_cin_details(r, items[r["cine_referral_id"]], last))
            f.write("</Child>\n")
        f.write("</Children>\n</Message>\n")
    return len(referrals)


def _cin_details(r: dict, items: dict[str, list[dict]], last: date) -> str:
    closed = _known(r["cine_close_date"], last)
    nfa = {"Y": "true", "N": "false"}.get(r["cine_referral_nfa"] or "")
    parts = [
        _el("CINreferralDate", r["cine_referral_date"]),
        _el("ReferralSource", r["cine_referral_source_code"]),
        _el("PrimaryNeedCode", r["cine_cin_primary_need_code"]),
        _el("CINclosureDate", closed),
        _el("ReasonForClosure", r["cine_close_reason"] if closed else None),
    ]
    for a in items.get("ssd_cin_assessments", []):
        parts.append(
            "<Assessments>"
            + _el("AssessmentActualStartDate", a["cina_assessment_start_date"])
            + _el("AssessmentAuthorisationDate", _known(a["cina_assessment_auth_date"], last))
            + "</Assessments>"
        )
    for p in items.get("ssd_cin_plans", []):
        parts.append(
            "<CINPlanDates>"
            + _el("CINPlanStartDate", p["cinp_cin_plan_start_date"])
            + _el("CINPlanEndDate", _known(p["cinp_cin_plan_end_date"], last))
            + "</CINPlanDates>"
        )
    parts.append(_el("ReferralNFA", nfa))
    for p in items.get("ssd_cp_plans", []):
        parts.append(
            "<ChildProtectionPlans>"
            + _el("CPPstartDate", p["cppl_cp_plan_start_date"])
            + _el("CPPendDate", _known(p["cppl_cp_plan_end_date"], last))
            + _el("InitialCategoryOfAbuse", p["cppl_cp_plan_initial_category"])
            + _el("LatestCategoryOfAbuse", p["cppl_cp_plan_latest_category"])
            + "</ChildProtectionPlans>"
        )
    return "<CINdetails>" + "".join(parts) + "</CINdetails>\n"


def generate_returns(out: Path, children: int, seed: int, as_of: date) -> ReturnsReport:
    """The synthetic authority of ``fiw generate`` (same arguments, same children), written as
    one returns snapshot folder ``out/<as_of>/``."""
    from fiw.synthetic import generate

    with tempfile.TemporaryDirectory(prefix="fiw-generate-") as tmp:
        generate(Path(tmp), children=children, seed=seed, as_of=as_of, snapshots=1)
        return write_returns(Path(tmp) / as_of.isoformat(), Path(out), as_of)
