"""The disclosure audit (audiences.md, "Disclosure control"): what an intruder can work out about
a suppressed count from the figures published beside it.

Every example is small enough to solve by hand; the comment above each works it out. The audit
must find what the intruder finds, no more (a hidden count left at least `threshold` wide passes)
and no less. Each test that expects a finding fails when the relation it is about is dropped from
the audit (checked by hand by deleting the relation).
"""

from __future__ import annotations

import pytest
from fiw.disclosure import audit as audit_module
from fiw.disclosure.audit import DISCLOSIVE, INCONSISTENT, Finding, audit
from fiw.disclosure.cells import CellKey, PublishedCell
from fiw.disclosure.model import metric_model

W = "family_insights"
T = 5  # suppression_threshold default


def cell(segment: str, metric: str, numerator: int | None, denominator: int | None):
    return PublishedCell(CellKey(W, segment, metric), numerator, denominator)


def hidden(segment: str, metric: str) -> PublishedCell:
    return cell(segment, metric, None, None)


def ranges(findings: list[Finding]) -> dict[tuple[str, str, str], tuple[float, float]]:
    """(segment, metric, count) -> (low, high) of every disclosive finding."""
    assert all(f.kind == DISCLOSIVE for f in findings), [f.describe() for f in findings]
    return {(f.key.segment, f.key.metric, f.count): (f.low, f.high) for f in findings}


# 1. Segment totals ---------------------------------------------------------------------------


def test_one_suppressed_segment_is_recovered_from_the_total():
    # closure_rate: a = 10/40, c = 12/50, all = 25/110, b hidden.
    # Segments add up to `all`: b numerator = 25 - 10 - 12 = 3, b denominator = 110 - 40 - 50 = 20.
    # Both known exactly: range 0 < 5.
    findings = audit(
        [
            cell("a", "closure_rate", 10, 40),
            hidden("b", "closure_rate"),
            cell("c", "closure_rate", 12, 50),
            cell("all", "closure_rate", 25, 110),
        ],
        threshold=T,
    )
    assert ranges(findings) == {
        ("b", "closure_rate", "numerator"): (3, 3),
        ("b", "closure_rate", "denominator"): (20, 20),
    }
    assert all("recoverable exactly" in f.reason for f in findings)
    assert all("add up to `all`" in f.reason for f in findings)


def test_two_suppressed_segments_with_room_between_them_pass():
    # closure_rate: a = 10/40, all = 15/110, b and c hidden.
    # Numerators: b + c = 15 - 10 = 5. b can be 0 (c = 5) or 5 (c = 0, as long as b's
    # denominator >= 5, which it can be): b numerator in [0, 5], width 5 >= 5; same for c.
    # Denominators: b + c = 110 - 40 = 70, each in [0, 70] (0 for b needs b numerator 0, c = 5).
    # Width exactly the threshold: passes ("at least threshold wide").
    findings = audit(
        [
            cell("a", "closure_rate", 10, 40),
            hidden("b", "closure_rate"),
            hidden("c", "closure_rate"),
            cell("all", "closure_rate", 15, 110),
        ],
        threshold=T,
    )
    assert findings == []


def test_two_suppressed_segments_with_a_small_remainder_fail():
    # As above with all = 13/110: b + c numerators = 13 - 10 = 3, so each hidden numerator is
    # in [0, 3] (>= 0 from below, the total from above): width 3 < 5, both fail.
    # Denominators still add up to 70 and stay [0, 70] wide: no finding.
    findings = audit(
        [
            cell("a", "closure_rate", 10, 40),
            hidden("b", "closure_rate"),
            hidden("c", "closure_rate"),
            cell("all", "closure_rate", 13, 110),
        ],
        threshold=T,
    )
    assert ranges(findings) == {
        ("b", "closure_rate", "numerator"): (0, 3),
        ("c", "closure_rate", "numerator"): (0, 3),
    }
    assert all("narrowed to [0, 3]" in f.reason for f in findings)
    assert "width 3 < 5" in findings[0].describe()


# 2. Share links ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("share", "rate"),
    [
        ("closure_nfa_share", "closure_rate"),
        ("closed_last_on_cin_plan_share", "closure_rate"),
        ("de_escalation_cp_to_cin_share", "de_escalation_rate"),
        ("de_escalation_lac_to_cin_share", "de_escalation_rate"),
    ],
)
def test_a_suppressed_share_denominator_is_its_rates_published_numerator(share, rate):
    # rate published: a = 8/30, b = 12/40, all = 20/70. share: a and b hidden, all = 9/20.
    # (b is hidden too so that the segment total alone does not give a away: by additivity only,
    # a + b denominators = 20 leave each in [0, 20], numerators a + b = 9 leave each in [0, 9].)
    # The share's denominator is the rate's numerator: a = 8 and b = 12 exactly -> two findings.
    # Numerators: a + b = 9, a <= 8, b <= 12, both >= 0: a in [0, 8] (a = 8 leaves b = 1),
    # b = 9 - a in [1, 9]: widths 8 and 8, no finding.
    findings = audit(
        [
            cell("a", rate, 8, 30),
            cell("b", rate, 12, 40),
            cell("all", rate, 20, 70),
            hidden("a", share),
            hidden("b", share),
            cell("all", share, 9, 20),
        ],
        threshold=T,
    )
    assert ranges(findings) == {
        ("a", share, "denominator"): (8, 8),
        ("b", share, "denominator"): (12, 12),
    }
    assert all(f"{share} denominator is the {rate} numerator" in f.reason for f in findings)


def test_a_whole_rate_group_is_recovered_from_its_published_share():
    # closure_rate hidden in every segment and in `all`; closure_nfa_share published:
    # a = 2/8, b = 3/12, all = 5/20. The share's denominators are closure_rate's numerators:
    # a = 8, b = 12, all = 20 exactly. closure_rate's denominators stay unbounded above.
    findings = audit(
        [
            hidden("a", "closure_rate"),
            hidden("b", "closure_rate"),
            hidden("all", "closure_rate"),
            cell("a", "closure_nfa_share", 2, 8),
            cell("b", "closure_nfa_share", 3, 12),
            cell("all", "closure_nfa_share", 5, 20),
        ],
        threshold=T,
    )
    assert ranges(findings) == {
        ("a", "closure_rate", "numerator"): (8, 8),
        ("b", "closure_rate", "numerator"): (12, 12),
        ("all", "closure_rate", "numerator"): (20, 20),
    }


# 3. returned_home_rate is not additive -------------------------------------------------------

# a = 6/30, c = 7/25, all = 20/80, b hidden. Were segments to add up, b would be
# 20 - 6 - 7 = 7 over 80 - 30 - 25 = 25, known exactly. For returned_home_rate they do not (a child
# can count in several segments), and nothing else bounds b: numerator in [0, inf) (below its
# own denominator, which is itself unbounded), denominator in [0, inf). Nothing to report.
NOT_ADDITIVE_CASE = [(6, 30), None, (7, 25), (20, 80)]


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("returned_home_rate", {}),
        (
            "closure_rate",
            {
                ("b", "closure_rate", "numerator"): (7, 7),
                ("b", "closure_rate", "denominator"): (25, 25),
            },
        ),
    ],
)
def test_returned_home_rate_segments_do_not_add_up(metric, expected):
    published = [
        cell(segment, metric, *counts) if counts else hidden(segment, metric)
        for segment, counts in zip(["a", "b", "c", "all"], NOT_ADDITIVE_CASE, strict=True)
    ]
    assert ranges(audit(published, threshold=T)) == expected


# 4. Whole groups and inconsistent releases ---------------------------------------------------


def test_a_whole_group_suppressed_passes_when_nothing_else_pins_it():
    # Every closure_rate cell hidden, `all` included, and no linked share: the only relations are
    # a + b + c = all (numerators and denominators), numerator <= denominator and >= 0. Every
    # count can be 0 and every count can grow without bound (raise all's and one segment's
    # denominator and numerator together): ranges [0, inf), nothing to report.
    published = [hidden(s, "closure_rate") for s in ("a", "b", "c", "all")]
    assert audit(published, threshold=T) == []


@pytest.mark.parametrize(
    ("published", "what"),
    [
        # Everything published: 10 + 12 + 4 = 26 numerators, but all says 25.
        (
            [
                cell("a", "closure_rate", 10, 40),
                cell("b", "closure_rate", 4, 20),
                cell("c", "closure_rate", 12, 50),
                cell("all", "closure_rate", 25, 110),
            ],
            "off by 1",
        ),
        # b hidden: its denominator would be 80 - 40 - 50 = -10, a negative count.
        (
            [
                cell("a", "closure_rate", 10, 40),
                hidden("b", "closure_rate"),
                cell("c", "closure_rate", 12, 50),
                cell("all", "closure_rate", 25, 80),
            ],
            "would have to be -10",
        ),
        # b and c hidden: their denominators add up to 80 - 90 = -10: no values fit (the LP is
        # infeasible), though neither is pinned alone.
        (
            [
                cell("a", "closure_rate", 10, 90),
                hidden("b", "closure_rate"),
                hidden("c", "closure_rate"),
                cell("all", "closure_rate", 25, 80),
            ],
            "infeasible",
        ),
        # A published numerator above its denominator.
        ([cell("a", "closure_rate", 7, 6)], "numerator <= denominator"),
    ],
    ids=["published-sum", "pinned-negative", "lp-infeasible", "numerator-above-denominator"],
)
def test_an_inconsistent_release_is_reported(published, what):
    findings = audit(published, threshold=T)
    inconsistent = [f for f in findings if f.kind == INCONSISTENT]
    assert any(what in f.describe() for f in inconsistent), [f.describe() for f in findings]
    assert findings[0].kind == INCONSISTENT  # reported first


# 5. numerator <= denominator -----------------------------------------------------------------


def test_a_published_denominator_of_two_pins_the_hidden_numerator():
    # closure_rate with only the numerators hidden in a and b: a = ?/2, b = ?/40, all = 20/42.
    # Numerators: a + b = 20 (wide on its own: each in [0, 20]), but a <= 2: a in [0, 2],
    # and so b = 20 - a in [18, 20]. Widths 2 and 2 < 5: both reported.
    findings = audit(
        [
            cell("a", "closure_rate", None, 2),
            cell("b", "closure_rate", None, 40),
            cell("all", "closure_rate", 20, 42),
        ],
        threshold=T,
    )
    assert ranges(findings) == {
        ("a", "closure_rate", "numerator"): (0, 2),
        ("b", "closure_rate", "numerator"): (18, 20),
    }
    assert any("numerator <= denominator" in f.reason for f in findings)


def test_a_share_numerator_is_narrowed_by_its_recovered_denominator():
    # The realistic form (a suppressed cell hides both counts): closure_rate published
    # a = 2/30, b = 15/40, all = 17/70; closure_nfa_share a and b hidden, all = 9/17.
    # Share link: denominators a = 2, b = 15 exactly. Numerators: a + b = 9 with a <= 2, so
    # a in [0, 2] and b = 9 - a in [7, 9]. Without numerator <= denominator both would be [0, 9].
    findings = audit(
        [
            cell("a", "closure_rate", 2, 30),
            cell("b", "closure_rate", 15, 40),
            cell("all", "closure_rate", 17, 70),
            hidden("a", "closure_nfa_share"),
            hidden("b", "closure_nfa_share"),
            cell("all", "closure_nfa_share", 9, 17),
        ],
        threshold=T,
    )
    assert ranges(findings) == {
        ("a", "closure_nfa_share", "denominator"): (2, 2),
        ("b", "closure_nfa_share", "denominator"): (15, 15),
        ("a", "closure_nfa_share", "numerator"): (0, 2),
        ("b", "closure_nfa_share", "numerator"): (7, 9),
    }


# The finding itself --------------------------------------------------------------------------


def test_describe_is_one_line_of_counts():
    # Only b's numerator hidden: 13 - 10 = 3 exactly (denominators are all published).
    (finding,) = audit(
        [
            cell("a", "closure_rate", 10, 40),
            cell("b", "closure_rate", None, 20),
            cell("all", "closure_rate", 13, 60),
        ],
        threshold=T,
    )
    text = finding.describe()
    assert "\n" not in text
    assert text.startswith(f"{W} / b / closure_rate numerator: range [3, 3], width 0 < 5")


def test_windows_are_independent():
    # The same segment b in two windows: hiding it in window 2 with a published window 1 beside it
    # tells nothing (no relation crosses windows); b and c hidden with 15 - 10 = 5 to share.
    def group(window):
        return [
            PublishedCell(CellKey(window, "a", "closure_rate"), 10, 40),
            PublishedCell(CellKey(window, "b", "closure_rate"), None, None),
            PublishedCell(CellKey(window, "c", "closure_rate"), None, None),
            PublishedCell(CellKey(window, "all", "closure_rate"), 15, 110),
        ]

    published = group("w1") + group("w2")
    published[1] = PublishedCell(CellKey("w1", "b", "closure_rate"), 3, 20)
    published[2] = PublishedCell(CellKey("w1", "c", "closure_rate"), 2, 50)
    assert audit(published, threshold=T) == []


# The shortcuts (presolve of counts pinned by one equality, components, feasible points that
# already span the threshold) against the plain LP: one min and one max per hidden count over
# every relation of the whole table at once.


def plain_lp_findings(published: list[PublishedCell], threshold: int) -> dict:
    import math

    import numpy as np
    from scipy.optimize import linprog

    model = metric_model(published)
    relations = [audit_module._fold(r, model.values, set()) for r in model.relations]
    hidden = [(c.key, n) for c in published for n in ("numerator", "denominator") if c.suppressed]
    index = {v: i for i, v in enumerate(hidden)}

    def matrix(rels):
        a = np.zeros((len(rels), len(hidden)))
        for row, rel in enumerate(rels):
            for v, coef in rel.coeffs.items():
                a[row, index[v]] = coef
        return a, np.array([-rel.constant for rel in rels])

    a_eq, b_eq = matrix([r for r in relations if r.equality])
    a_ub, b_ub = matrix([r for r in relations if not r.equality])
    objectives = {}
    for (key, count), i in index.items():
        objectives[(key, count)] = np.eye(len(hidden))[i]
        if count == "denominator":  # both counts of a suppressed cell hidden: its complement too
            objectives[(key, audit_module.COMPLEMENT)] = (
                np.eye(len(hidden))[i] - np.eye(len(hidden))[index[(key, "numerator")]]
            )
    out = {}
    for (key, count), objective in objectives.items():
        bounds = []
        for sign in (1.0, -1.0):
            c = sign * objective
            res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, method="highs")
            assert res.status in (0, 3)
            bounds.append(math.inf if res.status == 3 else sign * res.fun)
        if math.isinf(bounds[1]):
            continue
        low, high = math.ceil(bounds[0] - 1e-6), math.floor(bounds[1] + 1e-6)
        if high - low < threshold and not high == low == 0:  # a count forced to 0 is no leak
            out[(key.window_name, key.segment, key.metric, count)] = (low, high)
    # A complement is only reported for a cell whose numerator and denominator both stay wide
    # (otherwise the cell is already found through them, with the same or a narrower range).
    for found in [k for k in out if k[3] == audit_module.COMPLEMENT]:
        if (*found[:3], "numerator") in out or (*found[:3], "denominator") in out:
            del out[found]
    return out


@pytest.mark.parametrize("paired", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_shortcuts_agree_with_the_plain_lp(seed, paired):
    published = audit_module._synthetic(
        windows=2, segments=3, fraction=0.3, paired=paired, seed=seed
    )
    findings = audit(published, threshold=T)
    assert all(f.kind == DISCLOSIVE for f in findings)
    got = {
        (f.key.window_name, f.key.segment, f.key.metric, f.count): (f.low, f.high) for f in findings
    }
    assert got == plain_lp_findings(published, T)
    assert got  # the example is not trivially safe


# 6. The complement (denominator - numerator) ---------------------------------------------------


def test_a_complement_narrowed_below_the_threshold_is_found():
    # closure_rate: a = 10/50 published, all = 60/104, b and c hidden.
    # Numerators: b + c = 50; denominators: b + c = 54. Each numerator can be 0..50 and each
    # denominator 0..54 (wide), but the cases not closed add up to 54 - 50 = 4, so each hidden
    # complement (denominator - numerator) lies in [0, 4]: width 4 < 5, found for b and c.
    # With all = 60/105 the complements share 5: [0, 5], width 5, nothing is found.
    cells = [cell("a", "closure_rate", 10, 50), hidden("b", "closure_rate")]
    cells.append(hidden("c", "closure_rate"))
    narrow = audit([*cells, cell("all", "closure_rate", 60, 104)], threshold=T)
    assert ranges(narrow) == {
        ("b", "closure_rate", audit_module.COMPLEMENT): (0, 4),
        ("c", "closure_rate", audit_module.COMPLEMENT): (0, 4),
    }
    assert audit([*cells, cell("all", "closure_rate", 60, 105)], threshold=T) == []


# 7. Batched solving ---------------------------------------------------------------------------
# The components' LPs solved together, one block-diagonal LP per round, against each component
# solved alone: the same findings, inconsistencies and unbounded (hidden `all`) blocks included.


def _with_an_inconsistent_total(published: list[PublishedCell]) -> list[PublishedCell]:
    """``published`` with one `all` lowered below its published segments' sum, in a group where
    two segments are hidden: no values of those two fit (an infeasible LP, not a presolve find)."""
    by_group: dict[tuple[str, str], list[PublishedCell]] = {}
    for c in published:
        by_group.setdefault((c.key.window_name, c.key.metric), []).append(c)
    for (_, metric), group in by_group.items():
        total = next(c for c in group if c.key.segment == "all")
        segments = [c for c in group if c.key.segment != "all"]
        if metric == "returned_home_rate" or total.suppressed:
            continue
        if sum(c.suppressed for c in segments) != 2:
            continue
        known = sum(c.denominator for c in segments if not c.suppressed)
        broken = PublishedCell(total.key, min(total.numerator, known), known - 1)
        return [broken if c.key == total.key else c for c in published]
    raise AssertionError("no group with two hidden segments and a published total")


def _with_a_hidden_total(published: list[PublishedCell]) -> list[PublishedCell]:
    """``published`` with the `all` cell of every metric of its first window hidden too."""
    window = published[0].key.window_name
    return [
        PublishedCell(c.key, None, None)
        if c.key.window_name == window and c.key.segment == "all"
        else c
        for c in published
    ]


def _tables():
    for seed in range(4):
        for paired in (False, True):
            table = audit_module._synthetic(
                windows=8, segments=4, fraction=0.2, paired=paired, seed=seed
            )
            yield f"seed {seed}, {'paired' if paired else 'random'}", table
    table = audit_module._synthetic(windows=8, segments=4, fraction=0.2, seed=7)
    yield "inconsistent total", _with_an_inconsistent_total(table)
    yield "hidden totals", _with_a_hidden_total(table)


def test_batched_solving_finds_what_solving_each_component_alone_finds():
    compared = 0
    for name, table in _tables():
        batched = audit(table, threshold=T)
        alone = audit(table, threshold=T, batched=False)

        def summary(findings):
            return [(f.kind, f.key, f.count, f.low, f.high) for f in findings]

        assert summary(batched) == summary(alone), name
        assert batched, name  # not trivially safe
        if name == "inconsistent total":
            assert any(f.kind == INCONSISTENT and "infeasible" in f.reason for f in batched)
        compared += len(batched)
    assert compared > 500
