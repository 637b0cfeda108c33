"""outcome_trends under the disclosure control of outcome_metrics_suppressed (docs/audiences.md):
each rolling window is a table of its own, suppressed and audited as a programme window is."""


def model(dbt, session):
    dbt.config(materialized="table")
    from fiw.disclosure.table import suppress_relation

    threshold = int(dbt.config.get("suppression_threshold"))
    return suppress_relation(session, dbt.ref("outcome_trends"), threshold)
