-- CIN plans of the current snapshot. The plan key hashes 'CIN:' || id so that plan episode ids of
-- the three kinds can never collide.
with plans as (
    {{ ssd_current_rows('ssd_cin_plans') }}
)

select
    {{ keyed_hash("'CIN:' || plans.cinp_cin_plan_id") }} as cin_plan_key,
    {{ mapped_key('referral_keys', 'plans.cinp_referral_id') }} as referral_key,
    {{ mapped_key('child_keys', 'plans.cinp_person_id') }} as child_key,
    {{ ssd_date('plans.cinp_cin_plan_start_date') }} as start_date,
    {{ ssd_date('plans.cinp_cin_plan_end_date') }} as end_date
from plans
{{ key_map_join('stg_ssd__referral_keys', 'referral_keys', 'plans.cinp_referral_id') }}
{{ key_map_join('stg_ssd__child_keys', 'child_keys', 'plans.cinp_person_id') }}
{{ hash_key_join() }}
