"""The life of each child in the case system: referrals, assessments, plans, care and allocation.

A child is referred (some again, years later), the referral is closed at the front door or
assessed, and an assessed case closes or moves through CIN plans, CP plans (after a section 47
enquiry) and periods of care, stepping up and down, until it closes with the RC code its path
implies. Periods of care are SSDA903 episode chains: placement moves end one episode with X1 and
start the next the same day with a real RNE code. Workers of the child's team are allocated to the
case; the previous model's teams hand open cases to the needs-based unit of the child's presenting
need on the programme's first day.

Records are tuples in the contract's column order (a few bookkeeping fields after them), days as
ordinals. Days after the extract date are hidden when a snapshot is rendered (``snapshot.py``), so
one simulation serves every snapshot. A ``Timeline`` owns one random stream, seeded by the run's
seed and its chunk number, so chunks can be simulated in any process and in any order.
"""

from __future__ import annotations

from fiw.contract import OBJECTS, code_list
from fiw.synthetic.behaviour import FAMILY_INSIGHTS, PREVIOUS, Era
from fiw.synthetic.calendar import add_years
from fiw.synthetic.draws import Draws, weighted
from fiw.synthetic.reference import (
    ETHNICITY,
    FORENAMES,
    NEEDS,
    OTHER_NEED,
    SEX,
    SURNAMES,
    Need,
    cla_need,
    teams,
)

HISTORY_YEARS = 6  # the SSD keeps about six years: cases closed before then are not extracted
BURN_IN_YEARS = 2  # children first referred this long before the history, so it starts settled
PERSON_BASE = 1_000_000  # person ids: PERSON_BASE + child number; duplicates after all children
ID_BASE = {
    "ssd_cin_episodes": 1_000_000_000,
    "ssd_cin_assessments": 2_000_000_000,
    "ssd_cin_plans": 3_000_000_000,
    "ssd_cp_plans": 4_000_000_000,
    "ssd_cla_episodes": 5_000_000_000,
    "ssd_involvements": 6_000_000_000,
}
IDS_PER_CHILD = 256  # record ids of child n: ID_BASE + n * IDS_PER_CHILD + k, k < IDS_PER_CHILD
MAX_REFERRALS = 6
MAX_PLANS = 8
MAX_MOVES = 4  # placement moves within one period of care
MAX_WORKERS = 6  # allocations of one team to one case

AGES = weighted(((0, 1), (1, 5), (5, 10), (10, 16), (16, 18)), (14, 24, 25, 29, 8))  # years
DUPLICATE_SHARE = 0.003  # children also entered twice; the duplicate is deleted weeks later
CORRECTED_SHARE = 0.01  # assessments first recorded with a wrong date, corrected weeks later
NULL_REFERRAL_SHARE = 0.03  # plans and episodes recorded without their referral id

CIN, CP, CARE = "CIN", "CP", "CARE"
MOVE_REASONS = ("P", "P", "P", "P", "P", "L", "T", "T", "U", "B")
HOME = weighted(("E4A", "E4B", "E13"), (60, 15, 25))
AGED_OUT = weighted(("E17", "E5", "E6", "E7", "E8"), (40, 30, 15, 5, 10))
CARE_ENDS = ("E11", "E12", "E45", "E46", "E47", "E48", "E41", "E8", "E3", "E16", "E9", "E14", "E2")
CARE_ENDED = {
    "young": weighted(CARE_ENDS, (22, 8, 10, 3, 8, 2, 6, 4, 3, 1, 0, 0, 0.5)),
    "older": weighted(CARE_ENDS, (1, 0.5, 6, 2, 6, 1, 5, 10, 5, 2, 4, 4, 0.5)),
}
CIN_CLOSED = weighted(("RC8", "RC7", "RC9"), (76, 13, 11))
CP_CLOSED = weighted(("RC8", "RC7", "RC5"), (55, 35, 10))
SEXES = weighted(SEX, SEX.values())
ETHNICITIES = weighted(ETHNICITY, ETHNICITY.values())
CLOSE_AFTER_CARE = {"E11": "RC1", "E12": "RC1", "E41": "RC3", "E3": "RC5", "E2": "RC2", "E7": "RC6"}
CLOSE_AFTER_CARE |= dict.fromkeys(("E45", "E46", "E47", "E48"), "RC4")
LEGAL_CLOSURES = {"RC1", "RC2", "RC3", "RC4", "RC6"}  # the case closes the day care ends
CATEGORIES = sorted(code_list("ref_abuse_categories"))


class Timeline:
    """Simulates children ``i`` of one chunk into ``rows`` (object name -> list of records)."""

    def __init__(
        self, seed: int, chunk: int, children: int, as_of: int, holders: dict[str, tuple[str, ...]]
    ) -> None:
        self.rng = Draws(f"fiw:{seed}:{chunk}")
        self.children = children
        self.as_of = as_of
        self.history_start = add_years(as_of, -HISTORY_YEARS)
        self.first_day = add_years(as_of, -HISTORY_YEARS - BURN_IN_YEARS)
        self.holders = holders
        self.teams = teams()
        self.programme = self.teams.programme_start
        self.rows: dict[str, list[tuple]] = {name: [] for name in OBJECTS}
        self.needs_by_age = {}
        for age in range(18):
            fits = [n for n in (*NEEDS, OTHER_NEED) if n.min_age <= age <= n.max_age]
            self.needs_by_age[age] = weighted(fits, (n.weight for n in fits))

    # -- the child -------------------------------------------------------------------------------

    def child(self, i: int) -> None:
        """Simulate child number ``i`` (0-based over the whole run)."""
        r = self.rng
        rows = self.rows
        first = r.between(self.first_day, self.as_of)
        lo, hi = r.pick(AGES)
        self.i, self.k = i, 0
        self.pid = str(PERSON_BASE + i)
        self.dob = first - r.between(lo * 365, hi * 365 - 1)
        self.adult = add_years(self.dob, 18)
        self.area = r.between(0, 3)
        shown = death = None
        day = first
        for _ in range(MAX_REFERRALS):
            if day > self.as_of or day > self.adult - 60 or self.k > 180:
                break
            early = day < self.history_start  # the case may close before the history begins
            marks = {name: len(lst) for name, lst in rows.items()} if early else {}
            close, died = self.referral(day)
            if early and close is not None and close < self.history_start:
                for name, mark in marks.items():
                    del rows[name][mark:]
            elif shown is None:
                shown = day
            if died:
                death = close
                break
            if close is None or close > self.as_of:
                break
            era = self.era(close)
            if r.random() >= era.next_referral:
                break
            if r.random() < era.soon_referral:
                day = close + r.between(20, 330)
            else:
                day = close + 365 + int(r.expovariate(1 / 300))
        if shown is None:
            return
        sex = r.pick(SEXES)
        person = [self.pid, r.one(FORENAMES[sex]), r.one(SURNAMES), sex, r.pick(ETHNICITIES)]
        person.append(self.dob)
        rows["ssd_person"].append((*person, nhs_number(r), death, shown, None))
        if r.random() < DUPLICATE_SHARE:
            duplicate = (str(PERSON_BASE + self.children + i), *person[1:], "", None)
            rows["ssd_person"].append((*duplicate, shown, self.as_of + r.between(-40, 20)))

    def era(self, day: int) -> Era:
        return PREVIOUS if day < self.programme else FAMILY_INSIGHTS

    def new_id(self, name: str) -> str:
        self.k += 1
        return str(ID_BASE[name] + self.i * IDS_PER_CHILD + self.k)

    def hold(self, start: int, least: int, previous: int, family_insights: int) -> int:
        """The day a state entered on ``start`` ends: at least ``least`` days, then memoryless
        with the mean of the era it is in (re-drawn from the programme's first day if it spans it).
        """
        r = self.rng
        if start + least >= self.programme:
            return start + least + int(r.expovariate(1 / (family_insights - least)))
        end = start + least + int(r.expovariate(1 / (previous - least)))
        if end > self.programme:
            end = self.programme + int(r.expovariate(1 / (family_insights - least)))
        return end

    def need(self, day: int) -> Need:
        return self.rng.pick(self.needs_by_age[min(17, (day - self.dob) // 365)])

    def team(self, day: int, need: Need, safeguarding: bool = False) -> str:
        """The team a case is allocated to: by era, presenting need and the child's area."""
        t = self.teams
        if day >= self.programme:
            units = t.fi_by_segment.get(need.segment) or tuple(sorted(t.fi_teams))
        else:
            units = t.safeguarding if safeguarding else t.intake
        return units[self.area % len(units)]

    def plan_referral(self, rid: str) -> str | None:
        return None if self.rng.random() < NULL_REFERRAL_SHARE else rid

    # -- a referral and its case -----------------------------------------------------------------

    def referral(self, day: int) -> tuple[int | None, bool]:
        """One referral from ``day``: returns its close day (None while open) and whether the
        child died."""
        r = self.rng
        need = self.need(day)
        rid = self.new_id("ssd_cin_episodes")
        source, code = r.one(need.sources), r.one(need.primary_needs)
        team = self.team(day, need)
        if r.random() < self.era(day).referral_nfa:
            reason = "RC8" if r.random() < 0.8 else "RC9"
            self.rows["ssd_cin_episodes"].append(
                (rid, self.pid, day, source, code, "Y", day, reason, team)
            )
            return day, False
        start = day + r.between(0, 4)
        auth = start + r.between(8, 45)
        nfa = r.random() < self.era(auth).assessment_nfa
        recorded = corrected = None
        if r.random() < CORRECTED_SHARE:
            recorded, corrected = max(start, auth - r.between(1, 10)), auth + r.between(1, 45)
        self.rows["ssd_cin_assessments"].append(
            (self.new_id("ssd_cin_assessments"), self.pid, rid, start, auth, "YN"[not nfa])
            + (recorded, corrected)
        )
        moves = [(day, team)]
        died = False
        if nfa:
            close, reason = auth + r.between(0, 7), "RC8" if r.random() < 0.85 else "RC9"
        else:
            close, reason, died = self.plans(rid, auth, need, code, moves)
        if day < self.programme and (close is None or close > self.programme):
            moves.append((self.programme, self.team(self.programme, need)))
        self.rows["ssd_cin_episodes"].append(
            (rid, self.pid, day, source, code, "N", close, reason, team)
        )
        self.involvements(rid, moves, close)
        return close, died

    def plans(
        self, rid: str, day: int, need: Need, code: str, moves: list[tuple[int, str]]
    ) -> tuple[int | None, str | None, bool]:
        """The plans of an assessed case from its assessment ``day``: close day, reason, died."""
        r = self.rng
        era = self.era(day)
        u = r.random()
        if u < era.first_care * need.care:
            kind, start = CARE, day + r.between(0, 5)
        elif u < era.first_care * need.care + era.first_cp:
            kind, start = CP, day + r.between(5, 20)
        else:
            kind, start = CIN, day + r.between(0, 10)
        end = day
        for _ in range(MAX_PLANS):
            if start > self.as_of:
                return None, None, False
            if start >= self.adult - 14:  # too close to adulthood for a new plan
                return start, "RC7", False
            if kind != CIN and start < self.programme and moves[-1][1] in self.teams.intake:
                moves.append((start, self.team(start, need, safeguarding=True)))
            if kind == CIN:
                end, kind, reason = self.cin_plan(rid, start, need)
            elif kind == CP:
                end, kind, reason = self.cp_plan(rid, start, need)
            else:
                end, kind, reason = self.care(rid, start, need, code)
            if kind is None:
                if reason in LEGAL_CLOSURES:
                    return end, reason, reason == "RC2"
                return end + r.between(0, 14), reason, False
            start = end if kind != CIN else end + r.one((0, 0, 0, 0, 1, 3, 7))
        return end, "RC7", False

    def cin_plan(self, rid: str, start: int, need: Need) -> tuple[int, str | None, str]:
        r = self.rng
        end = self.hold(start, 60, PREVIOUS.cin_days, FAMILY_INSIGHTS.cin_days)
        aged_out = end >= self.adult
        end = min(end, self.adult)
        self.rows["ssd_cin_plans"].append(
            (self.new_id("ssd_cin_plans"), self.plan_referral(rid), self.pid, start, end)
        )
        if aged_out:
            return end, None, "RC7"
        era = self.era(end)
        u = r.random()
        if u < era.cin_to_cp:
            return end, CP, ""
        if u < era.cin_to_cp + era.cin_to_care * need.care:
            return end, CARE, ""
        return end, None, r.pick(CIN_CLOSED)

    def cp_plan(self, rid: str, start: int, need: Need) -> tuple[int, str | None, str]:
        r = self.rng
        end = self.hold(start, 90, PREVIOUS.cp_days, FAMILY_INSIGHTS.cp_days)
        aged_out = end >= self.adult
        end = min(end, self.adult)
        initial = latest = r.one(need.categories)
        changed = None
        if r.random() < 0.1:
            latest, changed = r.one(CATEGORIES), start + (end - start) // 2
        self.rows["ssd_cp_plans"].append(
            (self.new_id("ssd_cp_plans"), self.plan_referral(rid), self.pid, start, end, initial)
            + (latest, changed)
        )
        if aged_out:
            return end, None, "RC7"
        era = self.era(end)
        u = r.random()
        if u < era.cp_to_cin:
            return end, CIN, ""
        if u < era.cp_to_cin + era.cp_to_care * need.care:
            return end, CARE, ""
        return end, None, r.pick(CP_CLOSED)

    def care(self, rid: str, start: int, need: Need, code: str) -> tuple[int, str | None, str]:
        """A period of care: an SSDA903 chain of episodes, placement moves linked by X1."""
        r = self.rng
        end = self.hold(start, 14, PREVIOUS.care_days, FAMILY_INSIGHTS.care_days)
        following, close = None, "RC7"
        if end >= self.adult:
            end = self.adult
            reason = r.pick(AGED_OUT)
        elif r.random() < self.era(end).returned_home:
            reason = r.pick(HOME)
            if r.random() < self.era(end).home_to_plan:
                following = CIN if r.random() < 0.85 else CP
        else:
            young = "young" if (end - self.dob) < 8 * 365 else "older"
            reason = r.pick(CARE_ENDED[young])
        close = CLOSE_AFTER_CARE.get(reason, "RC7")
        span = end - start
        count = min(MAX_MOVES, span - 1, int(r.expovariate(1.0) * span / 450))
        days = sorted(r.sample(range(start + 1, end), count)) if count > 0 else []
        starts, ends = [start, *days], [*days, end]
        reasons = ["X1"] * len(days) + [reason]
        referral, need_code = self.plan_referral(rid), cla_need(code)
        for n, (begin, cease, rec) in enumerate(zip(starts, ends, reasons, strict=True)):
            rne = "S" if n == 0 else r.one(MOVE_REASONS)
            self.rows["ssd_cla_episodes"].append(
                (self.new_id("ssd_cla_episodes"), self.pid, referral, begin, rne, need_code)
                + (cease, rec)
            )
        return end, following, close

    def involvements(self, rid: str, moves: list[tuple[int, str]], close: int | None) -> None:
        """Allocate workers of each team that holds the case, changing worker now and then."""
        r = self.rng
        for n, (start, team) in enumerate(moves):
            stop = moves[n + 1][0] if n + 1 < len(moves) else close
            workers = self.holders[team]
            for piece in range(MAX_WORKERS):
                change = start + 1 + int(r.expovariate(1 / self.era(start).worker_days))
                final = (
                    piece == MAX_WORKERS - 1
                    or change > self.as_of
                    or (stop is not None and change >= stop)
                )
                end = stop if final else change
                self.rows["ssd_involvements"].append(
                    (self.new_id("ssd_involvements"), r.one(workers), team, self.pid, rid)
                    + (start, end)
                )
                if final:
                    break
                start = change


def nhs_number(r: Draws) -> str:
    """A ten-digit number with a valid NHS modulus-11 check digit."""
    while True:
        body = str(r.between(400_000_000, 699_999_999))
        check = 11 - sum(int(d) * (10 - n) for n, d in enumerate(body)) % 11
        if check != 10:
            return body + str(check % 11)
