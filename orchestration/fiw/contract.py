"""The export contract of ``docs/exports.md``, as data.

One place says which SSD objects a snapshot must hold, which columns each needs, their types, keys,
references, code lists and row rules. The synthetic generator writes to it, the extractor checks
against it, and the dbt sources are generated from the same names. Code lists are not repeated here:
they are the dbt seeds under ``seeds/`` and are read from there.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SEEDS_DIR = REPO_ROOT / "seeds"

# Column kinds. Every raw column is stored as text; the kind says how it is checked and typed.
TEXT = "text"
DATE = "date"
FLAG = "flag"  # Y / N
DECIMAL = "decimal"


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = TEXT
    not_null: bool = False
    references: str | None = None  # object name whose primary key this column must name
    codes: str | None = None  # seed file (without .csv) whose `code` column lists the valid values
    personal: bool = False  # personal data: never leaves the raw layer


@dataclass(frozen=True)
class Interval:
    """``end`` must not be before ``start`` (both dates, checked when both are present)."""

    start: str
    end: str


@dataclass(frozen=True)
class PresentTogether:
    """Both columns are present, or neither is (for example a close date and its close reason)."""

    a: str
    b: str


@dataclass(frozen=True)
class Range:
    """A decimal column within ``(low, high]``."""

    column: str
    low_exclusive: float
    high_inclusive: float


@dataclass(frozen=True)
class SsdObject:
    name: str
    primary_key: str
    columns: tuple[Column, ...]
    rules: tuple[Interval | PresentTogether | Range, ...] = field(default_factory=tuple)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


OBJECTS: dict[str, SsdObject] = {
    o.name: o
    for o in [
        SsdObject(
            "ssd_department",
            "dept_team_id",
            (
                Column("dept_team_id", not_null=True),
                Column("dept_team_name"),
                Column("dept_team_parent_id"),
            ),
        ),
        SsdObject(
            "ssd_professionals",
            "prof_professional_id",
            (
                Column("prof_professional_id", not_null=True),
                Column("prof_professional_name", personal=True),
                Column("prof_professional_job_title"),
                Column("prof_full_time_equivalency", DECIMAL),
            ),
            (Range("prof_full_time_equivalency", 0.0, 1.0),),
        ),
        SsdObject(
            "ssd_person",
            "pers_person_id",
            (
                Column("pers_person_id", not_null=True),
                Column("pers_forename", personal=True),
                Column("pers_surname", personal=True),
                Column("pers_sex", codes="ref_sex"),
                Column("pers_ethnicity", codes="ref_ethnicity"),
                Column("pers_dob", DATE, personal=True),
                Column("pers_common_child_id", personal=True),
                Column("pers_death_date", DATE),
            ),
            (Interval("pers_dob", "pers_death_date"),),
        ),
        SsdObject(
            "ssd_cin_episodes",
            "cine_referral_id",
            (
                Column("cine_referral_id", not_null=True),
                Column("cine_person_id", not_null=True, references="ssd_person"),
                Column("cine_referral_date", DATE, not_null=True),
                Column("cine_referral_source_code", codes="ref_referral_sources"),
                Column("cine_cin_primary_need_code", codes="ref_primary_need"),
                Column("cine_referral_nfa", FLAG),
                Column("cine_close_date", DATE),
                Column("cine_close_reason", codes="ref_cin_closure_reasons"),
                Column("cine_referral_team", references="ssd_department"),
            ),
            (
                Interval("cine_referral_date", "cine_close_date"),
                PresentTogether("cine_close_date", "cine_close_reason"),
            ),
        ),
        SsdObject(
            "ssd_cin_assessments",
            "cina_assessment_id",
            (
                Column("cina_assessment_id", not_null=True),
                Column("cina_person_id", not_null=True, references="ssd_person"),
                Column("cina_referral_id", references="ssd_cin_episodes"),
                Column("cina_assessment_start_date", DATE),
                Column("cina_assessment_auth_date", DATE),
                Column("cina_assessment_outcome_nfa", FLAG),
            ),
            (Interval("cina_assessment_start_date", "cina_assessment_auth_date"),),
        ),
        SsdObject(
            "ssd_cin_plans",
            "cinp_cin_plan_id",
            (
                Column("cinp_cin_plan_id", not_null=True),
                Column("cinp_referral_id", references="ssd_cin_episodes"),
                Column("cinp_person_id", not_null=True, references="ssd_person"),
                Column("cinp_cin_plan_start_date", DATE, not_null=True),
                Column("cinp_cin_plan_end_date", DATE),
            ),
            (Interval("cinp_cin_plan_start_date", "cinp_cin_plan_end_date"),),
        ),
        SsdObject(
            "ssd_cp_plans",
            "cppl_cp_plan_id",
            (
                Column("cppl_cp_plan_id", not_null=True),
                Column("cppl_referral_id", references="ssd_cin_episodes"),
                Column("cppl_person_id", not_null=True, references="ssd_person"),
                Column("cppl_cp_plan_start_date", DATE, not_null=True),
                Column("cppl_cp_plan_end_date", DATE),
                Column("cppl_cp_plan_initial_category", codes="ref_abuse_categories"),
                Column("cppl_cp_plan_latest_category", codes="ref_abuse_categories"),
            ),
            (Interval("cppl_cp_plan_start_date", "cppl_cp_plan_end_date"),),
        ),
        SsdObject(
            "ssd_cla_episodes",
            "clae_cla_episode_id",
            (
                Column("clae_cla_episode_id", not_null=True),
                Column("clae_person_id", not_null=True, references="ssd_person"),
                Column("clae_referral_id", references="ssd_cin_episodes"),
                Column("clae_cla_episode_start_date", DATE, not_null=True),
                Column("clae_cla_episode_start_reason", codes="ref_reasons_new_episode"),
                Column("clae_cla_primary_need_code", codes="ref_primary_need"),
                Column("clae_cla_episode_ceased_date", DATE),
                Column("clae_cla_episode_ceased_reason", codes="ref_reasons_episode_ceased"),
            ),
            (
                Interval("clae_cla_episode_start_date", "clae_cla_episode_ceased_date"),
                PresentTogether("clae_cla_episode_ceased_date", "clae_cla_episode_ceased_reason"),
            ),
        ),
        SsdObject(
            "ssd_involvements",
            "invo_involvements_id",
            (
                Column("invo_involvements_id", not_null=True),
                Column("invo_professional_id", not_null=True, references="ssd_professionals"),
                Column("invo_professional_team", references="ssd_department"),
                Column("invo_person_id", not_null=True, references="ssd_person"),
                Column("invo_referral_id", references="ssd_cin_episodes"),
                Column("invo_involvement_start_date", DATE, not_null=True),
                Column("invo_involvement_end_date", DATE),
            ),
            (Interval("invo_involvement_start_date", "invo_involvement_end_date"),),
        ),
    ]
}

# Load order: an object comes after every object it references, so references can be checked
# against the rows of the referenced object that were accepted (not quarantined).
LOAD_ORDER: tuple[str, ...] = tuple(OBJECTS)

# Primary need on a CLA episode is N1-N8 only (exports.md); on a referral N0-N9.
CLA_PRIMARY_NEEDS = tuple(f"N{i}" for i in range(1, 9))


@cache
def code_list(seed: str) -> frozenset[str]:
    """The valid codes of a code-list seed (its ``code`` column), read from ``seeds/``."""
    with (SEEDS_DIR / f"{seed}.csv").open(newline="", encoding="utf-8") as f:
        return frozenset(row["code"] for row in csv.DictReader(f))


ALIASES_SEED = "ssd_column_aliases"


@cache
def column_aliases() -> dict[str, dict[str, str]]:
    """Other names of contract columns (exports.md: renamed between SSD versions), by object:
    ``{object: {alias: column}}``, all lower case. Read from ``seeds/ssd_column_aliases.csv``.

    Raises ValueError when the list itself is wrong: an unknown object or column, an alias that is
    a contract column of its object, or one alias given for two columns.
    """
    aliases: dict[str, dict[str, str]] = {}
    path = SEEDS_DIR / f"{ALIASES_SEED}.csv"
    with path.open(newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            obj, column, alias = (
                row[k].strip().lower() for k in ("object", "column_name", "alias")
            )
            where = f"{path.name}, line {line}"
            if obj not in OBJECTS:
                raise ValueError(f"{where}: {obj!r} is not a contract object")
            if column not in OBJECTS[obj].column_names:
                raise ValueError(f"{where}: {column!r} is not a column of {obj}")
            if alias in OBJECTS[obj].column_names:
                raise ValueError(f"{where}: alias {alias!r} is itself a column of {obj}")
            known = aliases.setdefault(obj, {})
            if known.get(alias, column) != column:
                raise ValueError(f"{where}: alias {alias!r} given for {known[alias]} and {column}")
            known[alias] = column
    return aliases


def personal_columns() -> dict[str, list[str]]:
    """Personal-data columns per object: they never leave the raw layer."""
    return {o.name: [c.name for c in o.columns if c.personal] for o in OBJECTS.values()}


# Offending values a data-quality result may carry out of the raw layer (``dq_results.details``,
# the data-quality page, ``fiw run``'s warnings, alerts): codes, flags, team ids, unit and metric
# names and counts; never a name, a date of birth, any other date or a case-system id
# (interface.md). A column not allowed here is never shown, whatever its values.
SHAREABLE_DERIVED = frozenset(
    {
        "team_id", "unit_name", "segment", "metric", "window_name", "plan_type", "level",
        "end_reason", "direction", "from_type", "to_type", "object", "sex", "ethnicity",
        "primary_need", "referral_source", "close_reason", "start_reason", "ceased_reason",
    }
)  # fmt: skip
_COUNT_NAME = re.compile(
    r"^(n|n_records|rows|records|count|\w+_count|accepted|in_raw|staged|numerator|denominator"
    r"|open_children|workers|fte|children_per_fte|rate)$"
)


def _shareable_contract_columns() -> frozenset[str]:
    out = set()
    for obj in OBJECTS.values():
        for col in obj.columns:
            team = col.references == "ssd_department" or col.name.startswith("dept_team")
            if not col.personal and (col.codes or col.kind in (FLAG, DECIMAL) or team):
                out.add(col.name)
    return frozenset(out)


SHAREABLE_CONTRACT = _shareable_contract_columns()


def is_count(column: str) -> bool:
    """A column that holds a count or a measure, which says nothing on its own of what failed."""
    return bool(_COUNT_NAME.match(column.lower()))


def value_is_shareable(column: str | None) -> bool:
    """Whether values of ``column`` (raw, staging or mart, or a count a check computes) may be
    shown wherever a data-quality result goes. Unknown columns are not."""
    if not column:
        return False
    name = column.lower()
    return name in SHAREABLE_CONTRACT or name in SHAREABLE_DERIVED or is_count(name)
