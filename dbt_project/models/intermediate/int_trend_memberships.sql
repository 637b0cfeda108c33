-- What the trends count, as ranges of window months instead of a row per unit and window
-- (outcome_trends): one row per metric, counted unit (a case, referral, CP plan or child, as
-- metrics.md's table says), segment, and range [first_month, last_month] of the window months e
-- whose rolling 12-month window (months e - 11 to e) has the unit in the metric's denominator
-- (`in_numerator` false) or numerator (true). A unit's numerator months are among its denominator
-- months; ranges of one unit may overlap (a child with two periods of care), and outcome_trends
-- counts each unit once per window.
--
-- The window arithmetic, for a window months e - 11 to e (month_index):
--   * a date d lies in the window when e is in [m(d), m(d) + 11];
--   * an interval [a, b] (b NULL = open) is active in it when e is in [m(a), m(b) + 11].
-- The metrics, W being the window (the definitions of metrics.md, checked against
-- fct_*_windows window by window in tests/test_trends.py):
--   * closure_rate: the case active in W (A); numerator: closed in W (C, inside A).
--   * closure_nfa_share, closed_last_on_cin_plan_share: C; numerator: C when closed with RC8 /
--     last on a CIN plan. re_referral_after_closure_rate: C when followed up 12 months by
--     as_of_date; numerator: and referred again.
--   * de_escalation_rate: A and one of the case's own CP plans or periods of care active in W;
--     numerator: A and a de-escalation from one of them ending in W (D; a de-escalation's plan is
--     a CP plan or a period of care of the case, active wherever D is, so D needs no more).
--   * the de-escalation shares: D and A; numerator: the first de-escalation ending in W (by end,
--     then the next plan's start, the higher level, the id) is of that type. The i-th is first
--     in W exactly when it ends in W and the one before it ends before W: e in
--     [max(m(end_i), m(end_i-1) + 12), m(end_i) + 11].
--   * re_referral_rate: the referral dated in W; numerator: a re-referral.
--   * repeat_cp_plan_rate, cp_plan_2yr_plus_rate: the CP plan starts / ends in W; numerator: a
--     repeat / lasted two years or more.
--   * returned_home_rate: the child's period of care active in W; numerator: the period ends in
--     W and the child returned home.
-- Each range is then cut by the segment ranges of the unit's case or referral
-- (int_referral_segment_ranges); a unit with no case is `unassigned` throughout.
with windows as (
    {{ trend_window_bounds() }}
),

cases as (
    select
        case_key,
        {{ month_index('referral_date') }} as referral_month,
        {{ month_index('close_date') }} as close_month,
        closed_with_rc8,
        closed_last_on_cin_plan,
        closure_followed_12_months,
        re_referred_after_closure
    from {{ ref('int_case_outcomes') }}
),

-- A: the case is active; C: it closed in the window
case_ranges as (
    select
        cases.case_key,
        cases.close_month,
        cases.closed_with_rc8,
        cases.closed_last_on_cin_plan,
        cases.closure_followed_12_months,
        cases.re_referred_after_closure,
        cases.referral_month as active_first,
        coalesce(cases.close_month + 11, windows.last_window_month) as active_last
    from cases
    cross join windows
),

high_plans as (
    select
        case_key,
        {{ month_index('start_date') }} as first_month,
        coalesce({{ month_index('end_date') }} + 11, 99999) as last_month
    from {{ ref('int_plan_episodes') }}
    where case_key is not null and level >= 2
),

de_escalations as (
    select
        from_case_key as case_key,
        from_type || '_to_' || to_type as de_escalation_type,
        {{ month_index('from_end_date') }} as end_month,
        lag({{ month_index('from_end_date') }}) over (
            partition by from_case_key
            order by
                from_end_date asc,
                to_start_date asc,
                from_level desc,
                from_plan_episode_id asc
        ) as previous_end_month
    from {{ ref('int_plan_transitions') }}
    where direction = 'de_escalation' and from_case_key is not null
),

case_memberships as (
    select
        'closure_rate' as metric,
        case_key as unit_key,
        case_key as referral_key,
        false as in_numerator,
        active_first as first_month,
        active_last as last_month
    from case_ranges

    union all

    select
        metric.name as metric,
        case_ranges.case_key as unit_key,
        case_ranges.case_key as referral_key,
        counts.in_numerator,
        case_ranges.close_month as first_month,
        case_ranges.close_month + 11 as last_month
    from case_ranges
    cross join (
        values
        ('closure_rate'),
        ('closure_nfa_share'),
        ('closed_last_on_cin_plan_share'),
        ('re_referral_after_closure_rate')
    ) as metric (name)
    cross join (values (false), (true)) as counts (in_numerator)
    where
        case_ranges.close_month is not null
        and (metric.name != 'closure_rate' or counts.in_numerator)
        and (metric.name != 're_referral_after_closure_rate' or case_ranges.closure_followed_12_months)
        and (
            not counts.in_numerator
            or case metric.name
                when 'closure_rate' then true
                when 'closure_nfa_share' then case_ranges.closed_with_rc8
                when 'closed_last_on_cin_plan_share' then case_ranges.closed_last_on_cin_plan
                else case_ranges.re_referred_after_closure
            end
        )

    union all

    select
        'de_escalation_rate' as metric,
        case_ranges.case_key as unit_key,
        case_ranges.case_key as referral_key,
        false as in_numerator,
        greatest(high_plans.first_month, case_ranges.active_first) as first_month,
        least(high_plans.last_month, case_ranges.active_last) as last_month
    from case_ranges
    inner join high_plans
        on case_ranges.case_key = high_plans.case_key

    union all

    select
        metric.name as metric,
        case_ranges.case_key as unit_key,
        case_ranges.case_key as referral_key,
        metric.name = 'de_escalation_rate' as in_numerator,
        greatest(de_escalations.end_month, case_ranges.active_first) as first_month,
        least(de_escalations.end_month + 11, case_ranges.active_last) as last_month
    from case_ranges
    inner join de_escalations
        on case_ranges.case_key = de_escalations.case_key
    cross join (
        values
        ('de_escalation_rate'),
        ('de_escalation_cp_to_cin_share'),
        ('de_escalation_lac_to_cin_share')
    ) as metric (name)

    union all

    select
        'de_escalation_' || lower(de_escalations.de_escalation_type) || '_share' as metric,
        case_ranges.case_key as unit_key,
        case_ranges.case_key as referral_key,
        true as in_numerator,
        greatest(
            de_escalations.end_month,
            coalesce(de_escalations.previous_end_month + 12, de_escalations.end_month),
            case_ranges.active_first
        ) as first_month,
        least(de_escalations.end_month + 11, case_ranges.active_last) as last_month
    from case_ranges
    inner join de_escalations
        on case_ranges.case_key = de_escalations.case_key
    where de_escalations.de_escalation_type in ('CP_to_CIN', 'LAC_to_CIN')
),

referral_memberships as (
    select
        're_referral_rate' as metric,
        referrals.referral_key as unit_key,
        referrals.referral_key,
        counts.in_numerator,
        {{ month_index('referrals.referral_date') }} as first_month,
        {{ month_index('referrals.referral_date') }} + 11 as last_month
    from {{ ref('int_referral_outcomes') }} as referrals
    cross join (values (false), (true)) as counts (in_numerator)
    where not counts.in_numerator or referrals.is_re_referral
),

cp_plan_memberships as (
    select
        cp_plans.metric,
        cp_plans.plan_episode_id as unit_key,
        cp_plans.case_key as referral_key,
        counts.in_numerator,
        {{ month_index('cp_plans.dated') }} as first_month,
        {{ month_index('cp_plans.dated') }} + 11 as last_month
    from (
        -- a plan counts where it starts (repeat_cp_plan_rate) and where it ends
        select
            'repeat_cp_plan_rate' as metric,
            plan_episode_id,
            case_key,
            start_date as dated,
            is_repeat as counted
        from {{ ref('int_cp_plans') }}

        union all

        select
            'cp_plan_2yr_plus_rate' as metric,
            plan_episode_id,
            case_key,
            end_date as dated,
            lasted_2_years_plus as counted
        from {{ ref('int_cp_plans') }}
        where end_date is not null
    ) as cp_plans
    cross join (values (false), (true)) as counts (in_numerator)
    where not counts.in_numerator or cp_plans.counted
),

care_memberships as (
    select
        'returned_home_rate' as metric,
        periods.child_key as unit_key,
        periods.case_key as referral_key,
        counts.in_numerator,
        case
            when counts.in_numerator then {{ month_index('periods.end_date') }}
            else {{ month_index('periods.start_date') }}
        end as first_month,
        coalesce({{ month_index('periods.end_date') }} + 11, 99999) as last_month
    from {{ ref('int_plan_episodes') }} as periods
    cross join (values (false), (true)) as counts (in_numerator)
    where
        periods.plan_type = 'LAC'
        and (not counts.in_numerator or coalesce(periods.ended_returned_home, false))
),

memberships as (
    select * from case_memberships
    union all
    select * from referral_memberships
    union all
    select * from cp_plan_memberships
    union all
    select * from care_memberships
),

-- within the trend windows
clipped as (
    select
        memberships.metric,
        cast(memberships.unit_key as varchar) as unit_key,
        memberships.referral_key,
        memberships.in_numerator,
        greatest(memberships.first_month, windows.first_window_month) as first_month,
        least(memberships.last_month, windows.last_window_month) as last_month
    from memberships
    cross join windows
    where
        greatest(memberships.first_month, windows.first_window_month)
        <= least(memberships.last_month, windows.last_window_month)
)

-- cut by the segment of the unit's case or referral
select
    clipped.metric,
    clipped.unit_key,
    coalesce(segments.segment, 'unassigned') as segment,
    clipped.in_numerator,
    greatest(clipped.first_month, coalesce(segments.first_month, clipped.first_month))
        as first_month,
    least(clipped.last_month, coalesce(segments.last_month, clipped.last_month)) as last_month
from clipped
left join {{ ref('int_referral_segment_ranges') }} as segments
    on
        clipped.referral_key = segments.referral_key
        and clipped.last_month >= segments.first_month
        and clipped.first_month <= segments.last_month
