-- Periods of care (metrics.md): maximal chains of a child's episodes in which every episode but the
-- last ceased X1 and the next one started on that same date. Gaps and islands: an episode starts a
-- new period unless the child's previous episode (by start date) ceased X1 on its start date.
with episodes as (
    select
        cla_episode_key,
        child_key,
        referral_key,
        start_date,
        ceased_date,
        ceased_reason,
        lag(ceased_reason) over child_order as previous_ceased_reason,
        lag(ceased_date) over child_order as previous_ceased_date
    from {{ ref('stg_ssd__cla_episodes') }}
    window child_order as (
        partition by child_key
        order by start_date, ceased_date nulls last, cla_episode_key
    )
),

flagged as (
    select
        *,
        case
            when previous_ceased_reason = 'X1' and previous_ceased_date = start_date then 0
            else 1
        end as starts_period
    from episodes
),

numbered as (
    select
        *,
        sum(starts_period) over (
            partition by child_key
            order by start_date, ceased_date nulls last, cla_episode_key
            rows between unbounded preceding and current row
        ) as period_number
    from flagged
),

ordered as (
    select
        *,
        row_number() over (
            partition by child_key, period_number
            order by start_date, ceased_date nulls last, cla_episode_key
        ) as position_first,
        row_number() over (
            partition by child_key, period_number
            order by start_date desc, ceased_date desc nulls first, cla_episode_key desc
        ) as position_last,
        count(*) over (partition by child_key, period_number) as episode_count
    from numbered
),

first_episodes as (
    select
        child_key,
        period_number,
        cla_episode_key,
        referral_key,
        start_date,
        episode_count
    from ordered
    where position_first = 1
),

last_episodes as (
    select
        child_key,
        period_number,
        ceased_date,
        ceased_reason
    from ordered
    where position_last = 1
)

select
    first_episodes.cla_episode_key as period_of_care_key,
    first_episodes.child_key,
    first_episodes.referral_key,
    first_episodes.start_date,
    last_episodes.ceased_date as end_date,
    last_episodes.ceased_reason as end_reason,
    coalesce(reasons.returned_home, false) as ended_returned_home,
    first_episodes.episode_count
from first_episodes
inner join last_episodes
    on
        first_episodes.child_key = last_episodes.child_key
        and first_episodes.period_number = last_episodes.period_number
left join {{ ref('ref_reasons_episode_ceased') }} as reasons
    on last_episodes.ceased_reason = reasons.code
