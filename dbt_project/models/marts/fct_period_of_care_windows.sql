-- One row per window and period of care active in it (child-level metrics count distinct children).
with windows as (
    select
        window_name,
        window_start,
        window_end
    from {{ ref('programme_windows') }}
)

select
    windows.window_name,
    windows.window_start,
    windows.window_end,
    periods.plan_episode_id,
    periods.child_key,
    periods.case_key,
    coalesce(segments.segment, 'unassigned') as segment,
    periods.start_date,
    periods.end_date,
    periods.end_reason,
    coalesce(
        periods.end_date between windows.window_start and windows.window_end, false
    ) as ends_in_window,
    coalesce(
        periods.end_date between windows.window_start and windows.window_end, false
    ) and periods.ended_returned_home as ends_in_window_returned_home
from {{ ref('int_plan_episodes') }} as periods
inner join windows
    on
        periods.start_date <= windows.window_end
        and (periods.end_date is null or periods.end_date >= windows.window_start)
left join {{ ref('int_case_segments') }} as segments
    on
        windows.window_name = segments.window_name
        and periods.case_key = segments.referral_key
where periods.plan_type = 'LAC'
