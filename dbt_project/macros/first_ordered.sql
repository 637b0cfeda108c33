{#- The first `expr` of a group in the order `order_by` (a SQL ORDER BY list, which must be total
    for the result to be deterministic): DuckDB's ordered first(), PostgreSQL's first element of an
    ordered array_agg (PostgreSQL has no first() aggregate). -#}
{% macro first_ordered(expr, order_by) -%}
    {{ return(adapter.dispatch('first_ordered', 'fiw')(expr, order_by)) }}
{%- endmacro %}

{% macro default__first_ordered(expr, order_by) -%}
    first({{ expr }} order by {{ order_by }})
{%- endmacro %}

{% macro postgres__first_ordered(expr, order_by) -%}
    (array_agg({{ expr }} order by {{ order_by }}))[1]
{%- endmacro %}
