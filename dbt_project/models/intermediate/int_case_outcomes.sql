-- One row per case with what its case-level metrics need that does not depend on the window
-- (metrics.md): how it closed, its own latest plan episode started on or before the close date,
-- and whether the child was referred again within 12 months of the close. fct_case_windows (the
-- programme windows) and int_trend_memberships (the trends) both read it.
with cases as (
    select
        case_key,
        child_key,
        referral_date,
        close_date,
        close_reason
    from {{ ref('int_cases') }}
),

-- own latest plan episode started on or before the close date (ties on start to the higher level)
last_plan_before_close as (
    select
        cases.case_key,
        episodes.plan_type,
        row_number() over (
            partition by cases.case_key
            order by episodes.start_date desc, episodes.level desc, episodes.plan_episode_id asc
        ) as recency
    from cases
    inner join {{ ref('int_plan_episodes') }} as episodes
        on
            cases.case_key = episodes.case_key
            and cases.close_date >= episodes.start_date
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
)

select
    cases.case_key,
    cases.child_key,
    cases.referral_date,
    cases.close_date,
    cases.close_reason,
    coalesce(cases.close_reason = 'RC8', false) as closed_with_rc8,
    last_plan_before_close.plan_type as last_plan_type_before_close,
    coalesce(last_plan_before_close.plan_type = 'CIN', false) as closed_last_on_cin_plan,
    coalesce(
        {{ add_months('cases.close_date', 12) }} <= current_snapshot.as_of_date, false
    ) as closure_followed_12_months,
    re_referred_after_closure.case_key is not null as re_referred_after_closure
from cases
cross join {{ ref('stg_ssd__current_snapshot') }} as current_snapshot
left join last_plan_before_close
    on
        cases.case_key = last_plan_before_close.case_key
        and last_plan_before_close.recency = 1
left join re_referred_after_closure
    on cases.case_key = re_referred_after_closure.case_key
