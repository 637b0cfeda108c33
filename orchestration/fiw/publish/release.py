"""The open-data release (docs/audiences.md "Release files"): CSV files anyone may read.

:func:`write_release` writes, into a fresh folder that the caller then swaps in as ``release/``
together with ``published.duckdb`` (:mod:`fiw.publish.swap`), one CSV file per released table and a
``<name>.meta.csv`` beside each:

``outcome_metrics.csv`` and ``outcome_years.csv``
    ``marts.outcome_metrics_suppressed`` and ``marts.outcome_years_suppressed``, where disclosure
    control (primary and complementary, chosen for both together) is already applied; one row per
    window (a programme window; a financial year, segment all only) x segment x metric, with the
    rate's 95% Wilson interval. A suppressed row shows ``c`` for its counts, rate and interval.
    The monthly rolling windows (``outcome_trends``) are not released: two consecutive ones
    differ by a month in and a month out (docs/audiences.md, "The release").
``metric_differences.csv``
    ``marts.metric_differences_suppressed``: Family Insights against the previous model per
    segment and metric, the difference with its 95% interval, p-value and verdict; ``c``
    throughout where either cell compared is suppressed, ``z`` where a window has nothing to count.
``caseload_monthly.csv``
    ``marts.caseload_monthly_suppressed``: ``open_children`` between 1 and ``threshold + 1``
    suppressed (and ``children_per_fte`` with it: times the published ``fte`` it gives
    ``open_children`` back). ``workers`` and ``fte`` count professionals, not children, and stay:
    they tell that a team with a worker has at least 1 child, so ``c`` stands for 1 to
    ``threshold + 1``, a range ``threshold`` wide. Zero is not small: 0 is published.
``matched_outcomes.csv`` and ``matched_balance.csv``
    ``marts.matched_outcomes_suppressed`` and ``marts.matched_balance_suppressed``: the matched
    comparison of the two windows (docs/matching.md), with its disclosure control already applied
    in dbt (no stratum-level figure exists in either). A suppressed figure is written ``c``; a rate,
    mean or difference that cannot be computed (no case on a side) ``z``. Differences, interval
    ends and standardised differences may be negative.

``data_quality.csv``
    One row: the published snapshot's extract date and, of its latest validation run in
    ``audit.dq_results``, how many checks ran and how many failed, errors and warnings apart
    (:func:`write_data_quality`). Counts of checks only: no check's name, table or values, which
    stay in the warehouse and ``published.duckdb``. The evaluation report (``report.html``,
    :mod:`fiw.publish.report`) says it in one line.

Format, following the DfE's open-data standards for Explore Education Statistics (EES):

- UTF-8 without a byte-order mark, comma separated, quotes only where needed (Python's ``csv``),
  LF line ends, a header row of the column names, rows in the order of each table's key (so the
  same marts give the same bytes).
- Symbols (GSS symbols as the DfE uses them in data files): ``c`` confidential (a suppressed count,
  or a rate or ratio of one), ``z`` not applicable (a rate whose denominator is 0, a ratio with
  no FTE), ``x`` not available (a filter with no value, e.g. a team with no unit name), ``low``
  (a rate or ratio that rounds to 0 but is not 0).
- Counts as integers; dates ISO 8601 (``YYYY-MM-DD``); ``rate`` a proportion from 0 to 1 (as in
  ``published.duckdb``, so a figure copied from either agrees), ``fte`` and ``children_per_fte``,
  all to 4 decimal places, rounded half up (DfE's convention, ``dfeR::round_five_up``) from the
  shortest decimal form of the stored value. 4 places keep a rate to a hundredth of a percentage
  point, and are ``fte``'s own precision in the warehouse (``decimal(12, 4)``).
- Metadata in the EES header ``col_name, col_type, label, indicator_grouping, indicator_unit,
  indicator_dp, filter_hint, filter_grouping_column``: ``col_type`` ``Filter`` or ``Indicator``;
  ``indicator_unit`` blank (EES's "a number": EES allows only ``£``, ``£m``, ``%`` and ``pp``, and
  none fits a proportion, a count or an FTE), the unit being said in the label; ``indicator_dp``
  the decimal places written. Unlike EES (which wants rows for filters and indicators only, and
  the mandatory time and geography columns in every file), every column of the CSV has its row,
  and the columns are audiences.md's: these files are not for upload to EES.

Each row is checked as it is written: an unsuppressed outcome row must hold its counts, with
0 <= numerator <= denominator, and show no small number (defence in depth behind the marts suite
and the disclosure audit). Otherwise :class:`ReleaseError` is raised, the files written so far are
removed, and the caller publishes nothing.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from pathlib import Path
from typing import Any

import duckdb

from fiw.quality.results import latest_run_counts

CONFIDENTIAL, NOT_APPLICABLE, NOT_AVAILABLE, LOW = "c", "z", "x", "low"
DECIMAL_PLACES = 4  # rate, fte, children_per_fte
FILTER, INDICATOR = "Filter", "Indicator"
META_HEADER = (
    "col_name", "col_type", "label", "indicator_grouping", "indicator_unit", "indicator_dp",
    "filter_hint", "filter_grouping_column",
)  # fmt: skip
BATCH = 10_000


class ReleaseError(RuntimeError):
    """The marts cannot be released as they are (a row breaks disclosure control or its rules)."""


@dataclass(frozen=True)
class Column:
    name: str
    col_type: str  # FILTER or INDICATOR
    label: str
    dp: int | None = None  # indicators: decimal places written (0 for counts)
    hint: str = ""  # filters: EES filter_hint

    def meta_row(self) -> tuple[str, ...]:
        dp = "" if self.dp is None else str(self.dp)
        return (self.name, self.col_type, self.label, "", "", dp, self.hint, "")


AS_OF_DATE = Column(
    "as_of_date", FILTER, "Extract date of the snapshot (YYYY-MM-DD)", hint="Filter by extract date"
)

# audiences.md "Release files": released file -> (source table, columns in the released order).
OUTCOME_METRICS: tuple[Column, ...] = (
    AS_OF_DATE,
    Column("window_name", FILTER, "Programme window", hint="Filter by programme window"),
    Column("window_start", FILTER, "First day of the window (YYYY-MM-DD)"),
    Column("window_end", FILTER, "Last day of the window (YYYY-MM-DD)"),
    Column("segment", FILTER, "Segment of the case (all: every segment together)",
           hint="Filter by segment"),
    Column("metric", FILTER, "Outcome metric", hint="Filter by outcome metric"),
    Column("numerator", INDICATOR, "Numerator: number counted (c: suppressed)", dp=0),
    Column("denominator", INDICATOR, "Denominator: number counted (c: suppressed)", dp=0),
    Column("rate", INDICATOR,
           "Rate: numerator / denominator, a proportion from 0 to 1"
           " (c: suppressed; z: denominator 0)", dp=DECIMAL_PLACES),
    Column("ci_low", INDICATOR,
           "Lower bound of the rate's 95% Wilson interval (c: suppressed; z: denominator 0)",
           dp=DECIMAL_PLACES),
    Column("ci_high", INDICATOR,
           "Upper bound of the rate's 95% Wilson interval (c: suppressed; z: denominator 0)",
           dp=DECIMAL_PLACES),
)  # fmt: skip
# The same figures for the financial years, segment all (no window name: a year is its dates).
OUTCOME_YEARS: tuple[Column, ...] = (
    AS_OF_DATE,
    Column("window_start", FILTER, "First day of the financial year, 1 April (YYYY-MM-DD)"),
    Column("window_end", FILTER, "Last day of the financial year, 31 March (YYYY-MM-DD)",
           hint="Filter by year"),
    *OUTCOME_METRICS[4:],
)  # fmt: skip
METRIC_DIFFERENCES: tuple[Column, ...] = (
    AS_OF_DATE,
    Column("segment", FILTER, "Segment of the case (all: every segment together)",
           hint="Filter by segment"),
    Column("metric", FILTER, "Outcome metric", hint="Filter by outcome metric"),
    Column("previous_rate", INDICATOR,
           "Rate under the previous model (c: suppressed; z: denominator 0)", dp=DECIMAL_PLACES),
    Column("family_insights_rate", INDICATOR,
           "Rate under Family Insights (c: suppressed; z: denominator 0)", dp=DECIMAL_PLACES),
    Column("difference", INDICATOR,
           "Family Insights rate minus previous model rate, a difference of proportions"
           " (c: suppressed; z: not comparable)", dp=DECIMAL_PLACES),
    Column("ci_low", INDICATOR,
           "Lower bound of the difference's 95% interval (Newcombe's hybrid score)",
           dp=DECIMAL_PLACES),
    Column("ci_high", INDICATOR, "Upper bound of the difference's 95% interval",
           dp=DECIMAL_PLACES),
    Column("p_value", INDICATOR,
           "Two-sided p-value of the two-proportion z-test (low: under 0.00005)",
           dp=DECIMAL_PLACES),
    Column("verdict", FILTER, "The difference in words: which way, and whether it could be noise"),
)  # fmt: skip
CASELOAD_MONTHLY: tuple[Column, ...] = (
    Column("team_id", FILTER, "Team identifier", hint="Filter by team"),
    Column("unit_name", FILTER, "Unit (or team) name (x: not available)"),
    Column("segment", FILTER, "Segment of the team", hint="Filter by segment"),
    Column("month_end", FILTER, "Last day of the month (YYYY-MM-DD)", hint="Filter by month"),
    Column("open_children", INDICATOR,
           "Number of children with an open involvement on the month end (c: suppressed)", dp=0),
    Column("workers", INDICATOR,
           "Number of workers with an open involvement on the month end", dp=0),
    Column("fte", INDICATOR, "Full-time equivalent of those workers", dp=DECIMAL_PLACES),
    Column("children_per_fte", INDICATOR,
           "Children per full-time equivalent worker (c: suppressed; z: no FTE)",
           dp=DECIMAL_PLACES),
)  # fmt: skip

DATA_QUALITY: tuple[Column, ...] = (
    Column("as_of_date", FILTER, "Extract date of the published snapshot (YYYY-MM-DD)"),
    Column("checks", INDICATOR,
           "Number of data-quality checks in the snapshot's latest validation run", dp=0),
    Column("failed_errors", INDICATOR,
           "Number of those checks that failed with severity error (they block a publication)",
           dp=0),
    Column("failed_warnings", INDICATOR,
           "Number of those checks that failed with severity warning", dp=0),
)  # fmt: skip

MATCHED_OUTCOMES: tuple[Column, ...] = (
    AS_OF_DATE,
    Column("treated_window", FILTER, "Programme window of the cases compared (treated)"),
    Column("control_window", FILTER, "Programme window of the cases they are compared with"),
    Column("follow_up_months", FILTER, "Months each case is followed from its referral"),
    Column("outcome", FILTER, "Outcome within the follow-up", hint="Filter by outcome"),
    Column(
        "comparison",
        FILTER,
        "matched: like-for-like cases, controls weighted; unmatched: every case",
        hint="Filter by comparison",
    ),
    Column("treated_cases", INDICATOR, "Number of treated cases (c: suppressed)", dp=0),
    Column(
        "treated_count", INDICATOR, "Number of treated cases with the outcome (c: suppressed)", dp=0
    ),
    Column(
        "treated_rate",
        INDICATOR,
        "Treated rate, a proportion from 0 to 1 (c: suppressed; z: no case)",
        dp=DECIMAL_PLACES,
    ),
    Column("control_cases", INDICATOR, "Number of control cases (c: suppressed)", dp=0),
    Column(
        "control_count", INDICATOR, "Number of control cases with the outcome (c: suppressed)", dp=0
    ),
    Column(
        "control_rate",
        INDICATOR,
        "Control rate, a proportion from 0 to 1, weighted when matched (c: suppressed; z: no case)",
        dp=DECIMAL_PLACES,
    ),
    Column(
        "difference",
        INDICATOR,
        "Treated rate minus control rate (c: suppressed; z: not applicable)",
        dp=DECIMAL_PLACES,
    ),
    Column(
        "ci_lower",
        INDICATOR,
        "Lower end of the 95% interval of the difference (c: suppressed; z: not applicable)",
        dp=DECIMAL_PLACES,
    ),
    Column(
        "ci_upper",
        INDICATOR,
        "Upper end of the 95% interval of the difference (c: suppressed; z: not applicable)",
        dp=DECIMAL_PLACES,
    ),
    Column("treated_matched", INDICATOR, "Number of treated cases matched (c: suppressed)", dp=0),
    Column(
        "treated_dropped",
        INDICATOR,
        "Number of treated cases without a counterpart, dropped (c: suppressed)",
        dp=0,
    ),
    Column("control_matched", INDICATOR, "Number of control cases matched (c: suppressed)", dp=0),
    Column(
        "control_dropped",
        INDICATOR,
        "Number of control cases without a counterpart, dropped (c: suppressed)",
        dp=0,
    ),
)
MATCHED_BALANCE: tuple[Column, ...] = (
    AS_OF_DATE,
    Column("treated_window", FILTER, "Programme window of the cases compared (treated)"),
    Column("control_window", FILTER, "Programme window of the cases they are compared with"),
    Column(
        "characteristic",
        FILTER,
        "Characteristic known at referral",
        hint="Filter by characteristic",
    ),
    Column("category", FILTER, "Category of the characteristic (true: yes/no characteristics)"),
    Column("used_in_matching", FILTER, "The cases were matched on this characteristic"),
    Column(
        "treated_mean_before",
        INDICATOR,
        "Share of treated cases in the category, before matching (c: suppressed; z: no case)",
        dp=DECIMAL_PLACES,
    ),
    Column(
        "control_mean_before",
        INDICATOR,
        "Share of control cases in the category, before matching (c: suppressed; z: no case)",
        dp=DECIMAL_PLACES,
    ),
    Column(
        "std_diff_before",
        INDICATOR,
        "Standardised difference before matching (c: suppressed; z: not applicable)",
        dp=DECIMAL_PLACES,
    ),
    Column(
        "treated_mean_after",
        INDICATOR,
        "Share of matched treated cases in the category (c: suppressed; z: no case)",
        dp=DECIMAL_PLACES,
    ),
    Column(
        "control_mean_after",
        INDICATOR,
        "Weighted share of matched control cases in the category (c: suppressed; z: no case)",
        dp=DECIMAL_PLACES,
    ),
    Column(
        "std_diff_after",
        INDICATOR,
        "Standardised difference after matching (c: suppressed; z: not applicable)",
        dp=DECIMAL_PLACES,
    ),
)

RELEASED: dict[str, tuple[str, tuple[Column, ...]]] = {
    "outcome_metrics": ("marts.outcome_metrics_suppressed", OUTCOME_METRICS),
    "outcome_years": ("marts.outcome_years_suppressed", OUTCOME_YEARS),
    "metric_differences": ("marts.metric_differences_suppressed", METRIC_DIFFERENCES),
    "caseload_monthly": ("marts.caseload_monthly_suppressed", CASELOAD_MONTHLY),
    "matched_outcomes": ("marts.matched_outcomes_suppressed", MATCHED_OUTCOMES),
    "matched_balance": ("marts.matched_balance_suppressed", MATCHED_BALANCE),
}


def released_columns(name: str) -> list[str]:
    """The header of ``<name>.csv``."""
    return [c.name for c in RELEASED[name][1]]


# ----------------------------------------------------------------------------- formatting


def _date(value: Any) -> str:
    if value is None:
        return NOT_AVAILABLE
    if isinstance(value, datetime):  # a timestamp at midnight from a pandas round trip
        value = value.date()
    if not isinstance(value, date):
        raise ReleaseError(f"not a date: {value!r}")
    return value.isoformat()


def _text(value: Any) -> str:
    return NOT_AVAILABLE if value is None else str(value)


def _count(value: Any) -> str:
    if value is None:
        return NOT_AVAILABLE
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ReleaseError(f"not a count: {value!r}")
    return str(int(value))


def _decimal(value: Any) -> str:
    """``value`` to DECIMAL_PLACES places, half up; ``low`` when that is 0 but ``value`` is not."""
    exact = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    if not exact.is_finite() or exact < 0:
        raise ReleaseError(f"not a non-negative number: {value!r}")
    rounded = exact.quantize(Decimal(1).scaleb(-DECIMAL_PLACES), rounding=ROUND_HALF_UP)
    if rounded == 0 and exact != 0:
        return LOW
    return format(rounded, "f")


def _signed(value: Any) -> str:
    """A number that may be negative (a difference), as :func:`_decimal`; NULL is ``z``."""
    if value is None:
        return NOT_APPLICABLE
    exact = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    if not exact.is_finite():
        raise ReleaseError(f"not a finite number: {value!r}")
    shown = _decimal(abs(exact))
    return shown if shown == LOW or exact >= 0 or Decimal(shown) == 0 else f"-{shown}"


def _proportion(value: Any) -> str:
    """A rate or mean, 0 to 1; NULL (no case on that side) is ``z``."""
    if value is None:
        return NOT_APPLICABLE
    if not 0 <= float(value) <= 1 + 1e-9:
        raise ReleaseError(f"not a proportion: {value!r}")
    return _decimal(min(float(value), 1.0))


# ----------------------------------------------------------------------------- rows


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> Iterator[tuple]:
    # On ``con`` itself, not a cursor: a cursor is another connection, blind to what the caller's
    # open transaction holds. Nothing else runs on ``con`` while a file is written.
    result = con.execute(sql)
    while batch := result.fetchmany(BATCH):
        yield from batch


def _metric_rows(name: str, con: duckdb.DuckDBPyConnection, threshold: int) -> Iterator[list[str]]:
    """outcome_metrics.csv and outcome_years.csv: one row per window x segment x metric."""
    source = RELEASED[name][0]
    named = name == "outcome_metrics"  # the years' windows are their dates
    sql = (
        "select as_of_date, window_name, window_start, window_end, segment, metric,"
        " numerator, denominator, rate, ci_low, ci_high, suppressed"
        f" from {source}"
        " order by window_start, window_end, window_name, segment, metric, as_of_date"
    )
    for row in _rows(con, sql):
        as_of, window, start, end, segment, metric, n, d, rate, low, high, suppressed = row
        key = f"{name} {window} / {segment} / {metric}"
        filters = [_date(as_of)] + ([_text(window)] if named else [])
        filters += [_date(start), _date(end), _text(segment), _text(metric)]
        if suppressed is None:
            raise ReleaseError(f"{key}: suppressed is NULL")
        if suppressed:
            # Whatever the row holds, no figure of a suppressed cell is written: not even z, which
            # would tell a denominator of 0.
            yield filters + [CONFIDENTIAL] * 5
            continue
        _check_counts(key, threshold, (n, d))
        if d == 0:
            yield filters + [_count(n), _count(d)] + [NOT_APPLICABLE] * 3
            continue
        if rate is None or low is None or high is None:
            raise ReleaseError(f"{key}: rate or interval NULL with denominator {d}")
        yield filters + [_count(n), _count(d), _decimal(rate), _proportion(low), _proportion(high)]


def _check_counts(key: str, threshold: int, *pairs: tuple[Any, Any]) -> None:
    """An unsuppressed row's (numerator, denominator) pairs: whole, consistent, none small."""
    for n, d in pairs:
        if n is None or d is None:
            raise ReleaseError(f"{key}: unsuppressed row without its counts")
        if n < 0 or n > d:
            raise ReleaseError(f"{key}: numerator {n} outside 0..{d}")
        if [v for v in (n, d, d - n) if 1 <= v <= threshold]:
            raise ReleaseError(
                f"{key}: unsuppressed row shows a small number ({n} / {d}; threshold {threshold})"
            )


def _difference_rows(con: duckdb.DuckDBPyConnection, threshold: int) -> Iterator[list[str]]:
    source = RELEASED["metric_differences"][0]
    sql = (
        "select as_of_date, segment, metric, previous_numerator, previous_denominator,"
        " previous_rate, programme_numerator, programme_denominator, programme_rate,"
        " difference, ci_low, ci_high, p_value, verdict, suppressed"
        f" from {source} order by segment, metric"
    )
    for row in _rows(con, sql):
        as_of, segment, metric, n_p, d_p, r_p, n_f, d_f, r_f = row[:9]
        diff, low, high, p, verdict, suppressed = row[9:]
        key = f"metric_differences {segment} / {metric}"
        out = [_date(as_of), _text(segment), _text(metric)]
        if suppressed is None:
            raise ReleaseError(f"{key}: suppressed is NULL")
        if suppressed:
            yield out + [CONFIDENTIAL] * 6 + [_text(verdict)]
            continue
        _check_counts(key, threshold, (n_p, d_p), (n_f, d_f))
        out += [_proportion(r_p), _proportion(r_f), _signed(diff), _signed(low), _signed(high)]
        yield out + [NOT_APPLICABLE if p is None else _decimal(p), _text(verdict)]


def _caseload_rows(con: duckdb.DuckDBPyConnection, threshold: int) -> Iterator[list[str]]:
    source = RELEASED["caseload_monthly"][0]
    sql = (
        "select team_id, unit_name, segment, month_end, open_children, workers, fte,"
        f" children_per_fte, suppressed from {source}"
        " order by team_id, month_end, segment, unit_name"
    )
    for row in _rows(con, sql):
        team, unit, segment, month_end, children, workers, fte, per_fte, suppressed = row
        out = [_text(team), _text(unit), _text(segment), _date(month_end)]
        if suppressed is None or (children is None and not suppressed):
            raise ReleaseError(f"caseload_monthly {team} {month_end}: open_children is NULL")
        if not suppressed and 1 <= children <= threshold + 1:
            raise ReleaseError(
                f"caseload_monthly {team} {month_end}: unsuppressed row shows a small number"
                f" ({children}; threshold {threshold}, c stands for 1 to {threshold + 1})"
            )
        if suppressed:
            shown_children = shown_per_fte = CONFIDENTIAL
        else:
            shown_children = _count(children)
            if per_fte is not None:
                shown_per_fte = _decimal(per_fte)
            elif fte is not None and fte == 0:
                shown_per_fte = NOT_APPLICABLE
            else:
                shown_per_fte = NOT_AVAILABLE
        shown_fte = NOT_AVAILABLE if fte is None else _decimal(fte)
        yield out + [shown_children, _count(workers), shown_fte, shown_per_fte]


def _matched_outcome_rows(con: duckdb.DuckDBPyConnection, threshold: int) -> Iterator[list[str]]:
    source = RELEASED["matched_outcomes"][0]
    sql = (
        "select as_of_date, treated_window, control_window, follow_up_months, outcome,"
        " comparison, treated_cases, treated_count, treated_rate, control_cases, control_count,"
        " control_rate, difference, ci_lower, ci_upper, treated_matched, treated_dropped,"
        " control_matched, control_dropped, suppressed"
        f" from {source} order by outcome, comparison"
    )
    for row in _rows(con, sql):
        as_of, treated, control, months, outcome, comparison = row[:6]
        n_t, k_t, r_t, n_c, k_c, r_c, diff, lower, upper = row[6:15]
        sample, suppressed = row[15:19], row[19]
        key = f"matched_outcomes {outcome} / {comparison}"
        out = [_date(as_of), _text(treated), _text(control), _count(months), _text(outcome)]
        out.append(_text(comparison))
        if suppressed is None:
            raise ReleaseError(f"{key}: suppressed is NULL")
        if suppressed:
            # an every-case outcome's cases are the sample, published beside the row
            shown = [CONFIDENTIAL if v is None else _count(v) for v in (n_t, n_c)]
            out += [shown[0], CONFIDENTIAL, CONFIDENTIAL, shown[1]] + [CONFIDENTIAL] * 5
        else:
            counts = (n_t, k_t, n_c, k_c)
            if any(v is None for v in counts):
                raise ReleaseError(f"{key}: unsuppressed row without its counts")
            if k_t > n_t or k_c > n_c:
                raise ReleaseError(f"{key}: a count exceeds its cases")
            if any(1 <= v <= threshold for v in (n_t, k_t, n_t - k_t, n_c, k_c, n_c - k_c)):
                raise ReleaseError(f"{key}: unsuppressed row shows a small number")
            out += [_count(n_t), _count(k_t), _proportion(r_t), _count(n_c), _count(k_c)]
            out += [_proportion(r_c), _signed(diff), _signed(lower), _signed(upper)]
        for v in sample:
            if v is not None and 1 <= v <= threshold:
                raise ReleaseError(f"{key}: a matched or dropped count is small ({v})")
        out += [CONFIDENTIAL if v is None else _count(v) for v in sample]
        yield out


def _matched_balance_rows(con: duckdb.DuckDBPyConnection, threshold: int) -> Iterator[list[str]]:
    source = RELEASED["matched_balance"][0]
    sql = (
        "select as_of_date, treated_window, control_window, characteristic, category,"
        " used_in_matching, treated_mean_before, control_mean_before, std_diff_before,"
        " treated_mean_after, control_mean_after, std_diff_after, suppressed"
        f" from {source} order by characteristic, category"
    )
    for row in _rows(con, sql):
        as_of, treated, control, characteristic, category, used = row[:6]
        tb, cb, sb, ta, ca, sa, suppressed = row[6:]
        out = [_date(as_of), _text(treated), _text(control), _text(characteristic)]
        out += [_text(category), _text(None if used is None else str(used).lower())]
        if suppressed is None:
            raise ReleaseError(f"matched_balance {characteristic} / {category}: suppressed NULL")
        if suppressed:
            yield out + [CONFIDENTIAL] * 6
            continue
        yield (
            out
            + [_proportion(tb), _proportion(cb), _signed(sb)]
            + [_proportion(ta), _proportion(ca), _signed(sa)]
        )


ROWS: dict[str, Callable[[duckdb.DuckDBPyConnection, int], Iterator[list[str]]]] = {
    "outcome_metrics": partial(_metric_rows, "outcome_metrics"),
    "outcome_years": partial(_metric_rows, "outcome_years"),
    "metric_differences": _difference_rows,
    "caseload_monthly": _caseload_rows,
    "matched_outcomes": _matched_outcome_rows,
    "matched_balance": _matched_balance_rows,
}


# ----------------------------------------------------------------------------- files


def _write_csv(f, header: list[str] | tuple[str, ...], rows) -> None:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    f.flush()
    os.fsync(f.fileno())  # complete on disk before the caller's rename makes it visible


def write_release(con: duckdb.DuckDBPyConnection, folder: Path, threshold: int) -> list[Path]:
    """Write the release files of the marts open on ``con`` into ``folder`` (empty, made by the
    caller); return the paths written, each CSV followed by its ``.meta.csv``.

    ``threshold`` is the suppression threshold (dbt's ``suppression_threshold``): caseload counts
    from 1 to it are written ``c``, and an unsuppressed outcome row showing one raises
    :class:`ReleaseError`. The caller sets the files' modes (0644) and swaps the folder in."""
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
        raise ValueError(f"not a suppression threshold: {threshold!r}")
    folder = Path(folder)
    if not folder.is_dir():
        raise ReleaseError(f"release folder {folder} does not exist")
    written: list[Path] = []  # in order, including one being written
    try:
        for name, (_, columns) in RELEASED.items():
            for path, header, rows in (
                (folder / f"{name}.csv", released_columns(name), ROWS[name](con, threshold)),
                (folder / f"{name}.meta.csv", META_HEADER, [c.meta_row() for c in columns]),
            ):
                # "x": never overwrite; the folder is the caller's fresh staging folder.
                with open(path, "x", encoding="utf-8", newline="") as f:
                    written.append(path)
                    _write_csv(f, header, rows)
    except BaseException:
        # A bad row: leave no half-written release behind (the caller swaps nothing in).
        for path in written:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return written


def write_data_quality(
    con: duckdb.DuckDBPyConnection, folder: Path, snapshot_id: str, snapshot_date: date
) -> list[Path]:
    """Write ``data_quality.csv`` (and its ``.meta.csv``) into ``folder``: the counts of checks
    of ``snapshot_id``'s latest validation run (the run of its newest ``checked_at``), as the
    data-quality page counts them; 0 checks when none is recorded. Returns the paths written."""
    folder = Path(folder)
    exists = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'audit'"
        " and table_name = 'dq_results'"
    ).fetchone()[0]
    checks = errors = warnings = 0
    if exists:
        checks, errors, warnings = latest_run_counts(con, snapshot_id)
    row = [_date(snapshot_date), _count(checks), _count(errors), _count(warnings)]
    written = []
    try:
        for path, header, rows in (
            (folder / "data_quality.csv", [c.name for c in DATA_QUALITY], [row]),
            (folder / "data_quality.meta.csv", META_HEADER, [c.meta_row() for c in DATA_QUALITY]),
        ):
            with open(path, "x", encoding="utf-8", newline="") as f:
                written.append(path)
                _write_csv(f, header, rows)
    except BaseException:
        for path in written:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
    return written
