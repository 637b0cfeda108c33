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
