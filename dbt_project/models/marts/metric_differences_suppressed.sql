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
    case when hidden.suppressed then null else differences.previous_numerator end
        as previous_numerator,
    case when hidden.suppressed then null else differences.previous_denominator end
        as previous_denominator,
    case when hidden.suppressed then null else differences.previous_rate end as previous_rate,
    differences.programme_window,
    case when hidden.suppressed then null else differences.programme_numerator end
        as programme_numerator,
    case when hidden.suppressed then null else differences.programme_denominator end
        as programme_denominator,
    case when hidden.suppressed then null else differences.programme_rate end as programme_rate,
    case when hidden.suppressed then null else differences.difference end as difference,
    case when hidden.suppressed then null else differences.ci_low end as ci_low,
    case when hidden.suppressed then null else differences.ci_high end as ci_high,
    case when hidden.suppressed then null else differences.p_value end as p_value,
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
