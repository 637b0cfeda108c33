"""Disclosure control of whole metrics tables (``outcome_metrics``' columns, the same in
``outcome_years`` and ``outcome_trends``), as the dbt models ``*_suppressed`` apply it: the cells
:func:`suppression.suppress` hides get numerator, denominator, rate and the rate's interval NULL
and ``suppressed`` true.

:func:`suppress_release` chooses the release's cells in one search over the programme windows
and the financial years, whose windows overlap in segment ``all``; :func:`suppress_table` one table
window by window (the monthly rolling ``outcome_trends``, which only analysts see)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from fiw.disclosure.cells import Cell, CellKey
from fiw.disclosure.model import Window
from fiw.disclosure.suppression import Suppression, suppress

COLUMNS = (
    "window_name", "window_start", "window_end", "segment", "metric", "numerator", "denominator",
    "rate", "ci_low", "ci_high", "suppressed", "as_of_date",
)  # fmt: skip
# What a hidden cell loses: its counts and everything computed from them.
HIDDEN = ("numerator", "denominator", "rate", "ci_low", "ci_high")


def _key(row) -> CellKey:
    return CellKey(row.window_name, row.segment, row.metric)


def cells_of(table: pd.DataFrame) -> list[Cell]:
    return [
        Cell(_key(r), int(r.numerator), int(r.denominator)) for r in table.itertuples(index=False)
    ]


def _day(value) -> date:
    return value.date() if hasattr(value, "date") else value


def windows_of(*tables: pd.DataFrame) -> dict[str, Window]:
    """Each window of ``tables`` with its dates."""
    out: dict[str, Window] = {}
    for table in tables:
        for r in (
            table[["window_name", "window_start", "window_end"]].drop_duplicates().itertuples()
        ):
            out[r.window_name] = Window(_day(r.window_start), _day(r.window_end))
    return out


def suppress_release(
    metrics: pd.DataFrame, years: pd.DataFrame, threshold: int
) -> tuple[pd.DataFrame, pd.DataFrame, Suppression]:
    """The programme windows (``outcome_metrics``) and the financial years (``outcome_years``)
    under disclosure control, chosen together: their windows overlap in segment ``all``."""
    as_of = {_day(d) for t in (metrics, years) for d in t["as_of_date"]}
    if len(as_of) > 1:
        raise ValueError(f"metrics of several extract dates: {sorted(as_of)}")
    chosen = suppress(
        cells_of(metrics) + cells_of(years),
        threshold,
        windows=windows_of(metrics, years),
        as_of=next(iter(as_of), None),
        together=[sorted(set(metrics["window_name"]))],  # the programme windows
    )
    return _apply(metrics, chosen), _apply(years, chosen), chosen


def suppress_table(table: pd.DataFrame, threshold: int) -> tuple[pd.DataFrame, Suppression]:
    """``table`` (unsuppressed, one row per window x segment x metric) under disclosure control,
    each window on its own, with the suppression that was applied: the analysts' monthly trends,
    under the segment totals and the linked families of a window. The rule of
    :mod:`fiw.disclosure.suppression` is exact for those relations, so no audit runs here; the
    validation step audits the table under them (without the inequalities between metrics: the
    table does not leave the authority, docs/audiences.md "The release")."""
    chosen = suppress(cells_of(table), threshold, rounds=0)
    return _apply(table, chosen), chosen


def _apply(table: pd.DataFrame, chosen: Suppression) -> pd.DataFrame:
    hidden = pd.Series(
        [_key(r) in chosen.all for r in table.itertuples(index=False)],
        index=table.index,
        dtype=bool,
    )
    out = table.copy()
    for column in HIDDEN:
        kind = "Int64" if column in ("numerator", "denominator") else "Float64"
        out[column] = out[column].astype(kind).mask(hidden)
    out["suppressed"] = hidden
    return out[list(COLUMNS)]


def _relation(con, source, table: pd.DataFrame):
    """``table`` as a DuckDB relation with ``source``'s column types (pandas would turn its dates
    into timestamps)."""
    types = dict(zip(source.columns, source.types, strict=True))
    columns = [
        f'cast("{c}" as {types[c]}) as "{c}"' if c in types else f'"{c}"' for c in table.columns
    ]
    return con.from_df(table).project(", ".join(columns))


def suppress_relation(con, source, threshold: int):
    """:func:`suppress_table` on a DuckDB relation. What the dbt model returns."""
    table, _ = suppress_table(source.df(), threshold)
    return _relation(con, source, table)


def suppress_release_relation(con, metrics, years, threshold: int, keep: str):
    """:func:`suppress_release` on two DuckDB relations, giving the ``keep`` one ("metrics" or
    "years") under disclosure control. What the two dbt models return."""
    out_metrics, out_years, _ = suppress_release(metrics.df(), years.df(), threshold)
    if keep == "metrics":
        return _relation(con, metrics, out_metrics)
    return _relation(con, years, out_years)
