-- Allocations of a worker (of a team) to a child's case, current snapshot.
with involvements as (
    {{ ssd_current_rows('ssd_involvements') }}
)

select
    {{ keyed_hash('involvements.invo_involvements_id') }} as involvement_key,
    {{ keyed_hash('involvements.invo_professional_id') }} as professional_key,
    involvements.invo_professional_team as team_id,
    {{ keyed_hash('involvements.invo_person_id') }} as child_key,
    {{ keyed_hash('involvements.invo_referral_id') }} as referral_key,
    {{ ssd_date('involvements.invo_involvement_start_date') }} as start_date,
    {{ ssd_date('involvements.invo_involvement_end_date') }} as end_date
from involvements
{{ hash_key_join() }}
