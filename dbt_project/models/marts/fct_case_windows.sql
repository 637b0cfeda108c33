-- One row per window and case active in it, with the flags the case-level metrics count.
with windows as (
    select
        window_name,
        window_start,
        window_end
    from {{ ref('programme_windows') }}
),

current_snapshot as (
    select as_of_date from {{ ref('stg_ssd__current_snapshot') }}
),

cases as (
    select
        case_key,
        child_key,
        referral_date,
        close_date,
        close_reason
    from {{ ref('int_cases') }}
),

plans as (
    select
        plan_episode_id,
        case_key,
        plan_type,
        level,
        start_date,
        end_date
    from {{ ref('int_plan_episodes') }}
    where case_key is not null
),

case_windows as (
    select
        windows.window_name,
        windows.window_start,
        windows.window_end,
        cases.case_key,
        cases.child_key,
        cases.referral_date,
        cases.close_date,
        cases.close_reason
    from cases
    inner join windows
        on
            cases.referral_date <= windows.window_end
            and (cases.close_date is null or cases.close_date >= windows.window_start)
),

-- own CP plan or period of care active in the window
high_plan_active as (
    select distinct
        windows.window_name,
        plans.case_key
    from plans
    inner join windows
        on
            plans.start_date <= windows.window_end
            and (plans.end_date is null or plans.end_date >= windows.window_start)
    where plans.level >= 2
),

-- de-escalations from own plan episodes that ended in the window, the first one first
de_escalations as (
    select
        windows.window_name,
        transitions.from_case_key as case_key,
        transitions.from_type || '_to_' || transitions.to_type as de_escalation_type,
        row_number() over (
            partition by windows.window_name, transitions.from_case_key
            order by
                transitions.from_end_date asc,
                transitions.to_start_date asc,
                transitions.from_level desc,
                transitions.from_plan_episode_id asc
        ) as sequence_number
    from {{ ref('int_plan_transitions') }} as transitions
    inner join windows
        on transitions.from_end_date between windows.window_start and windows.window_end
    where
        transitions.direction = 'de_escalation'
        and transitions.from_case_key is not null
),

-- own latest plan episode started on or before the close date (ties on start to the higher level)
last_plan_before_close as (
    select
        cases.case_key,
        plans.plan_type,
        row_number() over (
            partition by cases.case_key
            order by plans.start_date desc, plans.level desc, plans.plan_episode_id asc
        ) as recency
    from cases
    inner join plans
        on
            cases.case_key = plans.case_key
            and cases.close_date >= plans.start_date
    where cases.close_date is not null
),

-- the child was referred again in (close date, close date + 12 months]
re_referred_after_closure as (
    select distinct cases.case_key
    from cases
    inner join {{ ref('stg_ssd__cin_episodes') }} as referrals
        on
            cases.child_key = referrals.child_key
            and cases.close_date < referrals.referral_date
            and referrals.referral_date <= {{ add_months('cases.close_date', 12) }}
    where cases.close_date is not null
),

flags as (
    select
        case_windows.*,
        segments.segment,
        high_plan_active.case_key is not null as in_de_escalation_denominator,
        first_de_escalation.de_escalation_type as first_de_escalation_type,
        coalesce(
            case_windows.close_date between case_windows.window_start and case_windows.window_end,
            false
        ) as is_closed_in_window,
        last_plan_before_close.plan_type as last_plan_type_before_close,
        re_referred_after_closure.case_key is not null as has_re_referral_after_closure,
        coalesce(
            {{ add_months('case_windows.close_date', 12) }} <= current_snapshot.as_of_date, false
        ) as closure_followed_12_months
    from case_windows
    cross join current_snapshot
    left join {{ ref('int_case_segments') }} as segments
        on
            case_windows.window_name = segments.window_name
            and case_windows.case_key = segments.referral_key
    left join high_plan_active
        on
            case_windows.window_name = high_plan_active.window_name
            and case_windows.case_key = high_plan_active.case_key
    left join de_escalations as first_de_escalation
        on
            case_windows.window_name = first_de_escalation.window_name
            and case_windows.case_key = first_de_escalation.case_key
            and first_de_escalation.sequence_number = 1
    left join last_plan_before_close
        on
            case_windows.case_key = last_plan_before_close.case_key
            and last_plan_before_close.recency = 1
    left join re_referred_after_closure
        on case_windows.case_key = re_referred_after_closure.case_key
)

select
    window_name,
    window_start,
    window_end,
    case_key,
    child_key,
    coalesce(segment, 'unassigned') as segment,
    referral_date,
    close_date,
    close_reason,
    in_de_escalation_denominator,
    in_de_escalation_denominator and first_de_escalation_type is not null as has_de_escalation,
    case
        when in_de_escalation_denominator then first_de_escalation_type
    end as first_de_escalation_type,
    is_closed_in_window,
    is_closed_in_window and coalesce(close_reason = 'RC8', false) as is_closed_with_rc8,
    is_closed_in_window
    and coalesce(last_plan_type_before_close = 'CIN', false) as is_closed_last_on_cin_plan,
    is_closed_in_window and closure_followed_12_months as in_re_referral_after_closure_denominator,
    is_closed_in_window and closure_followed_12_months
    and has_re_referral_after_closure as is_re_referred_after_closure
from flags
