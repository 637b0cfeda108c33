{#- Typing of raw SSD text fields (exports.md: ISO dates, a datetime truncated to its date; flags Y/N). -#}
{% macro ssd_date(column) -%}
    cast(left({{ column }}, 10) as date)
{%- endmacro %}

{% macro ssd_flag(column) -%}
    case upper(trim({{ column }})) when 'Y' then true when 'N' then false end
{%- endmacro %}

{#- Rows of one raw SSD object for the current snapshot, not quarantined. -#}
{% macro ssd_current_rows(object_name) -%}
    select *
    from {{ source('raw', object_name) }}
    where
        _snapshot_id = {{ current_snapshot_id() }}
        and _quarantined = false
{%- endmacro %}
