-- CP plans of the current snapshot. The plan key hashes 'CP:' || id (no collision across kinds).
with plans as (
    {{ ssd_current_rows('ssd_cp_plans') }}
)

select
    {{ keyed_hash("'CP:' || plans.cppl_cp_plan_id") }} as cp_plan_key,
    {{ mapped_key('referral_keys', 'plans.cppl_referral_id') }} as referral_key,
    {{ mapped_key('child_keys', 'plans.cppl_person_id') }} as child_key,
    {{ ssd_date('plans.cppl_cp_plan_start_date') }} as start_date,
    {{ ssd_date('plans.cppl_cp_plan_end_date') }} as end_date,
    plans.cppl_cp_plan_initial_category as initial_category,
    plans.cppl_cp_plan_latest_category as latest_category
from plans
{{ key_map_join('stg_ssd__referral_keys', 'referral_keys', 'plans.cppl_referral_id') }}
{{ key_map_join('stg_ssd__child_keys', 'child_keys', 'plans.cppl_person_id') }}
{{ hash_key_join() }}
