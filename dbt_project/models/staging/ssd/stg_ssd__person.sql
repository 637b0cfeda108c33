-- Children of the current snapshot. Names, date of birth and NHS number stop here: only the month
-- of birth leaves staging.
with person as (
    {{ ssd_current_rows('ssd_person') }}
)

select
    {{ mapped_key('child_keys', 'person.pers_person_id') }} as child_key,
    sex_codes.sex,
    upper(trim(person.pers_ethnicity)) as ethnicity_code,
    cast({{ dbt.date_trunc('month', ssd_date('person.pers_dob')) }} as date) as birth_month,
    {{ ssd_date('person.pers_death_date') }} as death_date
from person
left join {{ ref('ref_sex') }} as sex_codes
    on upper(trim(person.pers_sex)) = sex_codes.code
{{ key_map_join('stg_ssd__child_keys', 'child_keys', 'person.pers_person_id') }}
{{ hash_key_join() }}
