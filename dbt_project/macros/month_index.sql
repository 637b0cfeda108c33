{#- Months since year 0 (2016-10-15 -> 2016 * 12 + 9): the trends' window arithmetic
    (outcome_trends). A date lies in the rolling 12-month window ending at the end of month e
    when month_index(date) is between e - 11 and e. -#}
{% macro month_index(date_expr) -%}
    cast(extract(year from {{ date_expr }}) * 12 + extract(month from {{ date_expr }}) - 1 as integer)
{%- endmacro %}

{#- The first day of the month numbered `index_expr` by month_index. -#}
{% macro month_of_index(index_expr) -%}
    make_date(
        cast(floor(({{ index_expr }}) / 12) as integer),
        cast(({{ index_expr }}) - 12 * floor(({{ index_expr }}) / 12) + 1 as integer),
        1
    )
{%- endmacro %}

{#- The trends' first and last window months (int_trend_windows), as one row. -#}
{% macro trend_window_bounds() -%}
    select
        min(window_month) as first_window_month,
        max(window_month) as last_window_month
    from {{ ref('int_trend_windows') }}
{%- endmacro %}
