"""How casework behaves in each era: the previous model, then the Family Insights units.

The evaluation found that the needs-based units held cases longer and more steadily: fewer plans
stepped down (12 % of cases against 21 %), fewer cases closed (22 % against 41 %), fewer
children came back within a year (2 % against 4 %), and half the children in care went home
against a quarter.
These parameters make the synthetic authority reproduce the direction and rough size of that.
A parameter applies on the day the decision is taken, so a case opened before the programme and
still open after it is handled the new way from the programme's first day.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Era:
    referral_nfa: float  # referral closed at the front door with no further action
    assessment_nfa: float  # case closed after its assessment
    first_cp: float  # after assessment: a section 47 enquiry and a CP plan ...
    first_care: float  # ... or care at once; otherwise a CIN plan
    cin_days: int  # mean length of a CIN plan
    cin_to_cp: float  # at the end of a CIN plan: step up to CP ...
    cin_to_care: float  # ... or into care; otherwise the case closes
    cp_days: int  # mean length of a CP plan
    cp_to_cin: float  # at the end of a CP plan: step down to a CIN plan ...
    cp_to_care: float  # ... or into care; otherwise the case closes from CP
    care_days: int  # mean length of a period of care
    returned_home: float  # share of periods of care ending with the child home
    home_to_plan: float  # after going home, a CIN (or now and then a CP) plan follows
    worker_days: int  # mean time a worker holds a case before it is reallocated
    next_referral: float  # chance that a child whose case closed is referred again (by as_of)
    soon_referral: float  # of those, the share referred again within the year


PREVIOUS = Era(
    referral_nfa=0.45,
    assessment_nfa=0.2,
    first_cp=0.22,
    first_care=0.05,
    cin_days=700,
    cin_to_cp=0.12,
    cin_to_care=0.03,
    cp_days=420,
    cp_to_cin=0.45,
    cp_to_care=0.12,
    care_days=600,
    returned_home=0.6,
    home_to_plan=0.7,
    worker_days=300,
    next_referral=0.85,
    soon_referral=0.10,
)

FAMILY_INSIGHTS = Era(
    referral_nfa=0.45,
    assessment_nfa=0.08,
    first_cp=0.20,
    first_care=0.04,
    cin_days=2500,
    cin_to_cp=0.08,
    cin_to_care=0.02,
    cp_days=900,
    cp_to_cin=0.38,
    cp_to_care=0.08,
    care_days=330,
    returned_home=0.75,
    home_to_plan=0.2,
    worker_days=900,
    next_referral=0.8,
    soon_referral=0.02,
)
