-- Plan episodes of the three kinds with their level and their case (metrics.md):
-- the case named by the plan's referral id when that referral is a case (not NFA); otherwise the
-- child's case open on the plan's start date, the latest referral date if several; otherwise none.
with plans as (
    select
        cin_plan_key as plan_episode_id,
        'CIN' as plan_type,
        1 as level,
        child_key,
        referral_key,
        start_date,
        end_date,
        cast(null as varchar) as end_reason,
        false as ended_returned_home
    from {{ ref('stg_ssd__cin_plans') }}

    union all

    select
        cp_plan_key as plan_episode_id,
        'CP' as plan_type,
        2 as level,
        child_key,
        referral_key,
        start_date,
        end_date,
        cast(null as varchar) as end_reason,
        false as ended_returned_home
    from {{ ref('stg_ssd__cp_plans') }}

    union all

    select
        period_of_care_key as plan_episode_id,
        'LAC' as plan_type,
        3 as level,
        child_key,
        referral_key,
        start_date,
        end_date,
        end_reason,
        ended_returned_home
    from {{ ref('int_periods_of_care') }}
),

cases as (
    select
        case_key,
        child_key,
        referral_date,
        close_date
    from {{ ref('int_cases') }}
),

-- the referral id names a case
named_case as (
    select
        plans.plan_episode_id,
        cases.case_key
    from plans
    inner join cases
        on plans.referral_key = cases.case_key
),

-- otherwise: the child's cases open on the plan's start date, latest referral date first (one
-- ordered aggregate per plan rather than a row number over every candidate pair)
open_case as (
    select
        plans.plan_episode_id,
        {{ first_ordered(
            'cases.case_key',
            'cases.referral_date desc, cases.close_date desc nulls first, cases.case_key asc'
        ) }} as case_key
    from plans
    inner join cases
        on
            plans.child_key = cases.child_key
            and plans.start_date >= cases.referral_date
            and (cases.close_date is null or plans.start_date <= cases.close_date)
    -- not exists, not `not in`: PostgreSQL runs a `not in` over a large subquery row by row
    where
        not exists (
            select 1
            from named_case
            where named_case.plan_episode_id = plans.plan_episode_id
        )
    group by plans.plan_episode_id
)

select
    plans.plan_episode_id,
    plans.plan_type,
    plans.level,
    plans.child_key,
    plans.referral_key,
    coalesce(named_case.case_key, open_case.case_key) as case_key,
    case
        when named_case.case_key is not null then 'referral'
        when open_case.case_key is not null then 'open_on_start'
        else 'none'
    end as case_source,
    plans.start_date,
    plans.end_date,
    plans.end_reason,
    plans.ended_returned_home
from plans
left join named_case
    on plans.plan_episode_id = named_case.plan_episode_id
left join open_case
    on plans.plan_episode_id = open_case.plan_episode_id
