-- One row per window and case active in it, with the flags the case-level metrics count.
with windows as (
    select
        window_name,
        window_start,
        window_end
    from {{ ref('programme_windows') }}
),

cases as (
    select
        case_key,
        child_key,
        referral_date,
        close_date,
        close_reason,
        closed_with_rc8,
        closed_last_on_cin_plan,
        closure_followed_12_months,
        re_referred_after_closure
    from {{ ref('int_case_outcomes') }}
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
        cases.close_reason,
        cases.closed_with_rc8,
        cases.closed_last_on_cin_plan,
        cases.closure_followed_12_months,
        cases.re_referred_after_closure
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

flags as (
    select
        case_windows.*,
        segments.segment,
        high_plan_active.case_key is not null as in_de_escalation_denominator,
        first_de_escalation.de_escalation_type as first_de_escalation_type,
        coalesce(
            case_windows.close_date between case_windows.window_start and case_windows.window_end,
            false
        ) as is_closed_in_window
    from case_windows
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
    is_closed_in_window and closed_with_rc8 as is_closed_with_rc8,
    is_closed_in_window and closed_last_on_cin_plan as is_closed_last_on_cin_plan,
    is_closed_in_window and closure_followed_12_months as in_re_referral_after_closure_denominator,
    is_closed_in_window and closure_followed_12_months
    and re_referred_after_closure as is_re_referred_after_closure
from flags
