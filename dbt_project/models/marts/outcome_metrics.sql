-- Outcome metrics (metrics.md), unsuppressed: every window x segment (each units-seed segment,
-- `unassigned` and `all`) x metric, even when 0 / 0 (rate NULL when the denominator is 0).
-- Each metric is a set of counted units (cases, referrals, CP plans or children) with a numerator
-- flag; `all` counts distinct units over every segment (a child in two segments counts once).
with counted as (
    select
        window_name,
        segment,
        'de_escalation_rate' as metric,
        case_key as unit_key,
        has_de_escalation as in_numerator
    from {{ ref('fct_case_windows') }}
    where in_de_escalation_denominator

    union all

    select
        window_name,
        segment,
        'de_escalation_cp_to_cin_share' as metric,
        case_key as unit_key,
        first_de_escalation_type = 'CP_to_CIN' as in_numerator
    from {{ ref('fct_case_windows') }}
    where has_de_escalation

    union all

    select
        window_name,
        segment,
        'de_escalation_lac_to_cin_share' as metric,
        case_key as unit_key,
        first_de_escalation_type = 'LAC_to_CIN' as in_numerator
    from {{ ref('fct_case_windows') }}
    where has_de_escalation

    union all

    select
        window_name,
        segment,
        'closure_rate' as metric,
        case_key as unit_key,
        is_closed_in_window as in_numerator
    from {{ ref('fct_case_windows') }}

    union all

    select
        window_name,
        segment,
        'closure_nfa_share' as metric,
        case_key as unit_key,
        is_closed_with_rc8 as in_numerator
    from {{ ref('fct_case_windows') }}
    where is_closed_in_window

    union all

    select
        window_name,
        segment,
        'closed_last_on_cin_plan_share' as metric,
        case_key as unit_key,
        is_closed_last_on_cin_plan as in_numerator
    from {{ ref('fct_case_windows') }}
    where is_closed_in_window

    union all

    select
        window_name,
        segment,
        're_referral_rate' as metric,
        referral_key as unit_key,
        is_re_referral as in_numerator
    from {{ ref('fct_referral_windows') }}

    union all

    select
        window_name,
        segment,
        're_referral_after_closure_rate' as metric,
        case_key as unit_key,
        is_re_referred_after_closure as in_numerator
    from {{ ref('fct_case_windows') }}
    where in_re_referral_after_closure_denominator

    union all

    select
        window_name,
        segment,
        'repeat_cp_plan_rate' as metric,
        plan_episode_id as unit_key,
        is_repeat as in_numerator
    from {{ ref('fct_cp_plan_windows') }}
    where starts_in_window

    union all

    select
        window_name,
        segment,
        'cp_plan_2yr_plus_rate' as metric,
        plan_episode_id as unit_key,
        lasted_2_years_plus as in_numerator
    from {{ ref('fct_cp_plan_windows') }}
    where ends_in_window

    union all

    select
        window_name,
        segment,
        'returned_home_rate' as metric,
        child_key as unit_key,
        ends_in_window_returned_home as in_numerator
    from {{ ref('fct_period_of_care_windows') }}
),

-- per segment, and `all` (distinct units over every segment) from the same pass: grouping sets
-- rather than a second copy of every counted row
counts as (
    select
        window_name,
        metric,
        case when grouping(segment) = 1 then 'all' else segment end as segment,
        count(distinct case when in_numerator then unit_key end) as numerator,
        count(distinct unit_key) as denominator
    from counted
    group by window_name, metric, rollup(segment)
),

metrics as (
    {{ outcome_metric_rows() }}
),

segments as (
    {{ outcome_segment_rows() }}
),

grid as (
    select
        windows.window_name,
        windows.window_start,
        windows.window_end,
        segments.segment,
        metrics.metric
    from {{ ref('programme_windows') }} as windows
    cross join segments
    cross join metrics
)

select
    grid.window_name,
    grid.window_start,
    grid.window_end,
    grid.segment,
    grid.metric,
    coalesce(counts.numerator, 0) as numerator,
    coalesce(counts.denominator, 0) as denominator,
    case
        when coalesce(counts.denominator, 0) > 0
            then cast(counts.numerator as double precision) / counts.denominator
    end as rate,
    {{ wilson_bound('coalesce(counts.numerator, 0)', 'coalesce(counts.denominator, 0)', 'low') }}
        as ci_low,
    {{ wilson_bound('coalesce(counts.numerator, 0)', 'coalesce(counts.denominator, 0)', 'high') }}
        as ci_high,
    false as suppressed,
    current_snapshot.as_of_date
from grid
cross join {{ ref('stg_ssd__current_snapshot') }} as current_snapshot
left join counts
    on
        grid.window_name = counts.window_name
        and grid.segment = counts.segment
        and grid.metric = counts.metric
