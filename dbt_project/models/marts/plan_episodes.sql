-- Published plan episodes (interface.md columns). `segment` is the case's segment as of as_of_date
-- (the metrics.md rule with as_of_date as the window end); a plan without a case is `unassigned`.
select
    episodes.plan_episode_id,
    episodes.child_key,
    episodes.case_key,
    episodes.plan_type,
    episodes.level,
    episodes.start_date,
    episodes.end_date,
    episodes.end_reason,
    coalesce(segments.segment, 'unassigned') as segment
from {{ ref('int_plan_episodes') }} as episodes
left join {{ ref('int_case_segments') }} as segments
    on
        episodes.case_key = segments.referral_key
        and segments.window_name = 'as_of_date'
