-- Published transitions (interface.md columns): one row per ended plan episode; an exit has no
-- to_ plan (to_plan_episode_id, to_type and to_start_date NULL, direction `exit`).
select
    from_plan_episode_id,
    to_plan_episode_id,
    child_key,
    from_type,
    to_type,
    direction,
    from_end_date,
    to_start_date
from {{ ref('int_plan_transitions') }}
