"""outcome_metrics under disclosure control (docs/audiences.md): primary suppression of small
numbers, then the complementary cells that keep them from being worked out by subtraction
(fiw.disclosure.suppression). A Python model because the choice of complementary cells is a
search, not a query; the validation step audits the result by linear programming."""


def model(dbt, session):
    dbt.config(materialized="table")
    from fiw.disclosure.table import suppress_relation

    threshold = int(dbt.config.get("suppression_threshold"))
    return suppress_relation(session, dbt.ref("outcome_metrics"), threshold)
