-- Workers of the current snapshot; the name stops here.
with professionals as (
    {{ ssd_current_rows('ssd_professionals') }}
)

select
    {{ keyed_hash('professionals.prof_professional_id') }} as professional_key,
    professionals.prof_professional_job_title as job_title,
    cast(professionals.prof_full_time_equivalency as decimal(6, 4)) as fte
from professionals
{{ hash_key_join() }}
