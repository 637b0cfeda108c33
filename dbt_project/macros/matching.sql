{#- Case matching (docs/matching.md). -#}

{#- Every characteristic int_matching_cases knows, in its column order; the booleans are balanced
    as one indicator (true), the others as one indicator per category. -#}
{% macro matching_known_characteristics() -%}
    {{ return([
        'age_band',
        'sex',
        'primary_need',
        'referral_source',
        'referred_in_previous_12_months',
        'cp_plan_before',
    ]) }}
{%- endmacro %}

{% macro matching_boolean_characteristics() -%}
    {{ return(['referred_in_previous_12_months', 'cp_plan_before']) }}
{%- endmacro %}

{#- var('matching_characteristics'): the characteristics the strata are made of, checked. -#}
{% macro matching_characteristics() -%}
    {%- set known = matching_known_characteristics() -%}
    {%- set used = var('matching_characteristics', known) -%}
    {%- if used is string or used | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "var matching_characteristics must be a non-empty list of " ~ known | join(', ')) }}
    {%- endif -%}
    {%- for name in used -%}
        {%- if name not in known -%}
            {{ exceptions.raise_compiler_error(
                "var matching_characteristics: unknown characteristic '" ~ name
                ~ "' (known: " ~ known | join(', ') ~ ")") }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(used) }}
{%- endmacro %}

{#- The outcomes of matched_outcomes, in order: outcome name -> int_matching_cases column. -#}
{% macro matching_outcomes() -%}
    {{ return([
        ('closed', 'is_closed'),
        ('de_escalated', 'is_de_escalated'),
        ('stepped_up', 'is_stepped_up'),
        ('re_referred_after_closure', 'is_re_referred_after_closure'),
        ('returned_home', 'is_returned_home'),
    ]) }}
{%- endmacro %}

{% macro matching_follow_up_months() -%}
    {%- set months = var('matching_follow_up_months', 12) | int -%}
    {%- if months < 1 -%}
        {{ exceptions.raise_compiler_error("var matching_follow_up_months must be 1 or more") }}
    {%- endif -%}
    {{ return(months) }}
{%- endmacro %}

{#- A quoted SQL string literal. -#}
{% macro sql_string(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{#- Disclosure control: a count between 1 and var('suppression_threshold') (0 is not small). -#}
{% macro matching_small(expr) -%}
    coalesce(({{ expr }}) between 1 and {{ var('suppression_threshold', 5) | int }}, false)
{%- endmacro %}

{#- Disclosure control: a total of withheld counts that leaves each of them a range at least the
    threshold wide: 0 (every one of them 0) or at least the threshold. -#}
{% macro matching_wide(expr) -%}
    (({{ expr }}) = 0 or ({{ expr }}) >= {{ var('suppression_threshold', 5) | int }})
{%- endmacro %}

{#- Standardised difference of two means of a 0/1 indicator:
    (mean_T - mean_C) / sqrt((var_T + var_C) / 2), var = mean (1 - mean) (weighted for weighted
    means); 0 when the means are equal, NULL when either is missing or the variances are both 0
    with different means. Rounded to 10 places (+ 0.0 turns -0.0 into 0.0): after exact
    matching the weighted control mean equals the treated mean up to floating-point noise. -#}
{% macro standardised_difference(treated_mean, control_mean) -%}
    case
        when {{ treated_mean }} is null or {{ control_mean }} is null then null
        when {{ treated_mean }} = {{ control_mean }} then 0.0
        when
            {{ treated_mean }} * (1 - {{ treated_mean }})
            + {{ control_mean }} * (1 - {{ control_mean }}) > 0
            then {{ round_double(
                '(' ~ treated_mean ~ ' - ' ~ control_mean ~ ') / sqrt(('
                ~ treated_mean ~ ' * (1 - ' ~ treated_mean ~ ') + '
                ~ control_mean ~ ' * (1 - ' ~ control_mean ~ ')) / 2)', 10
            ) }} + 0.0
    end
{%- endmacro %}


{# How many followed-up cases each side matched and dropped (one row), from a relation of cases
   with matching_group and is_matched: the same counts in matched_outcomes and matched_balance. #}
{% macro matching_sample_counts(cases) -%}
    select
        count(*) filter (where matching_group = 'treated' and is_matched) as treated_matched,
        count(*) filter (where matching_group = 'treated' and not is_matched) as treated_dropped,
        count(*) filter (where matching_group = 'control' and is_matched) as control_matched,
        count(*) filter (where matching_group = 'control' and not is_matched) as control_dropped
    from {{ cases }}
{%- endmacro %}


{#- A double rounded to `places` decimals, still a double: PostgreSQL rounds only numeric. -#}
{% macro round_double(expr, places) -%}
    {{ return(adapter.dispatch('round_double', 'fiw')(expr, places)) }}
{%- endmacro %}

{% macro default__round_double(expr, places) -%}
    round({{ expr }}, {{ places }})
{%- endmacro %}

{% macro postgres__round_double(expr, places) -%}
    cast(round(cast({{ expr }} as numeric), {{ places }}) as double precision)
{%- endmacro %}
