{#- PostgreSQL only: a metrics table under disclosure control as fiw.dbt_postgres wrote it to
    schema suppression (the columns of outcome_metrics and outcome_trends, as
    fiw.disclosure.table.COLUMNS lists them). -#}
{% macro suppressed_metrics(table) -%}
    select
        window_name,
        window_start,
        window_end,
        segment,
        metric,
        numerator,
        denominator,
        rate,
        ci_low,
        ci_high,
        suppressed,
        as_of_date
    from {{ source('suppression', table) }}
{%- endmacro %}
