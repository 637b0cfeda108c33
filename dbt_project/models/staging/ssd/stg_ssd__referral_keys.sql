-- Key map of the current snapshot's referrals: each referral id hashed once (keyed_hash), for
-- staging models to join instead of hashing the same id again in every object that names it.
with referrals as (
    {{ ssd_current_rows('ssd_cin_episodes') }}
),

ids as (
    select distinct referrals.cine_referral_id as id
    from referrals
    where referrals.cine_referral_id is not null
)

select
    ids.id,
    {{ keyed_hash('ids.id') }} as hashed_id
from ids
{{ hash_key_join() }}
