{#- Every metric of metrics.md, in its table's order. -#}
{% macro outcome_metric_names() -%}
    {{ return([
        'de_escalation_rate',
        'de_escalation_cp_to_cin_share',
        'de_escalation_lac_to_cin_share',
        'closure_rate',
        'closure_nfa_share',
        'closed_last_on_cin_plan_share',
        're_referral_rate',
        're_referral_after_closure_rate',
        'repeat_cp_plan_rate',
        'cp_plan_2yr_plus_rate',
        'returned_home_rate',
    ]) }}
{%- endmacro %}

{#- One row per metric of outcome_metric_names(), as `metric`. -#}
{% macro outcome_metric_rows() -%}
    {% for metric in outcome_metric_names() -%}
        select '{{ metric }}' as metric
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
{%- endmacro %}

{#- Every segment a metrics table has a row for: each segment of the units seed, `unassigned`
    and `all`. -#}
{% macro outcome_segment_rows() -%}
    select distinct segment from {{ ref('units') }}
    union
    select 'unassigned' as segment
    union
    select 'all' as segment
{%- endmacro %}

{#- The 95% Wilson score interval of the proportion numerator / denominator (`bound`: 'low' or
    'high'); NULL when the denominator is 0. z = 1.959963984540054, the normal quantile. The
    bound at a rate of 0 (low) or 1 (high) is that rate exactly, as the formula gives it without
    rounding (computed, 1 came out 0.9999999999999999 and failed rate <= ci_high). -#}
{% macro wilson_bound(numerator, denominator, bound) -%}
    case
        when {{ denominator }} = 0 then null
        {% if bound == 'low' -%}
        when {{ numerator }} = 0 then 0.0
        {%- else -%}
        when {{ numerator }} = {{ denominator }} then 1.0
        {%- endif %}
        else
            (
                (cast({{ numerator }} as double precision) + 1.9207294103470627)
                {{ '-' if bound == 'low' else '+' }} 1.959963984540054 * sqrt(
                    cast({{ numerator }} as double precision)
                    * ({{ denominator }} - {{ numerator }}) / {{ denominator }}
                    + 0.9603647051735313
                )
            ) / ({{ denominator }} + 3.8414588206941254)
    end
{%- endmacro %}

{#- The two-sided p-value of a standard normal statistic `z`: erfc(|z| / sqrt 2), by the
    Chebyshev fit of Numerical Recipes' erfcc (relative error under 1.2e-7; tests/test_trends.py
    checks it against SciPy). The exponent stops at -700 (p about 1e-305, for |z| over 37):
    PostgreSQL raises an error where exp() underflows, DuckDB gives 0. -#}
{% macro normal_two_sided_p(z) -%}
    (
        1.0 / (1.0 + 0.5 * abs({{ z }}) / sqrt(2.0)) * exp(greatest(
            -({{ z }}) * ({{ z }}) / 2.0 - 1.26551223 + (1.0 / (1.0 + 0.5 * abs({{ z }}) / sqrt(2.0)))
            * (1.00002368 + (1.0 / (1.0 + 0.5 * abs({{ z }}) / sqrt(2.0)))
            * (0.37409196 + (1.0 / (1.0 + 0.5 * abs({{ z }}) / sqrt(2.0)))
            * (0.09678418 + (1.0 / (1.0 + 0.5 * abs({{ z }}) / sqrt(2.0)))
            * (-0.18628806 + (1.0 / (1.0 + 0.5 * abs({{ z }}) / sqrt(2.0)))
            * (0.27886807 + (1.0 / (1.0 + 0.5 * abs({{ z }}) / sqrt(2.0)))
            * (-1.13520398 + (1.0 / (1.0 + 0.5 * abs({{ z }}) / sqrt(2.0)))
            * (1.48851587 + (1.0 / (1.0 + 0.5 * abs({{ z }}) / sqrt(2.0)))
            * (-0.82215223 + (1.0 / (1.0 + 0.5 * abs({{ z }}) / sqrt(2.0))) * 0.17087277)))))))),
            -700.0
        ))
    )
{%- endmacro %}
