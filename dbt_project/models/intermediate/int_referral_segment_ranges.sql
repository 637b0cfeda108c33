-- The segment of every referral in every trend window, as ranges of window months (metrics.md:
-- the team of the involvement linked to the referral with the latest start on or before the
-- window's end; without one, cine_referral_team; otherwise `unassigned`), so that the trends need
-- no row per referral and window. A window ending with month e sees the involvements that started
-- in months up to e, and the latest of those started in the latest such month: so the team
-- changes only at months in which an involvement started, to the one that month's ordering
-- (int_case_segments': the later start, the later end, open first, the lower team id) puts
-- first. Ranges of one referral do not overlap; the first starts at the first trend window and
-- the last ends at the last one (windows outside them are never asked for).
with windows as (
    {{ trend_window_bounds() }}
),

-- the team each month of involvement starts hands the referral to
monthly_teams as (
    select
        referral_key,
        {{ month_index('start_date') }} as start_month,
        {{ first_ordered(
            'team_id', 'start_date desc, end_date desc nulls first, team_id asc'
        ) }} as team_id
    from {{ ref('stg_ssd__involvements') }}
    where referral_key is not null
    group by referral_key, {{ month_index('start_date') }}
),

involvement_ranges as (
    select
        monthly_teams.referral_key,
        monthly_teams.team_id,
        'involvement' as segment_source,
        monthly_teams.start_month as first_month,
        coalesce(
            lead(monthly_teams.start_month) over (
                partition by monthly_teams.referral_key order by monthly_teams.start_month
            ) - 1,
            windows.last_window_month
        ) as last_month
    from monthly_teams
    cross join windows
),

first_involvements as (
    select
        referral_key,
        min(start_month) as start_month
    from monthly_teams
    group by referral_key
),

-- before the first involvement (or always, without one): the referral's own team
referral_team_ranges as (
    select
        referrals.referral_key,
        referrals.referral_team_id as team_id,
        case
            when referrals.referral_team_id is not null then 'referral_team' else 'none'
        end as segment_source,
        windows.first_window_month as first_month,
        coalesce(first_involvement.start_month - 1, windows.last_window_month) as last_month
    from {{ ref('stg_ssd__cin_episodes') }} as referrals
    cross join windows
    left join first_involvements as first_involvement
        on referrals.referral_key = first_involvement.referral_key
),

ranges as (
    select * from involvement_ranges
    union all
    select * from referral_team_ranges
)

select
    ranges.referral_key,
    ranges.team_id,
    ranges.segment_source,
    coalesce(units.segment, 'unassigned') as segment,
    greatest(ranges.first_month, windows.first_window_month) as first_month,
    least(ranges.last_month, windows.last_window_month) as last_month
from ranges
cross join windows
left join {{ ref('units') }} as units
    on ranges.team_id = units.team_id
where
    greatest(ranges.first_month, windows.first_window_month)
    <= least(ranges.last_month, windows.last_window_month)
