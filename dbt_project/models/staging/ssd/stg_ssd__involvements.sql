-- Allocations of a worker (of a team) to a child's case, current snapshot.
with involvements as (
    {{ ssd_current_rows('ssd_involvements') }}
),

-- a few thousand workers share millions of involvements: hash each worker id once
professional_keys as (
    select
        ids.id,
        {{ keyed_hash('ids.id') }} as hashed_id
    from (
        select distinct involvements.invo_professional_id as id
        from involvements
        where involvements.invo_professional_id is not null
    ) as ids
    {{ hash_key_join() }}
)

select
    {{ keyed_hash('involvements.invo_involvements_id') }} as involvement_key,
    {{ mapped_key('professional_keys', 'involvements.invo_professional_id') }} as professional_key,
    involvements.invo_professional_team as team_id,
    {{ mapped_key('child_keys', 'involvements.invo_person_id') }} as child_key,
    {{ mapped_key('referral_keys', 'involvements.invo_referral_id') }} as referral_key,
    {{ ssd_date('involvements.invo_involvement_start_date') }} as start_date,
    {{ ssd_date('involvements.invo_involvement_end_date') }} as end_date
from involvements
left join professional_keys
    on involvements.invo_professional_id = professional_keys.id
{{ key_map_join('stg_ssd__child_keys', 'child_keys', 'involvements.invo_person_id') }}
{{ key_map_join('stg_ssd__referral_keys', 'referral_keys', 'involvements.invo_referral_id') }}
{{ hash_key_join() }}
