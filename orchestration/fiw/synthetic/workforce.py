"""Teams and the workers in them: ``ssd_department`` and ``ssd_professionals``.

Every team of the ``units`` seed becomes a department row under one of two parents (the previous
service and the Family Insights programme). Each team is staffed for its own share of the work, in
proportion to the size of the authority, so that caseloads sit where real ones do: the DfE's
children's social work workforce census puts England at about 16 children per case-holding FTE
(10 to 27 across authorities). A previous-model team holds about 18 children per FTE over the
``previous_model`` window, a Family Insights unit about 12 over ``family_insights`` (its smaller
caseloads are the point of the model). Only case-holding roles are allocated cases.
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
# Case-holding workers per team for every 12,000 children: the team's mean open children in its
# own era's window (measured on the demo, seed 1) over the caseload aimed at (18 children per FTE
# before, 12 in Family Insights units) times the mean FTE of a worker (FTES: 0.856). Drawing a
# worker for an involvement takes one random number whatever the team's size, so the staffing
# changes who holds a case, never what happens to it.
HOLDERS_PER_12K = {
    "T201": 48, "T202": 51, "T203": 25, "T204": 25,
    "T101": 60, "T102": 60, "T103": 51, "T104": 52, "T105": 13, "T106": 28, "T107": 57, "T108": 3,
}  # fmt: skip
# A team of the units seed not listed above.
WORKERS_PER_12K = {"previous_model": 36, "family_insights": 40}


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
        per_12k = HOLDERS_PER_12K.get(team_id, WORKERS_PER_12K[model])
        holding = max(3, round(per_12k * children / 12000))
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
