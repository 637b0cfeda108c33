-- For every ended plan episode P, its next plan (metrics.md): the child's plan episode Q of another
-- kind with Q.start > P.start and |Q.start - P.end| <= transition_window_days; the nearest start to
-- P's end wins, ties to the higher level (then the earlier start, then the id). No next plan: exit.
{%- set window_days = var('transition_window_days', 7) | int %}

with plans as (
    select
        plan_episode_id,
        plan_type,
        level,
        child_key,
        case_key,
        start_date,
        end_date
    from {{ ref('int_plan_episodes') }}
),

ended as (
    select * from plans
    where end_date is not null
),

candidates as (
    select
        ended.plan_episode_id as from_plan_episode_id,
        next_plan.plan_episode_id as to_plan_episode_id,
        next_plan.plan_type as to_type,
        next_plan.level as to_level,
        next_plan.start_date as to_start_date,
        row_number() over (
            partition by ended.plan_episode_id
            order by
                abs({{ dbt.datediff('ended.end_date', 'next_plan.start_date', 'day') }}),
                next_plan.level desc,
                next_plan.start_date asc,
                next_plan.plan_episode_id asc
        ) as preference
    from ended
    inner join plans as next_plan
        on
            ended.child_key = next_plan.child_key
            and ended.plan_type <> next_plan.plan_type
            and ended.start_date < next_plan.start_date
            and next_plan.start_date >= {{ add_days('ended.end_date', -window_days) }}
            and next_plan.start_date <= {{ add_days('ended.end_date', window_days) }}
)

select
    ended.plan_episode_id as from_plan_episode_id,
    candidates.to_plan_episode_id,
    ended.child_key,
    ended.case_key as from_case_key,
    ended.plan_type as from_type,
    candidates.to_type,
    ended.level as from_level,
    candidates.to_level,
    case
        when candidates.to_plan_episode_id is null then 'exit'
        when candidates.to_level < ended.level then 'de_escalation'
        else 'escalation'
    end as direction,
    ended.start_date as from_start_date,
    ended.end_date as from_end_date,
    candidates.to_start_date
from ended
left join candidates
    on
        ended.plan_episode_id = candidates.from_plan_episode_id
        and candidates.preference = 1
