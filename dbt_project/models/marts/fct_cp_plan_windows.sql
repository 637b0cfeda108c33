-- One row per window and CP plan starting or ending in it, with the repeat and two-years-plus flags.
with windows as (
    select
        window_name,
        window_start,
        window_end
    from {{ ref('programme_windows') }}
),

cp_plans as (
    select * from {{ ref('int_cp_plans') }}
)

select
    windows.window_name,
    windows.window_start,
    windows.window_end,
    cp_plans.plan_episode_id,
    cp_plans.child_key,
    cp_plans.case_key,
    coalesce(segments.segment, 'unassigned') as segment,
    cp_plans.start_date,
    cp_plans.end_date,
    cp_plans.start_date between windows.window_start and windows.window_end as starts_in_window,
    coalesce(
        cp_plans.end_date between windows.window_start and windows.window_end, false
    ) as ends_in_window,
    cp_plans.is_repeat,
    cp_plans.lasted_2_years_plus
from cp_plans
inner join windows
    on
        cp_plans.start_date between windows.window_start and windows.window_end
        or cp_plans.end_date between windows.window_start and windows.window_end
left join {{ ref('int_case_segments') }} as segments
    on
        windows.window_name = segments.window_name
        and cp_plans.case_key = segments.referral_key
