-- Outcome metrics over rolling 12-month windows (metrics.md, "Trends"), unsuppressed: one row per
-- window of int_trend_windows x segment (each units-seed segment, `unassigned` and `all`) x
-- metric, even when 0 / 0, with exactly outcome_metrics' definitions and columns (a window is a
-- window: tests/test_trends.py builds outcome_metrics on these windows and compares). Counted
-- from int_trend_memberships' month ranges: a unit counts once in a window however many of its
-- ranges cover it, in each segment it has there and once in `all`. Each range (an island of
-- them, where they may overlap) adds one to the windows it covers: +1 at its first window, -1
-- after its last, summed in window order.
with memberships as (
    select
        metric,
        in_numerator,
        segment,
        unit_key,
        first_month,
        last_month,
        -- where a unit can have overlapping ranges: several own CP plans or periods of care,
        -- several de-escalations, several periods of care of a child. Elsewhere a unit has one
        -- range per segment, and its segments' ranges are disjoint.
        metric in (
            'de_escalation_rate',
            'de_escalation_cp_to_cin_share',
            'de_escalation_lac_to_cin_share',
            'returned_home_rate'
        ) as may_overlap
    from {{ ref('int_trend_memberships') }}
),

-- the ranges to merge, and for returned_home_rate (a child can be in two segments in one window)
-- the same again as `all`: for every other metric a unit is in one segment per window, so `all`
-- is the sum of the segments (below)
ranges as (
    select
        metric,
        in_numerator,
        segment,
        unit_key,
        first_month,
        last_month
    from memberships
    where may_overlap

    union all

    select
        metric,
        in_numerator,
        'all' as segment,
        unit_key,
        first_month,
        last_month
    from memberships
    where metric = 'returned_home_rate'
),

-- a unit's overlapping ranges merged into islands
merged as (
    {{ span_islands(
        'ranges', 'unit_key', keys=['metric', 'in_numerator', 'segment'],
        start='first_month', end='last_month', open_ends=false
    ) }}
),

islands as (
    select
        metric,
        in_numerator,
        segment,
        first_month,
        last_month
    from memberships
    where not may_overlap

    union all

    select
        metric,
        in_numerator,
        segment,
        island_start as first_month,
        island_end as last_month
    from merged
),

-- each island adds one from its first window and takes it away after its last
segment_steps as (
    select
        metric,
        segment,
        window_month,
        sum(case when in_numerator then step else 0 end) as numerator_step,
        sum(case when in_numerator then 0 else step end) as denominator_step
    from (
        select
            metric,
            segment,
            in_numerator,
            first_month as window_month,
            1 as step
        from islands

        union all

        select
            metric,
            segment,
            in_numerator,
            last_month + 1 as window_month,
            -1 as step
        from islands
    ) as changes
    group by metric, segment, window_month
),

steps as (
    select
        metric,
        segment,
        window_month,
        numerator_step,
        denominator_step
    from segment_steps

    union all

    select
        metric,
        'all' as segment,
        window_month,
        sum(numerator_step) as numerator_step,
        sum(denominator_step) as denominator_step
    from segment_steps
    where segment != 'all' and metric != 'returned_home_rate'
    group by metric, window_month
),

metrics as (
    {{ outcome_metric_rows() }}
),

segments as (
    {{ outcome_segment_rows() }}
),

counts as (
    select
        windows.window_name,
        windows.window_month,
        windows.window_start,
        windows.window_end,
        segments.segment,
        metrics.metric,
        sum(coalesce(steps.numerator_step, 0)) over (
            partition by segments.segment, metrics.metric
            order by windows.window_month
            rows between unbounded preceding and current row
        ) as numerator,
        sum(coalesce(steps.denominator_step, 0)) over (
            partition by segments.segment, metrics.metric
            order by windows.window_month
            rows between unbounded preceding and current row
        ) as denominator
    from {{ ref('int_trend_windows') }} as windows
    cross join segments
    cross join metrics
    left join steps
        on
            windows.window_month = steps.window_month
            and segments.segment = steps.segment
            and metrics.metric = steps.metric
)

select
    counts.window_name,
    counts.window_start,
    counts.window_end,
    counts.segment,
    counts.metric,
    cast(counts.numerator as bigint) as numerator,
    cast(counts.denominator as bigint) as denominator,
    case
        when counts.denominator > 0 then cast(counts.numerator as double precision) / counts.denominator
    end as rate,
    {{ wilson_bound('counts.numerator', 'counts.denominator', 'low') }} as ci_low,
    {{ wilson_bound('counts.numerator', 'counts.denominator', 'high') }} as ci_high,
    false as suppressed,
    current_snapshot.as_of_date
from counts
cross join {{ ref('stg_ssd__current_snapshot') }} as current_snapshot
