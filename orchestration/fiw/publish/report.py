"""The evaluation report: ``release/report.html``, built from the release's CSV files alone.

:func:`build_report` reads only the open-data files in a release folder (``outcome_metrics.csv``,
``caseload_monthly.csv`` and, when the release has them, ``outcome_years.csv``,
``metric_differences.csv``, ``data_quality.csv``, ``matched_outcomes.csv`` and
``matched_balance.csv``), so the page holds nothing the release does not already share, and is as
safe to pass on as the CSV files beside it. It never opens a database.

The page is one self-contained HTML file: inline CSS, charts as hand-written inline SVG, no
script, no font, no image, nothing fetched (a browser with no network shows all of it). Sections,
each with a stable ``id`` for the tests and for bookmarks:

- ``#findings``: the evaluation's findings recomputed, Family Insights against the previous model
  (segment ``all``), one plain-English sentence each, then the same figures as a table;
- ``#units``: every metric by segment (the needs-based units' segments, ``generic``,
  ``unassigned``, ``all``), one table per programme window;
- ``#trends``: the main metrics over financial years (the release's years), the programme's
  start marked;
- ``#caseload``: children per FTE for each unit, month by month, the programme's start marked;
- ``#matching``: the matched comparison (docs/matching.md): per outcome, the matched rates
  (controls weighted) beside the unmatched ones, with the difference and its 95% interval, the
  cases matched and dropped on each side, the largest standardised difference before and after
  matching (every characteristic's balance under it) and what the method cannot tell;
- ``#data-quality``: one line on the data quality of the published snapshot.

Every figure on the page is a cell of a CSV file shown as it is written there (a percentage of a
proportion with 4 decimal places keeps all of them: 0.4372 is 43.72%), or, where the file is
absent, a difference of two of them (a standardised difference is shown as written, with a true
minus sign), and carries the file, key and column it came from in ``data-*`` attributes, so a test
can read the page back against the files. A symbol is shown as
the symbol, never as 0 or as an empty cell: ``c`` suppressed, ``z`` not applicable, ``x`` not
available, ``low`` rounds to 0 but is not 0. In a chart a suppressed or not applicable month
breaks the line and is marked ``c`` or ``z`` along the top of the plot. Every chart has a text
summary beside it and its table under "Figures of this chart".

A file or a column that the release does not have (older releases have no trends, intervals or
data-quality summary or matched comparison) is said on the page where it would have been used,
and the rest is shown.
"""

from __future__ import annotations

import csv
import html
import math
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

REPORT_NAME = "report.html"
CONFIDENTIAL, NOT_APPLICABLE, NOT_AVAILABLE, LOW = "c", "z", "x", "low"
SYMBOLS = {
    CONFIDENTIAL: "suppressed to protect small numbers",
    NOT_APPLICABLE: "not applicable (nothing to count)",
    NOT_AVAILABLE: "not available",
    LOW: "rounds to 0 but is not 0",
}
PREVIOUS, FAMILY_INSIGHTS = "previous_model", "family_insights"
WINDOW_LABELS = {PREVIOUS: "the previous model", FAMILY_INSIGHTS: "Family Insights"}
ALL = "all"

FILES = (
    "outcome_metrics",
    "metric_differences",
    "outcome_years",
    "caseload_monthly",
    "data_quality",
    "matched_outcomes",
    "matched_balance",
)
# A row's key in each file: what the page's data-key attribute names.
KEYS: dict[str, tuple[str, ...]] = {
    "outcome_metrics": ("window_name", "segment", "metric"),
    "metric_differences": ("segment", "metric"),
    "outcome_years": ("segment", "metric", "window_end"),
    "caseload_monthly": ("team_id", "month_end"),
    "data_quality": ("as_of_date",),
    "matched_outcomes": ("outcome", "comparison"),
    "matched_balance": ("characteristic", "category"),
}

# metric -> (what it counts, in a sentence's words). Order: the evaluation's.
METRICS: dict[str, str] = {
    "de_escalation_rate": "Cases on a child protection plan or in care that stepped down a level",
    "de_escalation_cp_to_cin_share": "De-escalations from child protection to child in need",
    "de_escalation_lac_to_cin_share": "De-escalations from looked after to child in need",
    "closure_rate": "Cases closed",
    "closure_nfa_share": "Closures with no further action",
    "closed_last_on_cin_plan_share": "Closures last on a child-in-need plan",
    "re_referral_rate": "Referrals re-referred within 12 months",
    "re_referral_after_closure_rate": "Closed cases referred again within 12 months",
    "repeat_cp_plan_rate": "Child protection plans that were repeat plans",
    "cp_plan_2yr_plus_rate": "Child protection plans that lasted 2 years or more",
    "returned_home_rate": "Looked-after children who returned home",
}
SHORT: dict[str, str] = {
    "de_escalation_rate": "De-escalated",
    "de_escalation_cp_to_cin_share": "of which CP to CIN",
    "de_escalation_lac_to_cin_share": "of which LAC to CIN",
    "closure_rate": "Closed",
    "closure_nfa_share": "Closed NFA",
    "closed_last_on_cin_plan_share": "Closed last on CIN plan",
    "re_referral_rate": "Re-referred",
    "re_referral_after_closure_rate": "Referred again after closure",
    "repeat_cp_plan_rate": "Repeat CP plan",
    "cp_plan_2yr_plus_rate": "CP plan 2 years+",
    "returned_home_rate": "Returned home",
}
MAIN_METRICS = ("de_escalation_rate", "closure_rate", "re_referral_rate", "returned_home_rate")
LAST_SEGMENTS = ("generic", "unassigned", ALL)  # shown after the needs-based units' segments


class ReportError(RuntimeError):
    """The report cannot be built (no release folder)."""


# --------------------------------------------------------------------------- reading


@dataclass
class Table:
    """One release file as read: its header and rows (text as written), or absent."""

    name: str
    present: bool = False
    columns: tuple[str, ...] = ()
    rows: list[dict[str, str]] = field(default_factory=list)

    def has(self, *columns: str) -> bool:
        return self.present and all(c in self.columns for c in columns)

    @property
    def file(self) -> str:
        return f"{self.name}.csv"


def read_release(folder: Path) -> dict[str, Table]:
    """Every file the report uses, read as text; an absent file is a :class:`Table` with
    ``present`` false."""
    tables = {}
    for name in FILES:
        table = Table(name)
        path = Path(folder) / f"{name}.csv"
        if path.is_file():
            with open(path, encoding="utf-8", newline="") as f:
                reader = csv.DictReader(f)
                table.columns = tuple(reader.fieldnames or ())
                table.rows = [{k: (v or "") for k, v in r.items() if k is not None} for r in reader]
            table.present = True
        tables[name] = table
    return tables


# --------------------------------------------------------------------------- numbers


def number(text: str | None) -> Decimal | None:
    """The number a cell holds, None for a symbol, an empty cell or anything else."""
    if text is None or text.strip() in SYMBOLS or not text.strip():
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _plotted(text: str | None) -> float | None:
    """A cell's value on a chart: ``low`` at 0 (it is under 0.00005), symbols not plotted."""
    if text is not None and text.strip() == LOW:
        return 0.0
    value = number(text)
    return None if value is None else float(value)


def percent(text: str | None, places: int = 2) -> str:
    """A proportion as a percentage (0.4372 -> 43.72%); a symbol as itself."""
    value = number(text)
    if value is None:
        return (text or "").strip() or NOT_AVAILABLE
    return f"{value * 100:.{places}f}%"


def points(text: str | None, places: int = 2) -> str:
    """A difference of proportions in percentage points, signed (-0.2154 -> −21.54)."""
    value = number(text)
    if value is None:
        return (text or "").strip() or NOT_AVAILABLE
    shown = f"{value * 100:+.{places}f}"
    return shown.replace("-", "\u2212")


def count(text: str | None) -> str:
    value = number(text)
    if value is None:
        return (text or "").strip() or NOT_AVAILABLE
    return f"{int(value):,}" if value == int(value) else f"{value}"


def plain(text: str | None, places: int = 1) -> str:
    """A plain number (children per FTE) to ``places`` places; a symbol as itself."""
    value = number(text)
    if value is None:
        return (text or "").strip() or NOT_AVAILABLE
    return f"{value:,.{places}f}"


# --------------------------------------------------------------------------- HTML helpers


def _e(value: Any) -> str:
    return "" if value is None else html.escape(str(value), quote=True)


def _cell(
    table: Table, row: dict[str, str] | None, column: str, shown: str, *, tag: str = "td",
    classes: str = "num",
) -> str:  # fmt: skip
    """A table cell showing ``shown`` (the formatted value of ``row[column]``), with the file, key,
    column and raw value in data attributes; a symbol shown as the symbol with its meaning."""
    if row is None or column not in row:
        return f'<{tag} class="{classes} na">not in this release</{tag}>'
    raw = row[column]
    key = "|".join(row.get(k, "") for k in KEYS[table.name])
    attrs = (
        f'data-src="{_e(table.name)}" data-key="{_e(key)}" data-col="{_e(column)}"'
        f' data-value="{_e(raw)}"'
    )
    stripped = raw.strip()
    if stripped in SYMBOLS or not stripped:
        symbol = stripped or NOT_AVAILABLE
        return (
            f'<{tag} class="{classes} sym sym-{_e(symbol)}" {attrs} title="{_e(SYMBOLS[symbol])}">'
            f"{_e(symbol)}</{tag}>"
        )
    return f'<{tag} class="{classes}" {attrs}>{_e(shown)}</{tag}>'


def _span(table: Table, row: dict[str, str] | None, column: str, shown: str) -> str:
    return _cell(table, row, column, shown, tag="span", classes="fig")


def _missing(text: str, ident: str) -> str:
    return f'<p class="missing" id="{_e(ident)}">{_e(text)}</p>'


def _label(metric: str) -> str:
    return METRICS.get(metric, metric.replace("_", " ").capitalize())


def _short(metric: str) -> str:
    return SHORT.get(metric, metric.replace("_", " "))


def _metric_order(metrics: Iterable[str]) -> list[str]:
    known = list(METRICS)
    return sorted(set(metrics), key=lambda m: (known.index(m) if m in known else len(known), m))


def _segment_order(segments: Iterable[str]) -> list[str]:
    def key(s: str) -> tuple[int, str]:
        return (LAST_SEGMENTS.index(s) + 1 if s in LAST_SEGMENTS else 0, s)

    return sorted(set(segments), key=key)


def _month(text: str) -> str:
    """2015-05-31 -> May 2015 (a date that is not one: as written)."""
    try:
        return f"{date.fromisoformat(text):%B %Y}"
    except ValueError:
        return text


# --------------------------------------------------------------------------- context


@dataclass
class Context:
    """What every section needs: the files, the windows and the as-of date."""

    tables: dict[str, Table]
    windows: dict[str, tuple[str, str]]  # window_name -> (start, end) as written
    as_of: str

    @property
    def programme_start(self) -> date | None:
        start = self.windows.get(FAMILY_INSIGHTS, ("", ""))[0]
        try:
            return date.fromisoformat(start)
        except ValueError:
            return None


def _context(tables: dict[str, Table]) -> Context:
    outcome = tables["outcome_metrics"]
    windows: dict[str, tuple[str, str]] = {}
    as_of = ""
    for r in outcome.rows:
        name = r.get("window_name", "")
        windows.setdefault(name, (r.get("window_start", ""), r.get("window_end", "")))
        as_of = max(as_of, r.get("as_of_date", ""))
    return Context(tables, windows, as_of)


def _outcome_index(ctx: Context) -> dict[tuple[str, str, str], dict[str, str]]:
    return {
        (r.get("window_name", ""), r.get("segment", ""), r.get("metric", "")): r
        for r in ctx.tables["outcome_metrics"].rows
    }


# --------------------------------------------------------------------------- findings


def _rate_words(row: dict[str, str] | None) -> str:
    """A rate in a sentence: 43.7%, or what its symbol means."""
    if row is None:
        return "not published"
    rate = row.get("rate", "").strip()
    if rate == CONFIDENTIAL:
        return "suppressed (c)"
    if rate == NOT_APPLICABLE:
        return "not applicable (z: nothing to count)"
    if rate == LOW:
        return "under 0.01%"
    return percent(rate, 1) if number(rate) is not None else f"not available ({rate or 'x'})"


def _difference(pm: dict[str, str] | None, fi: dict[str, str] | None) -> Decimal | None:
    """Family Insights' rate minus the previous model's, both as released (None unless both are
    numbers)."""
    a = number(pm.get("rate")) if pm else None
    b = number(fi.get("rate")) if fi else None
    return None if a is None or b is None else b - a


def _finding_sentence(metric: str, pm, fi, diff_row, derived: Decimal | None) -> str:
    label = _label(metric)
    head = (
        f"{label}: {_rate_words(fi)} under Family Insights against {_rate_words(pm)} under"
        " the previous model"
    )
    if diff_row is not None and number(diff_row.get("difference")) is not None:
        diff = points(diff_row.get("difference"), 1)
        low, high = diff_row.get("ci_low"), diff_row.get("ci_high")
        if number(low) is not None and number(high) is not None:
            interval = f" (95% interval {points(low, 1)} to {points(high, 1)})"
        else:
            interval = " (no interval in this release)"
        verdict = (diff_row.get("verdict") or "").strip()
        tail = f", a difference of {diff} percentage points{interval}"
        return f"{head}{tail}" + (f": {verdict}." if verdict else ".")
    if derived is not None:
        return (
            f"{head}, a difference of {points(str(derived), 1)} percentage points"
            " (no interval in this release)."
        )
    return f"{head}: no comparison can be published."


def _findings_section(ctx: Context) -> str:
    outcome = ctx.tables["outcome_metrics"]
    parts = ['<section id="findings"><h2>The evaluation\'s findings</h2>']
    if not outcome.has("window_name", "segment", "metric", "rate"):
        parts.append(
            _missing(
                "The findings are not available in this release (release/outcome_metrics.csv"
                " is absent).",
                "findings-missing",
            )
        )
        return "".join(parts) + "</section>"
    index = _outcome_index(ctx)
    diffs = ctx.tables["metric_differences"]
    diff_index = {(r.get("segment", ""), r.get("metric", "")): r for r in diffs.rows}
    pm_window, fi_window = ctx.windows.get(PREVIOUS), ctx.windows.get(FAMILY_INSIGHTS)
    if pm_window and fi_window:
        parts.append(
            f'<p class="lead">Family Insights ({_e(_month(fi_window[0]))} to'
            f" {_e(_month(fi_window[1]))}) against the previous model"
            f" ({_e(_month(pm_window[0]))} to {_e(_month(pm_window[1]))}), every case of the"
            " authority (segment <em>all</em>), from the case system's records as extracted on"
            f" {_e(ctx.as_of)}.</p>"
        )
    if not diffs.present:
        parts.append(
            _missing(
                "Intervals and tests of the differences are not available in this release"
                " (release/metric_differences.csv is absent): the differences below are the"
                " Family Insights rate minus the previous model's, as published.",
                "differences-missing",
            )
        )
    elif not diffs.has("ci_low", "ci_high"):
        parts.append(
            _missing(
                "Intervals of the differences are not available in this release"
                " (release/metric_differences.csv has no ci_low, ci_high).",
                "differences-missing",
            )
        )
    metrics = _metric_order(m for (w, s, m) in index if s == ALL)
    sentences, rows = [], []
    rate_ci = outcome.has("ci_low", "ci_high")
    for metric in metrics:
        pm, fi = index.get((PREVIOUS, ALL, metric)), index.get((FAMILY_INSIGHTS, ALL, metric))
        diff_row = diff_index.get((ALL, metric)) if diffs.present else None
        derived = _difference(pm, fi)
        sentence = _finding_sentence(metric, pm, fi, diff_row, derived)
        sentences.append(f'<li data-metric="{_e(metric)}">{_e(sentence)}</li>')
        rows.append(_finding_row(ctx, metric, pm, fi, diff_row, derived, rate_ci))
    parts.append('<ol class="findings">' + "".join(sentences) + "</ol>")
    head = (
        "<tr><th scope=col>Metric</th><th scope=col>Previous model</th>"
        "<th scope=col>Family Insights</th><th scope=col>Difference (percentage points)</th>"
        "<th scope=col>95% interval of the difference</th><th scope=col>p</th>"
        "<th scope=col>Verdict</th></tr>"
    )
    parts.append(
        '<table id="findings-table" class="findings-table"><caption>The findings as figures: rate'
        " (numerator / denominator), segment all</caption>"
        f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return "".join(parts) + "</section>"


def _rate_block(ctx: Context, row: dict[str, str] | None, rate_ci: bool) -> str:
    outcome = ctx.tables["outcome_metrics"]
    if row is None:
        return '<td class="num na">not published</td>'
    inner = _span(outcome, row, "rate", percent(row.get("rate")))
    inner += (
        '<br><span class="sub">'
        + _span(outcome, row, "numerator", count(row.get("numerator")))
        + " / "
        + _span(outcome, row, "denominator", count(row.get("denominator")))
        + "</span>"
    )
    if rate_ci:
        inner += (
            '<br><span class="sub">95% interval '
            + _span(outcome, row, "ci_low", percent(row.get("ci_low")))
            + " to "
            + _span(outcome, row, "ci_high", percent(row.get("ci_high")))
            + "</span>"
        )
    return f'<td class="num">{inner}</td>'


def _finding_row(ctx, metric, pm, fi, diff_row, derived, rate_ci) -> str:
    diffs = ctx.tables["metric_differences"]
    cells = [
        f'<th scope=row data-metric="{_e(metric)}">{_e(_label(metric))}'
        f'<br><span class="sub code">{_e(metric)}</span></th>',
        _rate_block(ctx, pm, rate_ci),
        _rate_block(ctx, fi, rate_ci),
    ]
    if diff_row is not None:
        cells.append(_cell(diffs, diff_row, "difference", points(diff_row.get("difference"))))
        if "ci_low" in diff_row and "ci_high" in diff_row:
            cells.append(
                '<td class="num">'
                + _span(diffs, diff_row, "ci_low", points(diff_row.get("ci_low")))
                + " to "
                + _span(diffs, diff_row, "ci_high", points(diff_row.get("ci_high")))
                + "</td>"
            )
        else:
            cells.append('<td class="num na">not in this release</td>')
        cells.append(_cell(diffs, diff_row, "p_value", diff_row.get("p_value", "")))
        cells.append(_cell(diffs, diff_row, "verdict", diff_row.get("verdict", ""), classes="txt"))
    else:
        if derived is not None:
            cells.append(
                f'<td class="num derived" data-derived="{PREVIOUS}|{FAMILY_INSIGHTS}|{ALL}|'
                f'{_e(metric)}" data-value="{derived}">{_e(points(str(derived)))}</td>'
            )
        else:
            cells.append('<td class="num na">none</td>')
        cells.append('<td class="num na">not in this release</td>' * 2)
        cells.append('<td class="txt na">not in this release</td>')
    return "<tr>" + "".join(cells) + "</tr>"


# --------------------------------------------------------------------------- units


def _units_section(ctx: Context) -> str:
    outcome = ctx.tables["outcome_metrics"]
    parts = ['<section id="units"><h2>By needs-based unit</h2>']
    if not outcome.has("window_name", "segment", "metric", "rate"):
        parts.append(_missing("The breakdown is not available in this release.", "units-missing"))
        return "".join(parts) + "</section>"
    parts.append(
        '<p class="lead">Each metric for each segment: the needs-based units\' segments (two'
        " units may share one), <em>generic</em> (the previous model's teams),"
        " <em>unassigned</em> (a case whose team is in no unit) and <em>all</em>. Under each"
        " rate, its numerator / denominator. The units started with the programme, so their"
        " segments have nothing to count (z) under the previous model.</p>"
    )
    index = _outcome_index(ctx)
    metrics = _metric_order(m for (_, _, m) in index)
    segments = _segment_order(s for (_, s, _) in index)
    for window in [w for w in (FAMILY_INSIGHTS, PREVIOUS) if w in ctx.windows] + sorted(
        w for w in ctx.windows if w not in (FAMILY_INSIGHTS, PREVIOUS)
    ):
        start, end = ctx.windows[window]
        title = WINDOW_LABELS.get(window, window)
        head = "".join(
            f'<th scope=col title="{_e(_label(m))}">{_e(_short(m))}</th>' for m in metrics
        )
        body = []
        for segment in segments:
            cells = []
            for metric in metrics:
                row = index.get((window, segment, metric))
                if row is None:
                    cells.append('<td class="num na">not published</td>')
                    continue
                cells.append(
                    '<td class="num">'
                    + _span(outcome, row, "rate", percent(row.get("rate")))
                    + '<br><span class="sub">'
                    + _span(outcome, row, "numerator", count(row.get("numerator")))
                    + "&#8239;/&#8239;"
                    + _span(outcome, row, "denominator", count(row.get("denominator")))
                    + "</span></td>"
                )
            cls = ' class="total"' if segment == ALL else ""
            body.append(f"<tr{cls}><th scope=row>{_e(segment)}</th>{''.join(cells)}</tr>")
        parts.append(
            f'<div class="scroll"><table class="units" id="units-{_e(window)}">'
            f"<caption>{_e(title[:1].upper() + title[1:])}: {_e(start)} to {_e(end)}</caption>"
            f"<thead><tr><th scope=col>Segment</th>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>"
        )
    return "".join(parts) + "</section>"


# --------------------------------------------------------------------------- charts


@dataclass
class Point:
    when: date
    text: str  # the value as written (a number or a symbol)
    low: str | None = None
    high: str | None = None


def _nice_top(value: float) -> tuple[float, float]:
    """An axis top at or above ``value`` and its tick step (at most 6 ticks)."""
    if value <= 0:
        return 1.0, 0.25
    magnitude = 10 ** math.floor(math.log10(value))
    for factor in (0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10):
        step = magnitude * factor
        ticks = math.ceil(value / step - 1e-9)
        if ticks <= 6:
            return step * max(ticks, 1), step
    return magnitude * 10, magnitude * 2


def _chart(
    series: list[Point], *, start: date, end: date, programme: date | None, top: float,
    step: float, as_percent: bool, title: str, width: int = 640, height: int = 220,
    ident: str = "",
) -> str:  # fmt: skip
    """A line chart of ``series`` (with its interval as a band when it has one) as inline SVG."""
    left, right, upper, lower = 52, 12, 22, 26
    plot_w, plot_h = width - left - right, height - upper - lower
    span = max((end - start).days, 1)

    def x(d: date) -> float:
        return round(left + plot_w * (d - start).days / span, 1)

    def y(v: float) -> float:
        return round(upper + plot_h * (1 - min(max(v / top, 0), 1.05)), 1)

    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{_e(title)}" id="{_e(ident)}"><title>{_e(title)}</title>'
    ]
    # y grid and labels
    for i in range(round(top / step) + 1):
        tick = i * step
        label = f"{round(tick * 100, 4):g}%" if as_percent else f"{round(tick, 4):g}"
        out.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(tick)}" y2="{y(tick)}"/>'
            f'<text class="ylab" x="{left - 6}" y="{y(tick) + 4}">{_e(label)}</text>'
        )
    # x labels: each January
    for year in range(start.year, end.year + 1):
        jan = date(year, 1, 1)
        if start <= jan <= end:
            out.append(
                f'<line class="xtick" x1="{x(jan)}" x2="{x(jan)}" y1="{upper + plot_h}"'
                f' y2="{upper + plot_h + 4}"/>'
                f'<text class="xlab" x="{x(jan)}" y="{height - 8}">{year}</text>'
            )
    # the interval band, in runs of consecutive points that have one
    runs: list[list[tuple[float, float, float]]] = [[]]
    for p in series:
        lo, hi = _plotted(p.low), _plotted(p.high)
        if lo is None or hi is None or _plotted(p.text) is None:
            runs.append([])
        else:
            runs[-1].append((x(p.when), y(lo), y(hi)))
    for run in runs:
        if len(run) >= 2:
            top_edge = " ".join(f"{a},{hi}" for a, _, hi in run)
            bottom = " ".join(f"{a},{lo}" for a, lo, _ in reversed(run))
            out.append(f'<polygon class="band" points="{top_edge} {bottom}"/>')
    # the line, broken at every month without a number; such months marked along the top, one
    # bar and one letter per run of the same symbol
    lines: list[list[str]] = [[]]
    previous: date | None = None
    runs_of: list[tuple[str, date, date]] = []  # (symbol, first, last)
    for p in series:
        v = _plotted(p.text)
        if v is None:
            lines.append([])
            symbol = p.text.strip() or NOT_AVAILABLE
            if runs_of and runs_of[-1][0] == symbol and runs_of[-1][2] == previous:
                runs_of[-1] = (symbol, runs_of[-1][1], p.when)
            else:
                runs_of.append((symbol, p.when, p.when))
        else:
            lines[-1].append(f"{x(p.when)},{y(v)}")
        previous = p.when
    for line in lines:
        if len(line) >= 2:
            out.append(f'<polyline class="line" points="{" ".join(line)}"/>')
        elif len(line) == 1:
            cx, cy = line[0].split(",")
            out.append(f'<circle class="dot" cx="{cx}" cy="{cy}" r="2"/>')
    half = plot_w * 15 / span  # half a month either side of a month
    last_letter = -100.0
    for symbol, first, last in runs_of:
        x0, x1 = max(x(first) - half, left), min(x(last) + half, left + plot_w)
        out.append(
            f'<rect class="mark-bar mark-{_e(symbol)}" x="{x0:.1f}" y="{upper - 5}"'
            f' width="{max(x1 - x0, 2):.1f}" height="4"><title>{_e(symbol)}:'
            f" {_e(SYMBOLS.get(symbol, symbol))}</title></rect>"
        )
        middle = (x0 + x1) / 2
        if middle - last_letter >= 9:  # letters of adjacent runs would overlap: the bar says it
            out.append(
                f'<text class="mark mark-{_e(symbol)}" x="{middle:.1f}" y="{upper - 8}">'
                f"{_e(symbol)}</text>"
            )
            last_letter = middle
    if programme is not None and start <= programme <= end:
        px = x(programme)
        # the label right of the line, or left of it near the right edge
        anchor, lx = ("end", px - 4) if px > left + plot_w * 0.62 else ("start", px + 4)
        out.append(
            f'<line class="programme" x1="{px}" x2="{px}" y1="{upper}" y2="{upper + plot_h}"/>'
            f'<text class="programme-label" x="{lx}" y="{upper + 12}" text-anchor="{anchor}">'
            "Family Insights starts</text>"
        )
    out.append(
        f'<line class="axis" x1="{left}" x2="{width - right}" y1="{upper + plot_h}"'
        f' y2="{upper + plot_h}"/></svg>'
    )
    return "".join(out)


def _figures(summary: str, table: str) -> str:
    return (
        f'<details class="figures"><summary>Figures of this chart ({_e(summary)})</summary>'
        f'<div class="scroll">{table}</div></details>'
    )


# --------------------------------------------------------------------------- trends


def _trends_section(ctx: Context) -> str:
    trends = ctx.tables["outcome_years"]
    parts = [
        '<section id="trends"><h2>Trends</h2>',
    ]
    if not trends.has("segment", "metric", "window_end", "rate"):
        parts.append(
            _missing(
                "Trends are not available in this release (release/outcome_years.csv is absent).",
                "trends-missing",
            )
        )
        return "".join(parts) + "</section>"
    parts.append(
        '<p class="lead">The main metrics for every case (segment <em>all</em>), each point'
        " a financial year (1 April to 31 March, the CIN census year) plotted at its end; the"
        " shaded band is the rate's 95% interval. The release holds years, not monthly rolling"
        " windows, which could be subtracted from one another to reveal a single month. The"
        " dashed line marks the start of Family Insights.</p>"
    )
    by_metric: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in trends.rows:
        if r.get("segment") == ALL:
            by_metric[r.get("metric", "")].append(r)
    metrics = [m for m in MAIN_METRICS if m in by_metric] or _metric_order(by_metric)
    if not metrics:
        parts.append(_missing("No trend of segment all in this release.", "trends-missing"))
        return "".join(parts) + "</section>"
    has_ci = trends.has("ci_low", "ci_high")
    figures = []
    for metric in metrics:
        rows = []
        for r in by_metric[metric]:
            try:
                rows.append((date.fromisoformat(r.get("window_end", "")), r))
            except ValueError:
                continue
        rows.sort(key=lambda t: t[0])
        if not rows:
            continue
        series = [
            Point(d, r.get("rate", ""), r.get("ci_low") if has_ci else None,
                  r.get("ci_high") if has_ci else None)
            for d, r in rows
        ]  # fmt: skip
        values = [v for p in series for v in (_plotted(p.text), _plotted(p.high)) if v is not None]
        top, step = _nice_top(max(values, default=0.0))
        title = f"{_label(metric)}, financial years, segment all"
        chart = _chart(
            series, start=rows[0][0], end=rows[-1][0], programme=ctx.programme_start, top=top,
            step=step, as_percent=True, title=title, ident=f"chart-{metric}",
        )  # fmt: skip
        figures.append(
            f'<figure class="trend" id="trend-{_e(metric)}"><figcaption>{_e(_label(metric))}'
            f"</figcaption>{chart}"
            f'<p class="alt">{_trend_summary(ctx, rows)}</p>'
            + _figures(
                f"{len(rows)} years",
                _trend_table(trends, rows, has_ci),
            )
            + "</figure>"
        )
    parts.append('<div class="trends">' + "".join(figures) + "</div>")
    return "".join(parts) + "</section>"


def _trend_summary(ctx: Context, rows: list[tuple[date, dict[str, str]]]) -> str:
    trends = ctx.tables["outcome_years"]

    def said(d: date, r: dict[str, str]) -> str:
        text = f"in the year to {_e(d.isoformat())}, " + _span(
            trends, r, "rate", percent(r.get("rate"))
        )
        if number(r.get("ci_low")) is not None and number(r.get("ci_high")) is not None:
            text += (
                " (95% interval "
                + _span(trends, r, "ci_low", percent(r.get("ci_low")))
                + " to "
                + _span(trends, r, "ci_high", percent(r.get("ci_high")))
                + ")"
            )
        return text

    last = rows[-1]
    sentence = "Latest: " + said(*last)
    start = ctx.programme_start
    if start is not None:
        before = [t for t in rows if t[0] < start]
        if before and before[-1] is not last:
            sentence += "; just before Family Insights started: " + said(*before[-1])
    first = rows[0]
    if first is not last:
        sentence += "; first: " + said(*first)
    return sentence + "."


def _trend_table(trends: Table, rows: list[tuple[date, dict[str, str]]], has_ci: bool) -> str:
    head = "<th scope=col>Year to</th><th scope=col>Rate</th>"
    if has_ci:
        head += "<th scope=col>95% interval</th>"
    head += "<th scope=col>Numerator</th><th scope=col>Denominator</th>"
    body = []
    for d, r in rows:
        cells = [f"<th scope=row>{_e(d.isoformat())}</th>"]
        cells.append(_cell(trends, r, "rate", percent(r.get("rate"))))
        if has_ci:
            cells.append(
                '<td class="num">'
                + _span(trends, r, "ci_low", percent(r.get("ci_low")))
                + " to "
                + _span(trends, r, "ci_high", percent(r.get("ci_high")))
                + "</td>"
            )
        cells.append(_cell(trends, r, "numerator", count(r.get("numerator"))))
        cells.append(_cell(trends, r, "denominator", count(r.get("denominator"))))
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="trend-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


# --------------------------------------------------------------------------- caseload


def _caseload_section(ctx: Context) -> str:
    caseload = ctx.tables["caseload_monthly"]
    parts = ['<section id="caseload"><h2>Caseload per full-time worker</h2>']
    if not caseload.has("team_id", "month_end", "children_per_fte"):
        parts.append(
            _missing(
                "Caseloads are not available in this release (release/caseload_monthly.csv is"
                " absent).",
                "caseload-missing",
            )
        )
        return "".join(parts) + "</section>"
    teams: dict[str, list[tuple[date, dict[str, str]]]] = defaultdict(list)
    for r in caseload.rows:
        try:
            teams[r.get("team_id", "")].append((date.fromisoformat(r.get("month_end", "")), r))
        except ValueError:
            continue
    # From the first month any team had a child (or a suppressed count), to the last month.
    busy = [
        d for rows in teams.values() for d, r in rows if r.get("open_children") not in ("0", "")
    ]
    months = sorted({d for rows in teams.values() for d, _ in rows})
    if not months:
        parts.append(_missing("No caseload month in this release.", "caseload-missing"))
        return "".join(parts) + "</section>"
    first, last = (min(busy) if busy else months[0]), months[-1]
    parts.append(
        '<p class="lead">Children with an open involvement on each month end, per full-time'
        " equivalent worker of the team, for each unit (and each of the previous model's teams),"
        f" from {_e(_month(first.isoformat()))} to {_e(_month(last.isoformat()))}. The dashed"
        " line marks the start of Family Insights; c marks a month whose count is suppressed,"
        " z a month with no worker.</p>"
    )
    values = [
        v for rows in teams.values() for d, r in rows if d >= first
        for v in [_plotted(r.get("children_per_fte"))] if v is not None
    ]  # fmt: skip
    top, step = _nice_top(max(values, default=0.0))
    order = sorted(teams, key=lambda t: (teams[t][0][1].get("segment") == "generic", t))
    latest_rows, grid = [], []
    for team in order:
        rows = sorted((t for t in teams[team] if t[0] >= first), key=lambda t: t[0])
        if not rows:
            continue
        name = rows[-1][1].get("unit_name", "") or team
        segment = rows[-1][1].get("segment", "")
        series = [Point(d, r.get("children_per_fte", "")) for d, r in rows]
        title = f"Children per FTE, {name} ({team})"
        chart = _chart(
            series, start=first, end=last, programme=ctx.programme_start, top=top, step=step,
            as_percent=False, title=title, width=420, height=170, ident=f"caseload-{team}",
        )  # fmt: skip
        grid.append(
            f'<figure class="unit" data-team="{_e(team)}"><figcaption>{_e(name)}'
            f' <span class="sub">{_e(team)}, {_e(segment)}</span></figcaption>{chart}</figure>'
        )
        d, r = rows[-1]
        latest_rows.append(
            f"<tr><th scope=row>{_e(name)}</th><td>{_e(team)}</td><td>{_e(segment)}</td>"
            + _cell(caseload, r, "month_end", d.isoformat(), classes="date")
            + _cell(caseload, r, "open_children", count(r.get("open_children")))
            + _cell(caseload, r, "workers", count(r.get("workers")))
            + _cell(caseload, r, "fte", plain(r.get("fte"), 4))
            + _cell(caseload, r, "children_per_fte", plain(r.get("children_per_fte"), 4))
            + "</tr>"
        )
    parts.append('<div class="grid">' + "".join(grid) + "</div>")
    parts.append(
        '<table id="caseload-latest"><caption>The latest month of each team (the text'
        " alternative to the charts; every month is under it)</caption><thead><tr>"
        "<th scope=col>Unit or team</th><th scope=col>Team</th><th scope=col>Segment</th>"
        "<th scope=col>Month end</th><th scope=col>Open children</th><th scope=col>Workers</th>"
        "<th scope=col>FTE</th><th scope=col>Children per FTE</th></tr></thead>"
        f"<tbody>{''.join(latest_rows)}</tbody></table>"
    )
    table = _caseload_table(caseload, teams, order, first)
    parts.append(_figures(f"children per FTE, {len(months)} months", table))
    return "".join(parts) + "</section>"


def _caseload_table(caseload: Table, teams, order: list[str], first: date) -> str:
    by_month: dict[date, dict[str, dict[str, str]]] = defaultdict(dict)
    for team in order:
        for d, r in teams[team]:
            if d >= first:
                by_month[d][team] = r
    head = "".join(f"<th scope=col>{_e(t)}</th>" for t in order)
    body = []
    for d in sorted(by_month):
        cells = []
        for team in order:
            r = by_month[d].get(team)
            if r is None:
                cells.append('<td class="num na">none</td>')
            else:
                shown = plain(r.get("children_per_fte"), 4)
                cells.append(_cell(caseload, r, "children_per_fte", shown))
        body.append(f"<tr><th scope=row>{_e(d.isoformat())}</th>{''.join(cells)}</tr>")
    return (
        '<table class="caseload-table"><thead><tr><th scope=col>Month end</th>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


# --------------------------------------------------------------------------- matched comparison

# outcome -> what it counts over the follow-up (docs/matching.md, "Outcomes"). Order: the doc's.
MATCHED_OUTCOMES: dict[str, str] = {
    "closed": "Cases closed within the follow-up",
    "de_escalated": "Cases that de-escalated within the follow-up",
    "stepped_up": "Cases that stepped up to a CP plan or care within the follow-up",
    "re_referred_after_closure": "Closed cases referred again within 12 months of closing",
    "returned_home": "Children who became looked after and returned home within the follow-up",
}
# Outcomes whose population is itself an outcome: weaker evidence (docs/matching.md).
WEAKER = ("re_referred_after_closure", "returned_home")
MATCHING_CHARACTERISTICS: dict[str, str] = {
    "age_band": "age band",
    "sex": "sex",
    "primary_need": "primary need",
    "referral_source": "referral source",
    "referred_in_previous_12_months": "referred in the previous 12 months",
    "cp_plan_before": "CP plan before the referral",
}
SAMPLE = ("treated_matched", "treated_dropped", "control_matched", "control_dropped")
STD_DIFF_RULE = Decimal("0.1")  # docs/matching.md: an absolute difference above it, an imbalance
MATCHING_LIMITS = (
    "This is an observational comparison, not a trial. Matching balances what was recorded at"
    " referral (age band, sex, primary need, referral source, an earlier referral, a CP plan"
    " before), not what was not: the severity of concerns, family history not on the record, a"
    " change in thresholds or in how referrals were recorded between the windows, and anything"
    " else that changed with time.",
    "The characteristics are coarsened, so differences inside a band remain (a 16-year-old and a"
    " 17-year-old count as alike).",
    "Dropped cases, with no counterpart in the other window, are not compared at all: the matched"
    " figures describe the matched Family Insights cases, not all of them. Read them with the"
    " numbers dropped.",
    "The follow-up is the same length for both windows but not the same calendar time.",
    "The 95% interval is a normal approximation that treats the weights as fixed; it is poor for"
    " rates near 0% or 100% or for few cases (it can pass 0% or 100%).",
    "Re-referral after closure and returning home are compared among cases that were alike at"
    " referral but went different ways since (they closed, or became looked after): weaker"
    " evidence than the other outcomes.",
)


def _std(text: str | None) -> str:
    """A standardised difference as written, with a true minus sign (-0.7070 -> −0.7070)."""
    if number(text) is None:
        return (text or "").strip() or NOT_AVAILABLE
    return text.strip().replace("-", "\u2212")


def _outcome_label(outcome: str) -> str:
    return MATCHED_OUTCOMES.get(outcome, outcome.replace("_", " ").capitalize())


def _window_words(window: str) -> str:
    return WINDOW_LABELS.get(window, window.replace("_", " "))


def _matching_section(ctx: Context) -> str:
    mo = ctx.tables["matched_outcomes"]
    parts = ['<section id="matching"><h2>Matched comparison</h2>']
    needed = ("outcome", "comparison", "treated_rate", "control_rate", "difference")
    if not mo.has(*needed) or not mo.rows:
        parts.append(
            _missing(
                "The matched comparison is not available in this release"
                " (release/matched_outcomes.csv is absent).",
                "matching-missing",
            )
        )
        return "".join(parts) + "</section>"
    first = mo.rows[0]
    treated = _window_words(first.get("treated_window", FAMILY_INSIGHTS))
    control = _window_words(first.get("control_window", PREVIOUS))
    months = first.get("follow_up_months", "")
    parts.append(
        '<p class="lead">Each case of '
        + _e(treated)
        + " is compared with the cases of "
        + _e(control)
        + " alike at referral (coarsened exact matching: same age band, sex, primary need,"
        " referral source, earlier referral and CP plan before), followed for "
        + _e(months or "x")
        + " months from its referral. <em>Matched</em>: the like-for-like cases, each control"
        " weighted so that the controls have the make-up of the treated cases; <em>unmatched</em>:"
        " every followed-up case, the straight comparison of the two windows. Differences are"
        " treated minus control, in percentage points. Method: docs/matching.md.</p>"
    )
    # The sample: the same on every row.
    sample = " ".join(
        [
            f"Cases of {_e(treated)}:",
            _span(mo, first, "treated_matched", count(first.get("treated_matched"))),
            "matched,",
            _span(mo, first, "treated_dropped", count(first.get("treated_dropped"))),
            f"dropped; cases of {_e(control)}:",
            _span(mo, first, "control_matched", count(first.get("control_matched"))),
            "matched,",
            _span(mo, first, "control_dropped", count(first.get("control_dropped"))),
            "dropped (a dropped case had no counterpart alike at referral in the other window).",
        ]
    )
    parts.append(f'<p id="matching-sample">{sample}</p>')
    if first.get("treated_matched", "").strip() == CONFIDENTIAL:
        parts.append(
            '<p class="missing" id="matching-suppressed">A matched or dropped group is a small'
            " number, so the whole comparison is suppressed (c).</p>"
        )
    by_outcome: dict[str, dict[str, dict[str, str]]] = defaultdict(dict)
    for r in mo.rows:
        by_outcome[r.get("outcome", "")][r.get("comparison", "")] = r
    known = list(MATCHED_OUTCOMES)
    outcomes = sorted(by_outcome, key=lambda o: (known.index(o) if o in known else len(known), o))
    body = []
    for outcome in outcomes:
        comparisons = [c for c in ("matched", "unmatched") if c in by_outcome[outcome]]
        comparisons += sorted(c for c in by_outcome[outcome] if c not in comparisons)
        for i, comparison in enumerate(comparisons):
            r = by_outcome[outcome][comparison]
            cells = []
            if i == 0:
                weaker = ' <span class="sub">(weaker evidence)</span>' if outcome in WEAKER else ""
                cells.append(
                    f'<th scope=row rowspan="{len(comparisons)}" data-outcome="{_e(outcome)}">'
                    f"{_e(_outcome_label(outcome))}{weaker}"
                    f'<br><span class="sub code">{_e(outcome)}</span></th>'
                )
            cells.append(f'<td class="txt">{_e(comparison)}</td>')
            for side in ("treated", "control"):
                cells.append(
                    '<td class="num">'
                    + _span(mo, r, f"{side}_rate", percent(r.get(f"{side}_rate")))
                    + '<br><span class="sub">'
                    + _span(mo, r, f"{side}_count", count(r.get(f"{side}_count")))
                    + "&#8239;/&#8239;"
                    + _span(mo, r, f"{side}_cases", count(r.get(f"{side}_cases")))
                    + "</span></td>"
                )
            cells.append(_cell(mo, r, "difference", points(r.get("difference"))))
            if "ci_lower" in r and "ci_upper" in r:
                cells.append(
                    '<td class="num">'
                    + _span(mo, r, "ci_lower", points(r.get("ci_lower")))
                    + " to "
                    + _span(mo, r, "ci_upper", points(r.get("ci_upper")))
                    + "</td>"
                )
            else:
                cells.append('<td class="num na">not in this release</td>')
            cls = ' class="matched-row"' if comparison == "matched" else ""
            body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    head = (
        "<tr><th scope=col>Outcome</th><th scope=col>Comparison</th>"
        f"<th scope=col>{_e(treated[:1].upper() + treated[1:])} (treated)<br>"
        '<span class="sub">rate, with the outcome / cases</span></th>'
        f"<th scope=col>{_e(control[:1].upper() + control[1:])} (control)<br>"
        '<span class="sub">rate (weighted when matched), with the outcome / cases</span></th>'
        "<th scope=col>Difference (percentage points)</th>"
        "<th scope=col>95% interval of the difference</th></tr>"
    )
    parts.append(
        '<div class="scroll"><table id="matching-table" class="matched"><caption>Each outcome,'
        " matched beside unmatched</caption>"
        f"<thead>{head}</thead><tbody>{''.join(body)}</tbody></table></div>"
    )
    parts.append(_balance(ctx))
    return "".join(parts) + _limits() + "</section>"


def _limits() -> str:
    items = "".join(f"<li>{_e(text)}</li>" for text in MATCHING_LIMITS)
    return (
        '<div id="matching-limits"><h3>What the matched comparison cannot tell</h3>'
        f'<ul class="limits">{items}</ul></div>'
    )


def _largest(mb: Table, column: str) -> dict[str, str] | None:
    """The balance row with the largest absolute ``column`` among those published as numbers."""
    rows = [(abs(v), r) for r in mb.rows for v in [number(r.get(column))] if v is not None]
    if not rows:
        return None
    return max(rows, key=lambda t: t[0])[1]


def _balance(ctx: Context) -> str:
    mb = ctx.tables["matched_balance"]
    needed = ("characteristic", "category", "std_diff_before", "std_diff_after")
    if not mb.has(*needed) or not mb.rows:
        return _missing(
            "The balance of the characteristics is not available in this release"
            " (release/matched_balance.csv is absent).",
            "matching-balance-missing",
        )
    words = []
    for column, when in (("std_diff_before", "before"), ("std_diff_after", "after")):
        r = _largest(mb, column)
        if r is None:
            words.append(f"{when} matching, none is published (every row is c or z)")
            continue
        name = MATCHING_CHARACTERISTICS.get(r.get("characteristic", ""), r.get("characteristic"))
        category = r.get("category", "")
        what = _e(name) + ("" if category == "true" else f" = {_e(category)}")
        shown = _span(mb, r, column, _std(r.get(column)))
        words.append(f"{when} matching, {shown} ({what})")
    over = [
        r for r in mb.rows
        for v in [number(r.get("std_diff_after"))] if v is not None and abs(v) > STD_DIFF_RULE
    ]  # fmt: skip
    hidden = sum(1 for r in mb.rows if r.get("std_diff_after", "").strip() == CONFIDENTIAL)
    text = (
        "Balance: the largest standardised difference between the groups, "
        + "; ".join(words)
        + f". After matching, {len(over)} of {len(mb.rows)} categories"
        + (" is" if len(over) == 1 else " are")
        + " above 0.1 in absolute value (a common rule of thumb for an imbalance)"
        + (f"; {hidden} {'is' if hidden == 1 else 'are'} suppressed (c)" if hidden else "")
        + ". A characteristic used in matching has 0 after matching by construction."
    )
    head = (
        "<tr><th scope=col>Characteristic</th><th scope=col>Category</th>"
        "<th scope=col>Used in matching</th><th scope=col>Treated before</th>"
        "<th scope=col>Control before</th><th scope=col>Std. difference before</th>"
        "<th scope=col>Treated after</th><th scope=col>Control after (weighted)</th>"
        "<th scope=col>Std. difference after</th></tr>"
    )
    body = []
    for r in mb.rows:
        cells = [
            f"<th scope=row>{_e(r.get('characteristic', ''))}</th>",
            f"<td>{_e(r.get('category', ''))}</td><td>{_e(r.get('used_in_matching', ''))}</td>",
        ]
        for when in ("before", "after"):
            for side in ("treated", "control"):
                column = f"{side}_mean_{when}"
                cells.append(_cell(mb, r, column, percent(r.get(column))))
            cells.append(_cell(mb, r, f"std_diff_{when}", _std(r.get(f"std_diff_{when}"))))
        body.append("<tr>" + "".join(cells) + "</tr>")
    table = (
        '<table id="matching-balance-table" class="balance"><thead>'
        f"{head}</thead><tbody>{''.join(body)}</tbody></table>"
    )
    return (
        f'<p id="matching-balance">{text}</p>'
        '<details class="figures"><summary>Balance of every characteristic'
        f" ({len(mb.rows)} categories; shares of the cases)</summary>"
        f'<div class="scroll">{table}</div></details>'
    )


# --------------------------------------------------------------------------- data quality


def _quality_section(ctx: Context) -> str:
    dq = ctx.tables["data_quality"]
    parts = ['<section id="data-quality"><h2>Data quality</h2>']
    if not dq.has("as_of_date", "checks", "failed_errors", "failed_warnings") or not dq.rows:
        parts.append(
            _missing(
                "A data-quality summary is not available in this release"
                " (release/data_quality.csv is absent).",
                "data-quality-missing",
            )
        )
        return "".join(parts) + "</section>"
    r = max(dq.rows, key=lambda row: row.get("as_of_date", ""))
    checks = number(r.get("checks"))
    errors, warnings = number(r.get("failed_errors")), number(r.get("failed_warnings"))

    def n(column: str, word: str) -> str:
        value = number(r.get(column))
        plural = "" if value == 1 else "s"
        return _span(dq, r, column, count(r.get(column))) + f" {word}{plural}"

    text = (
        "Tonight's data quality, of the snapshot behind this release (extract of "
        + _span(dq, r, "as_of_date", r.get("as_of_date", ""))
        + "): "
    )
    if checks == 0:
        text += "no data-quality check was recorded for it."
    elif errors == 0 and warnings == 0:
        text += n("checks", "check") + " ran and all passed."
    else:
        text += (
            n("checks", "check")
            + " ran; "
            + n("failed_errors", "blocking check")
            + " failed and "
            + n("failed_warnings", "warning")
            + " did (a warning does not stop a publication)."
        )
    parts.append(f'<p id="data-quality-line">{text}</p>')
    return "".join(parts) + "</section>"


# --------------------------------------------------------------------------- page


_CSS = """
:root{color-scheme:light}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
margin:0 auto;padding:1rem 1.5rem 3rem;max-width:1200px;color:#1b1f23;line-height:1.45}
header.top{border-bottom:3px solid #2f6690;margin-bottom:1rem;padding-bottom:.5rem}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.25rem;margin:2rem 0 .5rem;
border-bottom:1px solid #d5d9dd;padding-bottom:.2rem}
nav ul{list-style:none;padding:0;margin:.4rem 0;display:flex;flex-wrap:wrap;gap:.3rem 1.2rem}
a{color:#1d4e75}.lead{margin:.3rem 0 .6rem;max-width:70rem}
.missing{background:#fff4d6;border-left:6px solid #b7791f;padding:.5rem .8rem;max-width:70rem}
ol.findings{padding-left:2.2rem;max-width:70rem}ol.findings li{margin:.35rem 0}
table{border-collapse:collapse;font-size:.85rem;margin:.6rem 0}
caption{text-align:left;font-weight:600;padding:.2rem 0}
th,td{border:1px solid #d5d9dd;padding:.25rem .45rem;text-align:left;vertical-align:top}
thead th{background:#f3f5f7;vertical-align:bottom}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.total th,tr.total td{background:#f3f7fb;font-weight:600}
.sub{color:#555;font-size:.78rem;font-weight:normal}.code{font-family:monospace}
.sym{color:#7a4d00;font-weight:600}td .fig.sym{color:#7a4d00;font-weight:600}
.na{color:#666;font-style:italic}td.date{white-space:nowrap}
table.units th[scope=col]{min-width:4.5rem}
.scroll{overflow-x:auto}
figure{margin:.8rem 0 1.2rem}figcaption{font-weight:600}
figure.trend svg.chart{width:100%;height:auto;display:block}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:.4rem 1rem}
figure.unit{margin:.3rem 0}figure.unit svg.chart{width:100%;height:auto;display:block}
svg.chart{font-size:11px;background:#fff}
svg .grid{stroke:#e3e6e9;stroke-width:1}svg .axis{stroke:#5b6770;stroke-width:1}
svg .xtick{stroke:#5b6770}
svg .ylab{text-anchor:end;fill:#444}svg .xlab{text-anchor:middle;fill:#444}
svg .line{fill:none;stroke:#2f6690;stroke-width:1.8}svg .dot{fill:#2f6690}
svg .band{fill:#2f6690;fill-opacity:.16;stroke:none}
svg .programme{stroke:#b03a2e;stroke-width:1.4;stroke-dasharray:5 3}
svg .programme-label{fill:#b03a2e;font-size:10.5px}
svg .mark{fill:#7a4d00;font-size:10px;text-anchor:middle;font-weight:600}
svg .mark-bar{fill:#d9a441}svg .mark-bar.mark-z,svg .mark-bar.mark-x{fill:#b9c0c6}
svg .mark.mark-z,svg .mark.mark-x{fill:#5b6770}
.trends{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:.4rem 1.5rem}
table.findings-table td.txt{min-width:10rem;font-size:.9rem}
table.matched tr.matched-row td{background:#f3f7fb}h3{font-size:1.05rem;margin:1.2rem 0 .3rem}
ul.limits{max-width:70rem;padding-left:1.4rem}ul.limits li{margin:.25rem 0}
p.alt{font-size:.9rem;color:#333;max-width:70rem;margin:.3rem 0}
details.figures summary{cursor:pointer;margin:.3rem 0;color:#1d4e75}
.legend{font-size:.85rem;color:#444}
footer{margin-top:2.5rem;border-top:1px solid #d5d9dd;padding-top:.5rem;font-size:.85rem;
color:#444}
dl.symbols{display:grid;grid-template-columns:auto 1fr;gap:.1rem .8rem;margin:.3rem 0}
dl.symbols dt{font-weight:600;color:#7a4d00}dl.symbols dd{margin:0}
@media print{
@page{size:A4 landscape;margin:12mm}
body{max-width:none;padding:0;font-size:9.5pt}
nav{display:none}
h2{break-after:avoid;page-break-after:avoid}
figure,tr,.missing,#data-quality-line,ol.findings li,#matching-sample,#matching-balance,
#matching-limits{break-inside:avoid;page-break-inside:avoid}
section{break-before:page}section#findings{break-before:auto}
.scroll{overflow:visible}
table{font-size:8pt}table.units,table.balance{font-size:7.5pt}
details.figures summary{display:none}
details.figures::details-content{content-visibility:visible;display:block}
.grid{grid-template-columns:repeat(3,1fr)}.trends{grid-template-columns:repeat(2,1fr)}
a{color:inherit;text-decoration:none}
}
"""


def render(release_dir: Path) -> str:
    """The whole report as HTML text, from the CSV files in ``release_dir``."""
    tables = read_release(Path(release_dir))
    ctx = _context(tables)
    present = [t.file for t in tables.values() if t.present]
    absent = [t.file for t in tables.values() if not t.present]
    as_of = f"extract of {ctx.as_of}" if ctx.as_of else "extract date not in this release"
    sections = [
        ("findings", "Findings", _findings_section(ctx)),
        ("units", "By needs-based unit", _units_section(ctx)),
        ("trends", "Trends", _trends_section(ctx)),
        ("caseload", "Caseload per FTE", _caseload_section(ctx)),
        ("matching", "Matched comparison", _matching_section(ctx)),
        ("data-quality", "Data quality", _quality_section(ctx)),
    ]
    nav = "".join(f'<li><a href="#{i}">{_e(t)}</a></li>' for i, t, _ in sections)
    symbols = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in SYMBOLS.items())
    footer = (
        '<footer id="about"><h2>About these figures</h2>'
        "<p>Built only from the open-data files of this release (the folder this page is in):"
        f" {_e(', '.join(present) or 'none')}."
        + (f" Not in this release: {_e(', '.join(absent))}." if absent else "")
        + " Every figure is as those files give it, or a difference of two of them; small numbers"
        " are suppressed there, before this page is built, so the page is as safe to share as the"
        " files. Rates are percentages of the files' proportions (4 decimal places: 0.4372 is"
        " 43.72%); differences are in percentage points.</p>"
        f'<dl class="symbols">{symbols}</dl>'
        "<p>Metric definitions: docs/metrics.md of the fiw repository; the matched comparison:"
        " docs/matching.md.</p></footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'  # no request, not even for a favicon
        "<title>Family Insights evaluation report</title>"
        f"<style>{_CSS}</style></head><body>"
        '<header class="top" id="top"><h1>Family Insights: evaluation report</h1>'
        f'<p class="sub" id="as-of">Figures of the open-data release, {_e(as_of)}.</p>'
        f'<nav aria-label="Sections"><ul>{nav}</ul></nav></header>'
        + "".join(body for _, _, body in sections)
        + footer
        + "</body></html>\n"
    )


def build_report(release_dir: Path) -> Path:
    """Write ``release_dir/report.html`` from the release's CSV files and return its path.

    Written to a temporary file in the folder and renamed over the old report, so a reader never
    sees half a page; the file is 0644, like every release file (docs/audiences.md)."""
    release_dir = Path(release_dir)
    if not release_dir.is_dir():
        raise ReportError(f"no release folder at {release_dir}")
    page = render(release_dir)
    target = release_dir / REPORT_NAME
    fd, tmp = tempfile.mkstemp(dir=release_dir, prefix=".report-", suffix=".html.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(page)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
