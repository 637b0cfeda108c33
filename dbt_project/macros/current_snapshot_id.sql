{#- The snapshot every staging model reads, as a SQL expression (no query at compile time, so it
    works in `dbt parse`, the sqlfluff dbt templater and unit tests):
    var('snapshot_id') as a literal when given; else the environment variable FIW_SNAPSHOT_ID (the
    orchestrator sets it: unlike a --vars value it leaves dbt's partial parsing intact, and it is
    read only at execution time, so a new id never makes dbt re-parse anything); otherwise a
    scalar subquery for the newest audit.snapshots row (by snapshot_date, then loaded_at) whose
    status is loaded, validated or published. -#}
{% macro current_snapshot_id() -%}
    {%- set given = var('snapshot_id', none) -%}
    {%- if (given is none or given | string | trim == '') and execute -%}
        {%- set given = env_var('FIW_SNAPSHOT_ID', '') -%}
    {%- endif -%}
    {%- if given is not none and given | string | trim != '' -%}
        '{{ given | string | trim | replace("'", "''") }}'
    {%- else -%}
        (
            select audit_snapshots.snapshot_id
            from {{ source('audit', 'snapshots') }} as audit_snapshots
            where audit_snapshots.status in ('loaded', 'validated', 'published')
            order by
                audit_snapshots.snapshot_date desc,
                audit_snapshots.loaded_at desc nulls last,
                audit_snapshots.snapshot_id desc
            limit 1
        )
    {%- endif -%}
{%- endmacro %}
