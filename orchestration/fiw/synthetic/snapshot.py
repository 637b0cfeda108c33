"""Render the simulated records as one night's full snapshot: the case system as of ``day``.

Nothing dated after ``day`` appears: a record that starts later is left out, and an end (with its
reason) that comes later is NULL, as it was on that night. Records first entered wrongly show the
wrong value until the day they were corrected, and duplicates until the day they were deleted.
"""

from __future__ import annotations

from collections.abc import Callable

from fiw.synthetic.calendar import DateText

Rows = list[list[str]]


def render(records: dict[str, list[tuple]], day: int, text: DateText) -> dict[str, Rows]:
    """The rows (text, contract column order) of every object the records hold, as of ``day``."""
    return {name: RENDERERS[name](rows, day, text) for name, rows in records.items() if rows}


def _person(rows: list[tuple], day: int, ds: DateText) -> Rows:
    out = []
    for pid, fore, sur, sex, eth, dob, nhs, death, shown, deleted in rows:
        if shown <= day and (deleted is None or day < deleted):
            died = ds(death) if death is not None and death <= day else ""
            out.append([pid, fore, sur, sex, eth, ds(dob), nhs, died])
    return out


def _referral(rows: list[tuple], day: int, ds: DateText) -> Rows:
    out = []
    for rid, pid, referred, source, need, nfa, close, reason, team in rows:
        if referred <= day:
            if close is not None and close <= day:
                out.append([rid, pid, ds(referred), source, need, nfa, ds(close), reason, team])
            else:
                out.append([rid, pid, ds(referred), source, need, nfa, "", "", team])
    return out


def _assessment(rows: list[tuple], day: int, ds: DateText) -> Rows:
    out = []
    for aid, pid, rid, start, auth, nfa, recorded, corrected in rows:
        if start <= day:
            if auth > day:
                out.append([aid, pid, rid, ds(start), "", ""])
            else:
                shown = recorded if corrected is not None and day < corrected else auth
                out.append([aid, pid, rid, ds(start), ds(shown), nfa])
    return out


def _cin_plan(rows: list[tuple], day: int, ds: DateText) -> Rows:
    out = []
    for plan, rid, pid, start, end in rows:
        if start <= day:
            out.append([plan, rid or "", pid, ds(start), ds(end) if end <= day else ""])
    return out


def _cp_plan(rows: list[tuple], day: int, ds: DateText) -> Rows:
    out = []
    for plan, rid, pid, start, end, initial, latest, changed in rows:
        if start <= day:
            now = latest if changed is None or changed <= day else initial
            shown_end = ds(end) if end <= day else ""
            out.append([plan, rid or "", pid, ds(start), shown_end, initial, now])
    return out


def _care(rows: list[tuple], day: int, ds: DateText) -> Rows:
    out = []
    for eid, pid, rid, start, rne, need, ceased, reason in rows:
        if start <= day:
            if ceased <= day:
                out.append([eid, pid, rid or "", ds(start), rne, need, ds(ceased), reason])
            else:
                out.append([eid, pid, rid or "", ds(start), rne, need, "", ""])
    return out


def _involvement(rows: list[tuple], day: int, ds: DateText) -> Rows:
    out = []
    for iid, prof, team, pid, rid, start, end in rows:
        if start <= day:
            shown_end = ds(end) if end is not None and end <= day else ""
            out.append([iid, prof, team, pid, rid, ds(start), shown_end])
    return out


RENDERERS: dict[str, Callable[[list[tuple], int, DateText], Rows]] = {
    "ssd_person": _person,
    "ssd_cin_episodes": _referral,
    "ssd_cin_assessments": _assessment,
    "ssd_cin_plans": _cin_plan,
    "ssd_cp_plans": _cp_plan,
    "ssd_cla_episodes": _care,
    "ssd_involvements": _involvement,
}
