"""Teams and the workers in them: ``ssd_department`` and ``ssd_professionals``.

Every team of the ``units`` seed becomes a department row under one of two parents (the previous
service and the Family Insights programme). Each team is staffed for the size of the authority so
that caseloads stay plausible, and only case-holding roles are allocated cases.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from fiw.synthetic.reference import CASE_HOLDING, FORENAMES, FTES, JOB_TITLES, SURNAMES, teams

PARENTS = {
    "previous_model": ("D100", "Children's social care"),
    "family_insights": ("D200", "Family Insights programme"),
}
FIRST_PROFESSIONAL_ID = 40001
# Case-holding workers per team for every 12,000 children.
WORKERS_PER_12K = {"previous_model": 22, "family_insights": 9}


@dataclass(frozen=True)
class Workforce:
    departments: list[list[str]]  # ssd_department rows
    professionals: list[list[str]]  # ssd_professionals rows
    case_holders: dict[str, tuple[str, ...]]  # team id -> professional ids that can hold cases


def model_of(team_id: str) -> str:
    return "family_insights" if team_id in teams().fi_teams else "previous_model"


def build_workforce(seed: int, children: int) -> Workforce:
    """Departments and professionals for an authority of ``children`` children (deterministic)."""
    rng = random.Random(f"fiw-workforce:{seed}")
    t = teams()
    departments = [[pid, name, ""] for pid, name in PARENTS.values()]
    professionals: list[list[str]] = []
    holders: dict[str, tuple[str, ...]] = {}
    for team_id, name in t.names.items():
        model = model_of(team_id)
        departments.append([team_id, name, PARENTS[model][0]])
        titles = JOB_TITLES[model]
        holding = max(3, round(WORKERS_PER_12K[model] * children / 12000))
        ids = []
        for n in range(-(-holding * len(titles) // sum(x in CASE_HOLDING for x in titles))):
            title = titles[n % len(titles)]
            pid = str(FIRST_PROFESSIONAL_ID + len(professionals))
            sex = "F" if rng.random() < 0.8 else "M"
            full = f"{rng.choice(FORENAMES[sex])} {rng.choice(SURNAMES)}"
            professionals.append([pid, full, title, f"{rng.choice(FTES):.1f}"])
            if title in CASE_HOLDING:
                ids.append(pid)
        holders[team_id] = tuple(ids)
    return Workforce(departments, professionals, holders)
