-- Referrals (CIN episodes) of the current snapshot, NFA or not.
with referrals as (
    {{ ssd_current_rows('ssd_cin_episodes') }}
)

select
    {{ mapped_key('referral_keys', 'referrals.cine_referral_id') }} as referral_key,
    {{ mapped_key('child_keys', 'referrals.cine_person_id') }} as child_key,
    {{ ssd_date('referrals.cine_referral_date') }} as referral_date,
    referrals.cine_referral_source_code as referral_source_code,
    referrals.cine_cin_primary_need_code as primary_need_code,
    coalesce({{ ssd_flag('referrals.cine_referral_nfa') }}, false) as is_nfa,
    {{ ssd_date('referrals.cine_close_date') }} as close_date,
    referrals.cine_close_reason as close_reason,
    referrals.cine_referral_team as referral_team_id
from referrals
{{ key_map_join('stg_ssd__referral_keys', 'referral_keys', 'referrals.cine_referral_id') }}
{{ key_map_join('stg_ssd__child_keys', 'child_keys', 'referrals.cine_person_id') }}
{{ hash_key_join() }}
