-- One row per CP plan with its two window-free flags (metrics.md): a repeat (the child had a CP
-- plan that started earlier) and lasted two years or more. fct_cp_plan_windows and
-- int_trend_memberships both read it.
select
    plan_episode_id,
    child_key,
    case_key,
    start_date,
    end_date,
    start_date > min(start_date) over (partition by child_key) as is_repeat,
    coalesce(end_date >= {{ add_months('start_date', 24) }}, false) as lasted_2_years_plus
from {{ ref('int_plan_episodes') }}
where plan_type = 'CP'
