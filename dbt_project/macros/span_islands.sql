{#- One row per island of `relation`'s spans (start_date, end_date; NULL end = open) for each
    team_id and `member` (a child, a worker): spans of the same member in the same team that share
    a day are merged, so no day is covered twice. A span starts a new island unless it starts on
    or before the latest end so far. `carry` columns are taken from any of the island's spans
    (they must be constant per member). Output: team_id, member, carry..., island_start,
    island_end (NULL while open). -#}
{% macro span_islands(relation, member, carry=[]) -%}
    select
        team_id,
        {{ member }},
        {%- for column in carry %}
        any_value({{ column }}) as {{ column }},
        {%- endfor %}
        min(start_date) as island_start,
        case when not bool_or(end_date is null) then max(end_date) end as island_end
    from (
        select
            *,
            sum(starts_island) over (
                partition by team_id, {{ member }}
                order by start_date, end_date nulls last
                rows between unbounded preceding and current row
            ) as island
        from (
            select
                team_id,
                {{ member }},
                {%- for column in carry %}
                {{ column }},
                {%- endfor %}
                start_date,
                end_date,
                case
                    when start_date <= max(coalesce(end_date, cast('9999-12-31' as date))) over (
                        partition by team_id, {{ member }}
                        order by start_date, end_date nulls last
                        rows between unbounded preceding and 1 preceding
                    ) then 0
                    else 1
                end as starts_island
            from {{ relation }}
            where {{ member }} is not null
        ) as flagged
    ) as numbered
    group by team_id, {{ member }}, island
{%- endmacro %}
