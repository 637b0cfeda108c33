-- Key map of the current snapshot's children: each person id hashed once (keyed_hash), for staging
-- models to join instead of hashing the same id again in every object that names the child.
with person as (
    {{ ssd_current_rows('ssd_person') }}
),

ids as (
    select distinct person.pers_person_id as id
    from person
    where person.pers_person_id is not null
)

select
    ids.id,
    {{ keyed_hash('ids.id') }} as hashed_id
from ids
{{ hash_key_join() }}
