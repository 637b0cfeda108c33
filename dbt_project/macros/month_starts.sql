{#- A select of every first-of-month from the month of `start_expr` to `end_expr` (dates), one row
    each as `month_start`, reading the two expressions from `relation` (a one-row CTE). -#}
{% macro month_starts(relation, start_expr, end_expr) -%}
    {{ return(adapter.dispatch('month_starts', 'fiw')(relation, start_expr, end_expr)) }}
{%- endmacro %}

{% macro duckdb__month_starts(relation, start_expr, end_expr) -%}
    select cast(month_start as date) as month_start
    from (
        select
            unnest(generate_series(
                cast(date_trunc('month', {{ start_expr }}) as date),
                cast({{ end_expr }} as date),
                interval 1 month
            )) as month_start
        from {{ relation }}
    ) as series
{%- endmacro %}

{% macro default__month_starts(relation, start_expr, end_expr) -%}
    select cast(month_start as date) as month_start
    from (
        select
            generate_series(
                date_trunc('month', {{ start_expr }}),
                {{ end_expr }},
                interval '1 month'
            ) as month_start
        from {{ relation }}
    ) as series
{%- endmacro %}
