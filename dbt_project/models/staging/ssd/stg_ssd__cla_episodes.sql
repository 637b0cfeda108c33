-- Episodes of care of the current snapshot. The key hashes 'LAC:' || id: a period of care takes its
-- first episode's key as its plan episode id.
with episodes as (
    {{ ssd_current_rows('ssd_cla_episodes') }}
)

select
    {{ keyed_hash("'LAC:' || episodes.clae_cla_episode_id") }} as cla_episode_key,
    {{ mapped_key('child_keys', 'episodes.clae_person_id') }} as child_key,
    {{ mapped_key('referral_keys', 'episodes.clae_referral_id') }} as referral_key,
    {{ ssd_date('episodes.clae_cla_episode_start_date') }} as start_date,
    episodes.clae_cla_episode_start_reason as start_reason,
    episodes.clae_cla_primary_need_code as primary_need_code,
    {{ ssd_date('episodes.clae_cla_episode_ceased_date') }} as ceased_date,
    upper(trim(episodes.clae_cla_episode_ceased_reason)) as ceased_reason
from episodes
{{ key_map_join('stg_ssd__child_keys', 'child_keys', 'episodes.clae_person_id') }}
{{ key_map_join('stg_ssd__referral_keys', 'referral_keys', 'episodes.clae_referral_id') }}
{{ hash_key_join() }}
