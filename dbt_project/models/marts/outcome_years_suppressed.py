"""outcome_years under disclosure control (docs/audiences.md): suppressed together with the
programme windows of outcome_metrics, which they overlap in segment all (one search over both,
fiw.disclosure.table.suppress_release); this model keeps the years' rows."""


def model(dbt, session):
    dbt.config(materialized="table")
    from fiw.disclosure.table import suppress_release_relation

    threshold = int(dbt.config.get("suppression_threshold"))
    metrics, years = dbt.ref("outcome_metrics"), dbt.ref("outcome_years")
    return suppress_release_relation(session, metrics, years, threshold, keep="years")
