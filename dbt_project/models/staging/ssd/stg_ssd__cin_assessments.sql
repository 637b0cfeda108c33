-- Assessments of the current snapshot.
with assessments as (
    {{ ssd_current_rows('ssd_cin_assessments') }}
)

select
    {{ keyed_hash('assessments.cina_assessment_id') }} as assessment_key,
    {{ mapped_key('child_keys', 'assessments.cina_person_id') }} as child_key,
    {{ mapped_key('referral_keys', 'assessments.cina_referral_id') }} as referral_key,
    {{ ssd_date('assessments.cina_assessment_start_date') }} as start_date,
    {{ ssd_date('assessments.cina_assessment_auth_date') }} as authorised_date,
    {{ ssd_flag('assessments.cina_assessment_outcome_nfa') }} as is_outcome_nfa
from assessments
{{ key_map_join('stg_ssd__child_keys', 'child_keys', 'assessments.cina_person_id') }}
{{ key_map_join('stg_ssd__referral_keys', 'referral_keys', 'assessments.cina_referral_id') }}
{{ hash_key_join() }}
