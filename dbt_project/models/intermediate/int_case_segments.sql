-- Segment of every referral (case or NFA) in every window (metrics.md): the units-seed segment of
-- the team of the involvement linked to it (invo_referral_id) with the latest start on or before the
-- window's end; without one, of cine_referral_team; otherwise `unassigned` (also for a team missing
-- from the units seed). Besides the seed's windows, a row per referral for the pseudo-window
-- `as_of_date` (window end = as_of_date) gives the current segment used by the plan_episodes mart.
with windows as (
    select
        window_name,
        window_end
    from {{ ref('programme_windows') }}

    union all

    select
        'as_of_date' as window_name,
        as_of_date as window_end
    from {{ ref('stg_ssd__current_snapshot') }}
),

referrals as (
    select
        referral_key,
        referral_team_id
    from {{ ref('stg_ssd__cin_episodes') }}
),

-- the team of the latest involvement started by the window's end (ties: the later end, open first,
-- then the lower team id; involvements tied on all three name the same team). One ordered
-- aggregate per window and referral: no row number over every involvement of every window.
latest_involvement as (
    select
        windows.window_name,
        involvements.referral_key,
        {{ first_ordered(
            'involvements.team_id',
            'involvements.start_date desc, involvements.end_date desc nulls first,'
            ~ ' involvements.team_id asc'
        ) }} as team_id
    from {{ ref('stg_ssd__involvements') }} as involvements
    inner join windows
        on involvements.start_date <= windows.window_end
    where involvements.referral_key is not null
    group by windows.window_name, involvements.referral_key
),

resolved as (
    select
        windows.window_name,
        referrals.referral_key,
        case
            when latest_involvement.referral_key is not null then 'involvement'
            when referrals.referral_team_id is not null then 'referral_team'
            else 'none'
        end as segment_source,
        case
            when latest_involvement.referral_key is not null then latest_involvement.team_id
            else referrals.referral_team_id
        end as team_id
    from referrals
    cross join windows
    left join latest_involvement
        on
            referrals.referral_key = latest_involvement.referral_key
            and windows.window_name = latest_involvement.window_name
)

select
    resolved.window_name,
    resolved.referral_key,
    resolved.team_id,
    resolved.segment_source,
    coalesce(units.segment, 'unassigned') as segment
from resolved
left join {{ ref('units') }} as units
    on resolved.team_id = units.team_id
