"""Reference data the model draws from: the seeds (teams, programme start) and built-in lists.

Names, the ethnicity mix (roughly England's school population) and the shape of each presenting
need (which CIN primary need, abuse category and referral source it tends to come with) live here,
so the timeline model holds behaviour only.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from functools import cache

from fiw.contract import CLA_PRIMARY_NEEDS, SEEDS_DIR


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FORENAMES = {
    "M": _words(
        """Oliver Jack Harry Jacob Charlie Thomas George Oscar James William Noah Alfie Joshua
        Muhammad Henry Leo Archie Ethan Joseph Freddie Samuel Alexander Logan Daniel Isaac Max
        Mohammed Benjamin Mason Lucas Tyler Dylan Riley Jayden Kai Callum Liam Connor Reece"""
    ),
    "F": _words(
        """Amelia Olivia Isla Emily Poppy Ava Isabella Jessica Lily Sophie Grace Sophia Mia Evie
        Ruby Ella Scarlett Isabelle Chloe Sienna Freya Phoebe Charlotte Daisy Alice Florence Eva
        Sofia Millie Lucy Evelyn Elsie Rosie Imogen Lola Matilda Layla Aisha Maya Courtney Jade"""
    ),
}
FORENAMES["U"] = FORENAMES["M"][::3] + FORENAMES["F"][::3]
SURNAMES = _words(
    """Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson
    Thompson Wright Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood
    Turner Martin Cooper Hill Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James
    Scott Phillips Watson Davis Parker Price Bennett Young Griffiths Mitchell Kelly Cook Carter
    Richardson Bailey Collins Bell Shaw Murphy Miller Cox Richards Khan Marshall Anderson Simpson
    Ellis Adams Singh Begum Ali Hussain Ahmed Wilkinson Foster Chapman Robson Charlton Milburn
    Armstrong O'Brien O'Neill Nowak Kowalski Okafor Mensah Nguyen Chen"""
)

# Ethnicity of children in England (approximate shares, per cent).
ETHNICITY = {
    "WBRI": 71.0, "WIRI": 0.3, "WIRT": 0.2, "WOTH": 5.5, "WROM": 0.4,
    "MWBC": 1.5, "MWBA": 0.8, "MWAS": 1.6, "MOTH": 2.2,
    "AIND": 2.6, "APKN": 3.6, "ABAN": 1.6, "AOTH": 2.0,
    "BCRB": 0.9, "BAFR": 3.4, "BOTH": 0.7,
    "CHNE": 0.4, "OOTH": 1.6, "REFU": 0.4, "NOBT": 1.4,
}  # fmt: skip

SEX = {"M": 50.5, "F": 48.8, "U": 0.7}

JOB_TITLES = {
    "family_insights": (
        "Consultant social worker",
        "Social worker",
        "Social worker",
        "Children's practitioner",
        "Clinician",
        "Unit coordinator",
    ),
    "previous_model": (
        "Team manager",
        "Senior social worker",
        "Social worker",
        "Social worker",
        "Social worker",
        "Newly qualified social worker",
    ),
}
# Roles that hold cases (involvements allocate only these).
CASE_HOLDING = {"Consultant social worker", "Social worker", "Senior social worker",
                "Newly qualified social worker", "Children's practitioner"}  # fmt: skip
FTES = (1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.8, 0.6, 0.5)


@dataclass(frozen=True)
class Need:
    """A presenting need: the segment a needs-based unit specialises in, and what comes with it."""

    segment: str
    weight: float  # share of referrals (before the age rules below)
    min_age: int  # years, at referral
    max_age: int
    primary_needs: tuple[str, ...]  # CIN primary need codes, repeated to weight them
    categories: tuple[str, ...]  # CP plan categories of abuse
    sources: tuple[str, ...]  # referral source codes
    care: float = 1.0  # multiplier on the chance of becoming looked after


NEEDS = (
    Need("domestic abuse", 30, 0, 17, ("N1", "N1", "N1", "N4", "N5"), ("EMO", "EMO", "PHY", "MUL"),
         ("6", "6", "6", "2A", "3B", "1A", "5A"), 0.7),
    Need("neglect", 26, 0, 17, ("N1", "N1", "N1", "N8", "N7"), ("NEG", "NEG", "NEG", "MUL"),
         ("2A", "3A", "3B", "5B", "1B", "9", "4")),
    Need("adolescents at risk", 14, 11, 17, ("N6", "N6", "N5", "N4", "N1"), ("SAB", "PHY", "EMO"),
         ("6", "2A", "2B", "3E", "1C", "5C")),
    Need("disability", 8, 0, 17, ("N2",), ("NEG", "PHY"), ("3F", "3A", "2B", "5B", "1A"), 0.5),
    Need("parental mental health and substance misuse", 16, 0, 17, ("N3", "N3", "N5", "N4"),
         ("NEG", "EMO", "MUL"), ("3D", "3F", "6", "5A", "1A", "8")),
    Need("early permanence", 6, 0, 1, ("N1", "N1", "N8"), ("NEG", "PHY", "MUL"),
         ("3B", "3F", "5B", "7", "10"), 3.0),
)  # fmt: skip
OTHER_NEED = Need("other", 4, 0, 17, ("N0", "N9", "N5", "N4"), ("NEG", "EMO"),
                  ("8", "10", "1D", "5D"))  # fmt: skip


def cla_need(code: str) -> str:
    """The CLA primary need for a referral's need: N1-N8 only, anything else counts as N1."""
    return code if code in CLA_PRIMARY_NEEDS else "N1"


@dataclass(frozen=True)
class Teams:
    """The teams of the ``units`` seed, by model and segment, and the day the programme began."""

    names: dict[str, str]
    fi_teams: frozenset[str]
    fi_by_segment: dict[str, tuple[str, ...]]
    intake: tuple[str, ...]  # previous model: assessment and intervention teams
    safeguarding: tuple[str, ...]  # previous model: teams that take CP plans and children in care
    programme_start: int  # ordinal of the earliest joined_programme_on


@cache
def teams() -> Teams:
    with (SEEDS_DIR / "units.csv").open(newline="", encoding="utf-8") as f:
        units = list(csv.DictReader(f))
    fi = [u for u in units if u["model"] == "family_insights"]
    prev = [u["team_id"] for u in units if u["model"] == "previous_model"]
    safe = tuple(u["team_id"] for u in units if "safeguard" in u["unit_name"].lower())
    by_segment: dict[str, tuple[str, ...]] = {}
    for u in fi:
        by_segment[u["segment"]] = (*by_segment.get(u["segment"], ()), u["team_id"])
    starts = [date.fromisoformat(u["joined_programme_on"]) for u in fi if u["joined_programme_on"]]
    return Teams(
        names={u["team_id"]: u["unit_name"] for u in units},
        fi_teams=frozenset(u["team_id"] for u in fi),
        fi_by_segment=by_segment,
        intake=tuple(t for t in prev if t not in safe) or tuple(prev),
        safeguarding=safe or tuple(prev),
        programme_start=min(starts, default=date(2015, 6, 1)).toordinal(),
    )
