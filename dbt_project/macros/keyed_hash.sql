{#- Pseudonymisation: lower-case hex HMAC-SHA256 of `expr` under the warehouse key, computed from
    the pads in audit.hash_key (written by the orchestrator before every build; see
    fiw.settings.hmac_pads), so the key itself never reaches SQL.
    The model must bring the pads in with {{ hash_key_join() }} (alias `hash_key` by default).
    A NULL id stays NULL. -#}
{% macro keyed_hash(expr, key_alias='hash_key') -%}
    {{ return(adapter.dispatch('keyed_hash', 'fiw')(expr, key_alias)) }}
{%- endmacro %}

{#- DuckDB's sha256 already returns lower-case hex: no lower() needed. -#}
{% macro duckdb__keyed_hash(expr, key_alias) -%}
    case when ({{ expr }}) is not null then sha256(
        {{ key_alias }}.opad
        || unhex(sha256({{ key_alias }}.ipad || encode(cast({{ expr }} as varchar))))
    ) end
{%- endmacro %}

{#- PostgreSQL (pgcrypto not even needed: sha256(bytea) is built in since 11). -#}
{% macro postgres__keyed_hash(expr, key_alias) -%}
    case when ({{ expr }}) is not null then encode(sha256(
        {{ key_alias }}.opad
        || sha256({{ key_alias }}.ipad || convert_to(cast({{ expr }} as text), 'UTF8'))
    ), 'hex') end
{%- endmacro %}

{% macro default__keyed_hash(expr, key_alias) -%}
    {{ exceptions.raise_compiler_error("keyed_hash is not implemented for " ~ target.type) }}
{%- endmacro %}

{#- The one-row pad table, cross-joined (audit.hash_key has a test: exactly one row). -#}
{% macro hash_key_join(key_alias='hash_key') -%}
    cross join {{ source('audit', 'hash_key') }} as {{ key_alias }}
{%- endmacro %}

{#- Key maps: HMAC-SHA256 costs about a microsecond per value, and the same person or referral id
    recurs in up to eight objects, so each distinct id is hashed once into a key map
    (stg_ssd__child_keys, stg_ssd__referral_keys) and staging joins it. `mapped_key` is the map's
    key for `expr`, falling back to hashing `expr` itself when the map lacks it (never expected:
    the extract quarantines dangling references), so the result always equals keyed_hash(expr). -#}
{% macro mapped_key(map_alias, expr, key_alias='hash_key') -%}
    coalesce({{ map_alias }}.hashed_id, {{ keyed_hash(expr, key_alias) }})
{%- endmacro %}

{#- Left-join a key map as `map_alias` on the raw id `expr`. -#}
{% macro key_map_join(map_model, map_alias, expr) -%}
    left join {{ ref(map_model) }} as {{ map_alias }}
        on {{ expr }} = {{ map_alias }}.id
{%- endmacro %}
