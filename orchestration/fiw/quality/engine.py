"""Great Expectations 1.x on DuckDB with the work pushed down to SQL.

Why GX 1.24's SQL datasource returns no rows from DuckDB (a known trap of the pinned stack):
GX's ``SqlAlchemyExecutionEngine.execute_query`` runs a query inside ``with engine.connect()`` and
returns the ``CursorResult``; the caller calls ``.fetchall()`` only after the ``with`` block has
closed the SQLAlchemy connection. Closing it rolls back the transaction SQLAlchemy began, and
duckdb_engine's DB-API cursor is *the connection itself* (``ConnectionWrapper.cursor()`` wraps the
same ``DuckDBPyConnection``), so that ``ROLLBACK`` discards the query's pending result set. The
fetch then returns ``[]`` and GX fails every metric with ``IndexError: list index out of range``
(``res[0]`` in ``resolve_metric_bundle``). Drivers such as psycopg2 buffer results client side,
so GX never notices there.

The fix here touches no GX internals: SQLAlchemy gets a ``creator`` (passed through the SQL
datasource's documented ``kwargs``) whose DB-API connection hands out a *separate* DuckDB cursor
(``con.cursor()``, an independent connection to the same database instance) for every DB-API
cursor, as a DB-API driver should. The rollback then happens on the parent connection and the
query's result stays readable on its own cursor until GX fetches it. Results are not buffered in
Python: aggregates stay in DuckDB and only the rows GX asks for are fetched.

Sharing the caller's connection (``con.cursor()``) means validation sees exactly the database the
pipeline has open, needs no second open of the file (DuckDB locks files per process), and works on
in-memory databases in tests. ``tests/test_quality.py`` pins this behaviour.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import duckdb_engine
import sqlalchemy as sa


class _CursorPerExecuteConnection(duckdb_engine.ConnectionWrapper):
    """A duckdb_engine DB-API connection whose cursors are independent DuckDB cursors."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        super().__init__(con)
        self._parent = con

    def cursor(self) -> duckdb_engine.CursorWrapper:
        return duckdb_engine.CursorWrapper(self._parent.cursor(), self)


def sqlalchemy_kwargs(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """``create_engine`` keyword arguments for a ``duckdb://`` engine on ``con``'s database."""
    return {
        "creator": lambda: _CursorPerExecuteConnection(con.cursor()),
        # One DB-API connection for the whole validation: no pool growth, no reconnects.
        "poolclass": sa.pool.StaticPool,
    }


# The URL only selects the duckdb_engine dialect; the creator above supplies the connection.
CONNECTION_STRING = "duckdb:///:memory:"


def make_context(results_dir: Path) -> Any:
    """An ephemeral GX context (datasources hold a Python callable, so they cannot go in a YAML
    file) whose validation results are kept on disk under ``results_dir``. No Data Docs site: GX's
    pages load their scripts and styles from CDNs, blank on a server without internet; the
    data-quality page (``fiw.quality.page``) shows GX's and dbt's results from ``dq_results``.
    Import GX lazily: it takes seconds."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    defaults = InMemoryStoreBackendDefaults()
    stores = dict(defaults.stores)
    stores[defaults.validation_results_store_name] = {
        "class_name": "ValidationResultsStore",
        "store_backend": {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(results_dir),
        },
    }
    config = DataContextConfig(
        store_backend_defaults=defaults,
        stores=stores,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),  # no tqdm noise in run logs
    )
    return gx.get_context(project_config=config, mode="ephemeral")


_ROWS_EXPECTATION: Any = None


def rows_expectation_class() -> Any:
    """``UnexpectedRowsExpectation`` computing only the count of unexpected rows.

    GX's own class also fetches up to 200 of the rows (metric ``unexpected_rows_query.table``),
    which runs every query twice: on millions of rows that doubles the cost of every SQL rule for
    rows the report never shows (``fiw.quality.execution`` fetches its three examples itself, only
    on failure). Same query, same result shape (``observed_value`` = count)."""
    global _ROWS_EXPECTATION
    if _ROWS_EXPECTATION is None:
        import great_expectations as gx

        class ExpectNoUnexpectedRows(gx.expectations.UnexpectedRowsExpectation):
            metric_dependencies = ("unexpected_rows_query.row_count",)

            def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
                count = metrics["unexpected_rows_query.row_count"]
                return {"success": count == 0, "result": {"observed_value": count}}

        _ROWS_EXPECTATION = ExpectNoUnexpectedRows
    return _ROWS_EXPECTATION
