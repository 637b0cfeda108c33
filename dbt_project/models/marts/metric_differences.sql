-- Family Insights against the previous model (metrics.md, "Uncertainty"), unsuppressed: one row
-- per segment (each units-seed segment, `unassigned` and `all`) and metric, from outcome_metrics'
-- two programme windows (vars previous_window, programme_window). difference = programme rate -
-- previous rate; its 95% interval is Newcombe's hybrid score interval (his method 10, from the
-- two Wilson intervals outcome_metrics carries); p_value is the two-sided two-proportion z-test
-- with a pooled proportion. Both are NULL when a window has nothing to count. verdict says, in
-- words, which way the difference goes and whether the interval says it could be noise (it
-- includes 0). The two windows' populations may share cases (one active in both), which the
-- test, like the evaluation's, treats as independent.
with previous as (
    select * from {{ ref('outcome_metrics') }}
    where window_name = '{{ var("previous_window") }}'
),

programme as (
    select * from {{ ref('outcome_metrics') }}
    where window_name = '{{ var("programme_window") }}'
),

windows as (
    select
        coalesce(programme.segment, previous.segment) as segment,
        coalesce(programme.metric, previous.metric) as metric,
        previous.numerator as previous_numerator,
        previous.denominator as previous_denominator,
        previous.rate as previous_rate,
        previous.ci_low as previous_ci_low,
        previous.ci_high as previous_ci_high,
        programme.numerator as programme_numerator,
        programme.denominator as programme_denominator,
        programme.rate as programme_rate,
        programme.ci_low as programme_ci_low,
        programme.ci_high as programme_ci_high,
        coalesce(programme.as_of_date, previous.as_of_date) as as_of_date
    from programme
    full outer join previous
        on
            programme.segment = previous.segment
            and programme.metric = previous.metric
),

tested as (
    select
        *,
        programme_rate - previous_rate as difference,
        programme_rate - previous_rate - sqrt(
            power(programme_rate - programme_ci_low, 2) + power(previous_ci_high - previous_rate, 2)
        ) as ci_low,
        programme_rate - previous_rate + sqrt(
            power(programme_ci_high - programme_rate, 2) + power(previous_rate - previous_ci_low, 2)
        ) as ci_high,
        -- pooled proportion; the statistic is 0 when both rates are 0 or both 1
        cast(previous_numerator + programme_numerator as double precision)
        / nullif(previous_denominator + programme_denominator, 0) as pooled_rate
    from windows
),

with_z as (
    select
        *,
        case
            when previous_denominator > 0 and programme_denominator > 0
                then coalesce(
                    difference / nullif(sqrt(
                        pooled_rate * (1 - pooled_rate)
                        * (1.0 / previous_denominator + 1.0 / programme_denominator)
                    ), 0),
                    0
                )
        end as z
    from tested
)

select
    segment,
    metric,
    '{{ var("previous_window") }}' as previous_window,
    previous_numerator,
    previous_denominator,
    previous_rate,
    '{{ var("programme_window") }}' as programme_window,
    programme_numerator,
    programme_denominator,
    programme_rate,
    difference,
    ci_low,
    ci_high,
    case when z is not null then least({{ normal_two_sided_p('z') }}, 1.0) end as p_value,
    case
        when difference is null then 'not comparable: a window has nothing to count'
        when ci_low > 0 or ci_high < 0
            then
                case when difference < 0 then 'lower' else 'higher' end
                || ' under Family Insights; unlikely to be noise (the 95% interval excludes 0)'
        when difference = 0 then 'no difference; the 95% interval includes 0'
        else
            case when difference < 0 then 'lower' else 'higher' end
            || ' under Family Insights, but could be noise (the 95% interval includes 0)'
    end as verdict,
    false as suppressed,
    as_of_date
from with_z
