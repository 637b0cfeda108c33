-- The one snapshot this build reads: var('snapshot_id') or the newest usable one.
select
    snapshots.snapshot_id,
    snapshots.snapshot_date as as_of_date
from {{ source('audit', 'snapshots') }} as snapshots
where snapshots.snapshot_id = {{ current_snapshot_id() }}
