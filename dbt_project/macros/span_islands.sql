{#- One row per island of `relation`'s spans (`start`, `end`; a NULL end is open, where
    `open_ends`) for each combination of `keys` (default team_id) and `member` (a child, a
    worker, a counted unit): spans of the same member that share a day (a month, for month
    numbers) are merged, so none is covered twice. A span starts a new island unless it starts on
    or before the latest end so far. `carry` columns are taken from any of the island's spans
    (they must be constant per member). Output: keys..., member, carry..., island_start,
    island_end (NULL while open). Used by caseload_monthly (dates) and outcome_trends (window
    months). -#}
{% macro span_islands(
    relation, member, carry=[], keys=['team_id'], start='start_date', end='end_date',
    open_ends=true
) -%}
    {%- set partition = (keys + [member]) | join(', ') -%}
    select
        {{ partition }},
        {%- for column in carry %}
        min({{ column }}) as {{ column }},
        {%- endfor %}
        min({{ start }}) as island_start,
        case when not bool_or({{ end }} is null) then max({{ end }}) end as island_end
    from (
        select
            *,
            sum(starts_island) over (
                partition by {{ partition }}
                order by {{ start }}, {{ end }} nulls last
                rows between unbounded preceding and current row
            ) as island
        from (
            select
                {{ partition }},
                {%- for column in carry %}
                {{ column }},
                {%- endfor %}
                {{ start }},
                {{ end }},
                case
                    when {{ start }} <= max(
                        {{ "coalesce(" ~ end ~ ", cast('9999-12-31' as date))" if open_ends else end }}
                    ) over (
                        partition by {{ partition }}
                        order by {{ start }}, {{ end }} nulls last
                        rows between unbounded preceding and 1 preceding
                    ) then 0
                    else 1
                end as starts_island
            from {{ relation }}
            where {{ member }} is not null
        ) as flagged
    ) as numbered
    group by {{ partition }}, island
{%- endmacro %}
