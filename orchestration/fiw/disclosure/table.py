"""Disclosure control of a whole metrics table (``outcome_metrics``' columns, or
``outcome_trends``', the same), as the dbt models ``outcome_metrics_suppressed`` and
``outcome_trends_suppressed`` apply it: the cells :func:`suppression.suppress` hides get
numerator, denominator, rate and the rate's interval NULL and ``suppressed`` true."""

from __future__ import annotations

import pandas as pd

from fiw.disclosure.cells import Cell, CellKey
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


def suppress_table(table: pd.DataFrame, threshold: int) -> tuple[pd.DataFrame, Suppression]:
    """``table`` (unsuppressed, one row per window x segment x metric) under disclosure control,
    with the suppression that was applied."""
    chosen = suppress(cells_of(table), threshold)
    hidden = [_key(r) in chosen.all for r in table.itertuples(index=False)]
    out = table.copy()
    for column in HIDDEN:
        kind = "Int64" if column in ("numerator", "denominator") else "Float64"
        out[column] = out[column].astype(kind).mask(hidden)
    out["suppressed"] = hidden
    return out[list(COLUMNS)], chosen


def suppress_relation(con, source, threshold: int):
    """:func:`suppress_table` on a DuckDB relation, giving a relation with the source's column
    types (pandas would turn its dates into timestamps). What the dbt model returns."""
    types = dict(zip(source.columns, source.types, strict=True))
    table, _ = suppress_table(source.df(), threshold)
    columns = [
        f'cast("{c}" as {types[c]}) as "{c}"' if c in types else f'"{c}"' for c in table.columns
    ]
    return con.from_df(table).project(", ".join(columns))
