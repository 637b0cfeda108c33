"""outcome_metrics under disclosure control (docs/audiences.md): primary suppression of small
numbers, then the complementary cells that keep them from being worked out from everything else
the release publishes (fiw.disclosure.suppression), the programme windows together with the
release's financial years (outcome_years), which overlap them in segment all. A Python model
because the choice of complementary cells is a search, not a query; the validation step audits
the whole release by linear programming."""


def model(dbt, session):
    dbt.config(materialized="table")
    from fiw.disclosure.table import suppress_release_relation

    threshold = int(dbt.config.get("suppression_threshold"))
    metrics, years = dbt.ref("outcome_metrics"), dbt.ref("outcome_years")
    return suppress_release_relation(session, metrics, years, threshold, keep="metrics")
