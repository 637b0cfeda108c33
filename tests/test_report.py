"""The evaluation report (``release/report.html``, :mod:`fiw.publish.report`), as a reader sees it.

Built from hand-made release folders (tests/fixtures/release_files.py): today's release (outcome
metrics without intervals, caseloads) and the release with everything the report can use
(intervals, trends, differences, the data-quality line, the matched comparison). Checked: every
figure on the page is the CSV's cell (read back off the page, by HTML parsing and in headless
Chromium), a suppressed cell shows ``c`` and never 0 or a blank, what the release lacks is said on
the page, text is escaped, nothing is fetched; ``fiw report`` rebuilds the page and says when
nothing is published; a publication writes the page and ``data_quality.csv`` into the release
before it is swapped in.
"""

from __future__ import annotations

import csv
import os
import re
import stat
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from fiw.cli import main
from fiw.publish import report as rp
from fiw.publish.release import META_HEADER, released_columns, write_data_quality

from tests.fixtures.browser import keep_screenshot, open_offline
from tests.fixtures.release_files import LOW_CELL, SUPPRESSED_METRIC, write_release

SECTIONS = ("findings", "units", "trends", "caseload", "matching", "data-quality")
PERCENT_COLUMNS = {"rate", "ci_low", "ci_high", "treated_rate", "control_rate",
                   "treated_mean_before", "control_mean_before", "treated_mean_after",
                   "control_mean_after"}  # fmt: skip
# metric_differences' ci_low, ci_high are points too
POINT_COLUMNS = {"difference", "ci_lower", "ci_upper"}
COUNT_COLUMNS = {"numerator", "denominator", "open_children", "workers", "checks",
                 "failed_errors", "failed_warnings", "treated_cases", "treated_count",
                 "control_cases", "control_count", "treated_matched", "treated_dropped",
                 "control_matched", "control_dropped"}  # fmt: skip
SAMPLE = {"treated_matched", "treated_dropped", "control_matched", "control_dropped"}
STD_COLUMNS = {"std_diff_before", "std_diff_after"}  # as written, with a true minus sign
MATCHED_FILES = ("matched_outcomes", "matched_balance")


@pytest.fixture(params=["today", "future"])
def release(request, tmp_path: Path) -> Path:
    return write_release(tmp_path / "release", future=request.param == "future")


@pytest.fixture
def today(tmp_path: Path) -> Path:
    return write_release(tmp_path / "today", future=False)


@pytest.fixture
def future(tmp_path: Path) -> Path:
    return write_release(tmp_path / "future", future=True)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def csv_index(folder: Path) -> dict[tuple[str, str], dict[str, str]]:
    """(file, key as the page writes it) -> row, for every release file the report reads."""
    index = {}
    for name, key in rp.KEYS.items():
        path = folder / f"{name}.csv"
        if path.exists():
            for row in csv_rows(path):
                k = (name, "|".join(row[c] for c in key))
                assert k not in index
                index[k] = row
    return index


def expected_text(src: str, column: str, value: str) -> str:
    """How the page must show ``value`` of ``src``'s ``column``: written independently of the
    module, from the conventions the page states (a proportion as a percentage with 2 places,
    a difference in signed percentage points, counts with thousands separators)."""
    if value in ("c", "z", "x", "low"):
        return value
    if column in POINT_COLUMNS or (src == "metric_differences" and column in PERCENT_COLUMNS):
        shown = f"{Decimal(value) * 100:+.2f}"
        return shown.replace("-", "\u2212")
    if column in PERCENT_COLUMNS:
        return f"{Decimal(value) * 100:.2f}%"
    if column in COUNT_COLUMNS:
        return f"{int(value):,}"
    if column in ("fte", "children_per_fte"):
        return f"{Decimal(value):,.4f}"
    if column in STD_COLUMNS:
        return value.replace("-", "\u2212")
    return value


class Figures(HTMLParser):
    """Every element with ``data-src`` (a figure from a CSV file): its attributes and text."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str]] = []
        self._open: list[dict[str, str] | None] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("br", "meta", "link", "line", "polyline", "polygon", "circle", "rect"):
            return
        a = dict(attrs)
        self._open.append({**a, "text": ""} if "data-src" in a or "data-derived" in a else None)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in ("br", "meta", "link", "line", "polyline", "polygon", "circle", "rect"):
            return
        item = self._open.pop()
        if item is not None:
            self.found.append(item)

    def handle_data(self, data):
        for item in self._open:
            if item is not None:
                item["text"] += data


def figures(html_text: str) -> list[dict[str, str]]:
    parser = Figures()
    parser.feed(html_text)
    return parser.found


def check_figures(found: list[dict[str, str]], folder: Path) -> int:
    """Every figure read off the page equals its CSV cell, shown as the page says; returns how
    many were checked."""
    index = csv_index(folder)
    outcome = {
        (r["window_name"], r["segment"], r["metric"]): r
        for r in csv_rows(folder / "outcome_metrics.csv")
    }
    checked = 0
    for f in found:
        text = " ".join(f["text"].split())
        if "data-derived" in f:  # a difference of two published rates (no differences file)
            pm_name, fi_name, segment, metric = f["data-derived"].split("|")
            pm = Decimal(outcome[(pm_name, segment, metric)]["rate"])
            fi = Decimal(outcome[(fi_name, segment, metric)]["rate"])
            assert Decimal(f["data-value"]) == fi - pm, f
            assert text == expected_text("metric_differences", "difference", str(fi - pm)), f
            checked += 1
            continue
        row = index[(f["data-src"], f["data-key"])]
        assert f["data-value"] == row[f["data-col"]], f
        assert text == expected_text(f["data-src"], f["data-col"], row[f["data-col"]]), f
        checked += 1
    return checked


# --------------------------------------------------------------------------- the page's figures


def test_every_figure_on_the_page_is_its_csv_cell(release: Path) -> None:
    page = rp.build_report(release).read_text(encoding="utf-8")
    found = figures(page)
    assert check_figures(found, release) > 500
    # every outcome cell of both windows is on the page (the breakdown holds them all)
    outcome = [f for f in found if f.get("data-src") == "outcome_metrics"]
    shown = {(f["data-key"], f["data-col"]) for f in outcome}
    for row in csv_rows(release / "outcome_metrics.csv"):
        key = f"{row['window_name']}|{row['segment']}|{row['metric']}"
        assert {(key, "rate"), (key, "numerator"), (key, "denominator")} <= shown
    # and every cell of the matched comparison, when the release has it
    for name in MATCHED_FILES:
        if not (release / f"{name}.csv").exists():
            continue
        on_page = {(f["data-key"], f["data-col"]) for f in found if f.get("data-src") == name}
        figures_of = [c for c in released_columns(name) if c not in FILTERS[name]]
        for row in csv_rows(release / f"{name}.csv"):
            key = "|".join(row[k] for k in rp.KEYS[name])
            for column in figures_of:
                if column in SAMPLE:  # the same on every row: shown once
                    assert any(col == column for _, col in on_page), column
                else:
                    assert (key, column) in on_page, (name, key, column)


FILTERS = {
    "matched_outcomes": {"as_of_date", "treated_window", "control_window", "follow_up_months",
                         "outcome", "comparison"},
    "matched_balance": {"as_of_date", "treated_window", "control_window", "characteristic",
                        "category", "used_in_matching"},
}  # fmt: skip


def test_the_fixture_release_has_the_released_headers(future: Path) -> None:
    for name in MATCHED_FILES:
        with open(future / f"{name}.csv", encoding="utf-8", newline="") as f:
            assert next(csv.reader(f)) == released_columns(name)


def test_a_suppressed_cell_shows_c_never_0_or_a_blank(future: Path) -> None:
    page = rp.build_report(future).read_text(encoding="utf-8")
    found = figures(page)
    suppressed = [f for f in found if f.get("data-value") == "c"]
    assert len(suppressed) > 30
    assert all(f["text"] == "c" and "sym-c" in f["class"] for f in suppressed)
    # The sentence of a suppressed finding says so, and publishes no comparison.
    sentence = re.search(rf'<li data-metric="{SUPPRESSED_METRIC}">([^<]*)</li>', page).group(1)
    assert "suppressed (c) under Family Insights" in sentence
    assert "no comparison can be published" in sentence
    assert "0.0%" not in sentence
    # low is shown as low, not 0
    low_key = "|".join(LOW_CELL)
    low = [f for f in found if f.get("data-key") == low_key and f.get("data-col") == "rate"]
    assert low and all(f["text"] == "low" for f in low)
    # The trend chart breaks its line at the two suppressed months and marks them c, once.
    chart = re.search(r'<svg[^>]*id="chart-returned_home_rate".*?</svg>', page, re.S).group(0)
    assert chart.count('class="mark-bar mark-c"') == 1
    assert chart.count('class="mark mark-c"') == 1
    assert chart.count('class="line"') == 2
    # The matched comparison: a suppressed outcome is c in both comparisons, an outcome with no
    # case is z (not 0%), and the balance row suppressed with the next smallest is c throughout.
    for comparison in ("matched", "unmatched"):
        for outcome, symbol in (("re_referred_after_closure", "c"), ("returned_home", "z")):
            key = f"{outcome}|{comparison}"
            cells = [f for f in found if f.get("data-src") == "matched_outcomes"
                     and f["data-key"] == key and f["data-col"] not in SAMPLE]  # fmt: skip
            rates = [f for f in cells if f["data-col"].endswith(("_rate", "difference"))]
            assert len(rates) == 3 and {f["text"] for f in rates} == {symbol}, key
            assert all(f"sym-{symbol}" in f["class"] for f in rates), key
    balance = [f for f in found if f.get("data-src") == "matched_balance"
               and f["data-key"] == "age_band|16+"]  # fmt: skip
    assert len(balance) == 6 and {f["text"] for f in balance} == {"c"}


def test_todays_release_says_what_it_lacks_and_shows_the_rest(today: Path) -> None:
    page = rp.build_report(today).read_text(encoding="utf-8")
    for ident, words in (
        ("trends-missing", "Trends are not available in this release"),
        ("differences-missing", "release/metric_differences.csv is absent"),
        ("data-quality-missing", "A data-quality summary is not available in this release"),
        ("matching-missing", "The matched comparison is not available in this release"),
    ):
        assert re.search(rf'id="{ident}">[^<]*{re.escape(words)}', page), ident
    assert 'id="findings-table"' in page and 'id="caseload-latest"' in page
    assert "(no interval in this release)" in page
    # the differences are computed from the two published rates, and say so
    derived = [f for f in figures(page) if "data-derived" in f]
    assert len(derived) == 10  # 11 metrics, one with a suppressed rate


def test_the_future_release_shows_everything(future: Path) -> None:
    page = rp.build_report(future).read_text(encoding="utf-8")
    assert 'class="missing"' not in page
    for metric in rp.MAIN_METRICS:
        assert f'id="trend-{metric}"' in page
    line = re.search(r'<p id="data-quality-line">(.*?)</p>', page).group(1)
    text = re.sub(r"<[^>]+>", "", line)
    assert text == (
        "Tonight's data quality, of the snapshot behind this release (extract of 2017-11-30): 142"
        " checks ran; 0 blocking checks failed and 1 warning did (a warning does not stop a"
        " publication)."
    )
    sentence = re.search(r'<li data-metric="closure_rate">([^<]*)</li>', page).group(1)
    assert sentence == (
        "Cases closed: 22.0% under Family Insights against 41.0% under the previous model, a"
        " difference of \u221219.0 percentage points (95% interval \u221222.0 to \u221216.0): lower"
        " under Family Insights; unlikely to be noise (p = 0.003)."
    )
    # The matched comparison: the sample, the balance in one line, the limits in plain words.
    text = {
        ident: " ".join(re.sub(r"<[^>]+>", "", m).split())
        for ident, m in re.findall(r'<p id="(matching-[a-z]+)">(.*?)</p>', page)
    }
    assert text["matching-sample"] == (
        "Cases of Family Insights: 1,210 matched, 64 dropped; cases of the previous model: 1,893"
        " matched, 377 dropped (a dropped case had no counterpart alike at referral in the other"
        " window)."
    )
    assert text["matching-balance"].startswith(
        "Balance: the largest standardised difference between the groups, before matching,"
        " \u22120.3030 (referred in the previous 12 months); after matching, 0.1341 (sex = U)."
        " After matching, 1 of 13 categories is above 0.1"
    )
    assert "2 are suppressed (c)" in text["matching-balance"]
    limits = re.search(r'<div id="matching-limits">(.*?)</div>', page, re.S).group(1)
    assert "observational comparison" in limits
    assert "not what was not" in limits
    assert "Dropped cases" in limits and "weaker" in limits
    row = re.search(r'<tr class="matched-row"><th[^>]*data-outcome="closed".*?</tr>', page)
    cells = [(f["data-col"], f["text"]) for f in figures(row.group(0))]
    assert cells == [
        ("treated_rate", "42.98%"), ("treated_count", "520"), ("treated_cases", "1,210"),
        ("control_rate", "32.15%"), ("control_count", "609"), ("control_cases", "1,893"),
        ("difference", "+10.83"), ("ci_lower", "+7.35"), ("ci_upper", "+14.31"),
    ]  # fmt: skip


def test_an_empty_or_partial_release_still_gives_a_page(tmp_path: Path) -> None:
    folder = tmp_path / "release"
    folder.mkdir()
    page = rp.build_report(folder).read_text(encoding="utf-8")
    for ident in ("findings", "units", "trends", "caseload", "matching", "data-quality"):
        assert f'id="{ident}-missing"' in page
    # a file with an older header (no ci columns, no verdict) is used for what it has
    (folder / "metric_differences.csv").write_text(
        "as_of_date,segment,metric,previous_rate,family_insights_rate,difference\n"
        "2017-11-30,all,closure_rate,0.4100,0.2200,-0.1900\n"
    )
    write_release(tmp_path / "other")
    other = (tmp_path / "other" / "outcome_metrics.csv").read_bytes()
    (folder / "outcome_metrics.csv").write_bytes(other)
    page = rp.build_report(folder).read_text(encoding="utf-8")
    assert "release/metric_differences.csv has no ci_low, ci_high" in page
    assert "a difference of \u221219.0 percentage points (no interval in this release)." in page
    with pytest.raises(rp.ReportError):
        rp.build_report(tmp_path / "nowhere")
    # the matched outcomes without their balance: shown, and the balance said to be missing
    write_release(tmp_path / "full", future=True)
    matched = (tmp_path / "full" / "matched_outcomes.csv").read_bytes()
    (folder / "matched_outcomes.csv").write_bytes(matched)
    page = rp.build_report(folder).read_text(encoding="utf-8")
    assert 'id="matching-table"' in page and 'id="matching-missing"' not in page
    assert re.search(r'id="matching-balance-missing">[^<]*matched_balance.csv is absent', page)


def test_a_suppressed_matched_sample_shows_c_and_says_why(future: Path) -> None:
    """A small matched or dropped group suppresses every row and withholds the four counts
    (docs/matching.md, "Disclosure control"): the page shows c for them, never 0."""
    path = future / "matched_outcomes.csv"
    rows = csv_rows(path)
    for row in rows:
        for column in list(row)[6:]:
            row[column] = "c"
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    page = rp.build_report(future).read_text(encoding="utf-8")
    found = [f for f in figures(page) if f.get("data-src") == "matched_outcomes"]
    assert found and {f["text"] for f in found} == {"c"}
    assert check_figures(found, future) == len(found)
    assert re.search(r'id="matching-suppressed">[^<]*suppressed \(c\)', page)


def test_text_from_the_files_is_escaped_and_nothing_is_fetched(future: Path) -> None:
    rows = csv_rows(future / "metric_differences.csv")
    rows[0]["verdict"] = '<script>alert("x")</script> & <img src="http://203.0.113.9/x.png">'
    with open(future / "metric_differences.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    page = rp.build_report(future).read_text(encoding="utf-8")
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img" in page
    assert "Unit 6 - Disability &amp; &lt;special&gt; &quot;needs&quot;" in page
    # Self-contained: no URL, no import, no external resource of any kind (the escaped verdict
    # aside, which is text).
    rest = page.replace("&lt;img src=&quot;http://203.0.113.9/x.png&quot;&gt;", "")
    for pattern in (r"https?://", r"(?<![\w-])src=", r"@import", r"url\(", r"<link rel=.style"):
        assert not re.search(pattern, rest), pattern


def test_the_page_is_written_whole_for_everyone_to_read(future: Path) -> None:
    old_umask = os.umask(0o077)
    try:
        path = rp.build_report(future)
    finally:
        os.umask(old_umask)
    assert path == future / "report.html"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in future.iterdir() if p.name.startswith(".report-")] == []
    assert rp.build_report(future).read_bytes() == path.read_bytes()  # same files, same bytes


def test_the_report_reads_only_the_release_files() -> None:
    source = Path(rp.__file__).read_text()
    assert "import duckdb" not in source and "fiw.warehouse" not in source


# --------------------------------------------------------------------------- data_quality.csv


def test_data_quality_csv_counts_the_snapshots_latest_validation_run(tmp_path: Path) -> None:
    with duckdb.connect() as con:
        con.execute("create schema audit")
        con.execute(
            "create table audit.dq_results (run_id varchar, checked_at timestamp,"
            " snapshot_id varchar, snapshot_date date, suite varchar, table_name varchar,"
            " expectation varchar, column_name varchar, severity varchar, success boolean,"
            " unexpected_count bigint, details varchar)"
        )
        rows = [
            ("r1", "2017-11-30 01:00", "S", "error", False),  # an earlier run: not counted
            ("r2", "2017-11-30 02:00", "S", "error", True),
            ("r2", "2017-11-30 02:00", "S", "error", True),
            ("r2", "2017-11-30 02:01", "S", "warning", False),
            ("r2", "2017-11-30 02:01", "S", "error", None),  # no result: failed
            ("r3", "2017-11-30 03:00", "OTHER", "error", False),  # another snapshot
        ]
        for run, at, sid, severity, success in rows:
            con.execute(
                "insert into audit.dq_results values (?, ?, ?, '2017-11-30', 'marts', 't', 'e',"
                " null, ?, ?, 0, null)",
                [run, at, sid, severity, success],
            )
        written = write_data_quality(con, tmp_path, "S", date(2017, 11, 30))
        assert [p.name for p in written] == ["data_quality.csv", "data_quality.meta.csv"]
        assert (tmp_path / "data_quality.csv").read_text() == (
            "as_of_date,checks,failed_errors,failed_warnings\n2017-11-30,4,1,1\n"
        )
        meta = csv_rows(tmp_path / "data_quality.meta.csv")
        assert list(meta[0]) == list(META_HEADER)
        assert [m["col_name"] for m in meta] == [
            "as_of_date", "checks", "failed_errors", "failed_warnings",
        ]  # fmt: skip
    with duckdb.connect() as con:  # a warehouse without results: 0 checks, said on the page
        folder = tmp_path / "empty"
        folder.mkdir()
        write_data_quality(con, folder, "S", date(2017, 11, 30))
        assert (folder / "data_quality.csv").read_text().splitlines()[1] == "2017-11-30,0,0,0"
        page = rp.build_report(folder).read_text(encoding="utf-8")
        assert "no data-quality check was recorded for it." in page


# --------------------------------------------------------------------------- fiw report


def test_fiw_report_rebuilds_the_page_or_says_nothing_is_published(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    home.mkdir()
    assert main(["report", "--home", str(home)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert f"fiw report: nothing is published in {home}: there is no release/" in out
    assert "Run `fiw run` first" in out
    assert "Traceback" not in out
    write_release(home / ".release-run-1", future=True)
    os.symlink(".release-run-1", home / "release")
    assert main(["report", "--home", str(home)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"Evaluation report: {home / 'release' / 'report.html'}" in out
    path = home / ".release-run-1" / "report.html"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert (home / "release").is_symlink()  # the link is kept, the page is written in its folder
    assert 'id="findings-table"' in path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- in a browser


@pytest.mark.parametrize("kind", ["today", "future"])
def test_the_page_in_an_offline_browser(kind: str, tmp_path: Path) -> None:
    """Headless Chromium, no network: screenshots of the top and of each section, no console
    error, no request leaving the file system, the numbers read off the page equal to the CSV
    files', and a print that shows every chart's figures."""
    folder = write_release(tmp_path / "release", future=kind == "future")
    page_file = rp.build_report(folder)
    with open_offline(page_file, tmp_path / f"report-{kind}-full.png") as (page, visit):
        page.set_viewport_size({"width": 1280, "height": 900})
        keep_screenshot(page, tmp_path / f"report-{kind}-top.png")
        for section in SECTIONS:
            target = page.locator(f"section#{section}")
            assert target.is_visible()
            keep_screenshot(target, tmp_path / f"report-{kind}-{section}.png")
        assert page.locator("h1").inner_text() == "Family Insights: evaluation report"
        found = page.eval_on_selector_all(
            "[data-src], [data-derived]",
            "els => els.map(e => Object.assign({text: e.textContent},"
            " Object.fromEntries([...e.attributes].map(a => [a.name, a.value]))))",
        )
        assert check_figures(found, folder) > 500
        # the findings as a reader sees them: one sentence per metric of segment all
        sentences = page.locator("ol.findings li").all_inner_texts()
        assert len(sentences) == 11
        assert all(s.endswith(".") for s in sentences)
        # every figure visible on screen is c where the file says c
        c_cells = page.locator(".sym-c:visible")
        assert c_cells.count() > 0
        assert set(c_cells.all_inner_texts()) == {"c"}
        if kind == "today":
            assert page.locator("#trends-missing").is_visible()
        else:
            assert page.locator("figure.trend").count() == 4
            line = page.locator("#data-quality-line").inner_text()
            assert line.startswith("Tonight's data quality, of the snapshot behind this release")
            assert "142 checks ran; 0 blocking checks failed and 1 warning did" in line
            assert page.locator("#matching-table tbody tr").count() == 10
            assert page.locator("#matching-limits li").count() >= 4
        if kind == "today":
            assert page.locator("#matching-missing").is_visible()
        # Printed, each chart's figures are shown (closed <details> on screen).
        page.emulate_media(media="print")
        assert page.locator("details.figures table").first.is_visible()
        assert page.locator("nav").is_hidden()
        pdf = page.pdf(format="A4", landscape=True)
        assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
        keep_screenshot(page, tmp_path / f"report-{kind}-print.png", full_page=True)
    assert visit.external_requests == []
    assert visit.console_errors == []
    for name in ["full", "top", "print", *SECTIONS]:
        shot = tmp_path / f"report-{kind}-{name}.png"
        assert shot.stat().st_size > 5_000, shot
