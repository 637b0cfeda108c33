"""The relations declared in outcome_metrics.yml: read as data, refused when malformed."""

from __future__ import annotations

from datetime import date

import pytest
from fiw.disclosure.cells import METRICS
from fiw.disclosure.relations import (
    DENOMINATOR,
    NUMERATOR,
    add_months,
    condition_holds,
    declared,
    parse,
)


def test_the_declared_relations_name_only_metrics_that_exist() -> None:
    spec = declared()
    counts = {c for rel in spec.relations for c in (*rel.left, *rel.right)}
    counts |= spec.dated | spec.distinct
    assert counts and {m for m, _ in counts} <= set(METRICS)
    assert spec.not_additive == {"returned_home_rate"}
    # the families the suppression hides together: the rates and what an equality links to them
    assert spec.family_of("re_referral_after_closure_rate") == "closure_rate"
    assert spec.family_of("closure_nfa_share") == "closure_rate"
    assert spec.family_of("de_escalation_lac_to_cin_share") == "de_escalation_rate"
    assert spec.family_of("repeat_cp_plan_rate") == "repeat_cp_plan_rate"


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"relations": [{"equal": ["a.numerator"]}]}, "two sides"),
        ({"relations": [{"equal": ["a.numerator", "b.rate"]}]}, "not a count"),
        ({"relations": [{"equal": ["a.numerator", "b.numerator"], "when": "soon"}]}, "condition"),
        ({"relations": [{"equal": ["a.numerator", "b.numerator"], "at_most": []}]}, "relation"),
        ({"dated": ["closure_rate"]}, "not a count"),
        ({"derived": []}, "unknown keys"),
    ],
)
def test_a_malformed_declaration_is_refused(block: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(block)


def test_a_zero_relation_and_sums() -> None:
    spec = parse(
        {
            "relations": [
                {"zero": "x.denominator", "when": "no_follow_up"},
                {"at_most": [["a.numerator", "b.numerator"], ["c.numerator"]]},
            ]
        }
    )
    zero, at_most = spec.relations
    assert (zero.kind, zero.left, zero.right) == ("zero", (("x", DENOMINATOR),), ())
    assert at_most.left == (("a", NUMERATOR), ("b", NUMERATOR))


def test_conditions_follow_calendar_months() -> None:
    assert add_months(date(2016, 2, 29), 12) == date(2017, 2, 28)
    assert add_months(date(2015, 10, 31), 12) == date(2016, 10, 31)
    start, end = date(2015, 6, 1), date(2016, 10, 31)
    # every closure followed up: end + 12 months on or before the extract date
    assert condition_holds("follow_up_complete", start, end, date(2017, 10, 31))
    assert not condition_holds("follow_up_complete", start, end, date(2017, 10, 30))
    # none followed up: start + 12 months after it
    assert condition_holds("no_follow_up", start, end, date(2016, 5, 31))
    assert not condition_holds("no_follow_up", start, end, date(2016, 6, 1))
    assert condition_holds("no_follow_up", start, end, None) is None  # unknown: left out
    assert condition_holds(None, None, None, None) is True
