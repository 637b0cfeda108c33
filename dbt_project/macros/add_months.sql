{#- Calendar interval arithmetic as a DATE (metrics.md: "12 months", "2 years" are calendar
    intervals, `date + INTERVAL 12 MONTH`; month ends clamp, 2016-02-29 + 12 months = 2017-02-28). -#}
{% macro add_months(date_expr, months) -%}
    cast({{ dbt.dateadd('month', months, date_expr) }} as date)
{%- endmacro %}

{% macro add_days(date_expr, days) -%}
    cast({{ dbt.dateadd('day', days, date_expr) }} as date)
{%- endmacro %}
