-- metric_differences as published: a comparison either of whose two cells outcome_metrics_
-- suppressed hides is hidden whole (its counts, rates, difference, interval and p-value would give
-- the hidden cell away); the rest is as computed. Nothing else is needed: every figure of a
-- published row is a function of the two published cells.
with hidden as (
    select
        segment,
        metric,
        bool_or(suppressed) as suppressed
    from {{ ref('outcome_metrics_suppressed') }}
    where window_name in ('{{ var("previous_window") }}', '{{ var("programme_window") }}')
    group by segment, metric
)

select
    differences.segment,
    differences.metric,
    differences.previous_window,
    differences.programme_window,
    {%- for column in [
        'previous_numerator', 'previous_denominator', 'previous_rate', 'programme_numerator',
        'programme_denominator', 'programme_rate', 'difference', 'ci_low', 'ci_high', 'p_value',
    ] %}
        case when hidden.suppressed then null else differences.{{ column }} end as {{ column }},
    {%- endfor %}
    case
        when hidden.suppressed then 'not comparable: a figure is suppressed to protect small numbers'
        else differences.verdict
    end as verdict,
    hidden.suppressed,
    differences.as_of_date
from {{ ref('metric_differences') }} as differences
inner join hidden
    on
        differences.segment = hidden.segment
        and differences.metric = hidden.metric
