-- outcome_years under disclosure control, on PostgreSQL (dbt-postgres runs no Python models): the
-- cells are chosen by the same search as DuckDB's Python model of this name
-- (fiw.disclosure.table.suppress_release), which fiw.dbt_postgres runs between the builds and
-- writes to suppression.outcome_years; this model publishes it under the same name, with the same tests.
{{ suppressed_metrics('outcome_years') }}
