-- Caseloads (metrics.md): for each team with involvements and each month end from the month of the
-- first involvement (of any team) to as_of_date: distinct children with an involvement of a worker
-- of that team open on that day, distinct workers with at least one, the sum of their FTE, and
-- children per FTE (NULL when FTE is 0).
-- Computed as a sweep, not by joining every involvement to every month end it spans (tens of
-- millions of rows at national scale): a team's overlapping involvements with one child (or one
-- worker) are merged into islands, so no day is covered twice and counting the islands open on a
-- day counts distinct children (workers); each island adds 1 (its FTE) from the month end of its
-- start and removes it from the first month end after its end; a running sum gives every month.
with involvements as (
    select
        involvements.team_id,
        involvements.child_key,
        involvements.professional_key,
        involvements.start_date,
        involvements.end_date,
        professionals.fte
    from {{ ref('stg_ssd__involvements') }} as involvements
    left join {{ ref('stg_ssd__professionals') }} as professionals
        on involvements.professional_key = professionals.professional_key
    where involvements.team_id is not null
),

bounds as (
    select
        min(involvements.start_date) as first_start,
        min(current_snapshot.as_of_date) as as_of_date
    from involvements
    cross join {{ ref('stg_ssd__current_snapshot') }} as current_snapshot
),

month_starts as (
    {{ month_starts('bounds', 'bounds.first_start', 'bounds.as_of_date') }}
),

month_ends as (
    select cast({{ dbt.last_day('month_starts.month_start', 'month') }} as date) as month_end
    from month_starts
    cross join bounds
    where cast({{ dbt.last_day('month_starts.month_start', 'month') }} as date) <= bounds.as_of_date
),

-- involvements open on at least one day (an end before the start never is)
spans as (
    select
        team_id,
        child_key,
        professional_key,
        fte,
        start_date,
        end_date
    from involvements
    where start_date is not null and (end_date is null or end_date >= start_date)
),

child_islands as (
    {{ span_islands('spans', 'child_key') }}
),

worker_islands as (
    {{ span_islands('spans', 'professional_key', carry=['fte']) }}
),

-- an island is open on month end m when island_start <= m <= island_end: from the month end of
-- its start up to, not including, the first month end after its end
deltas as (
    select
        team_id,
        cast({{ dbt.last_day('island_start', 'month') }} as date) as month_end,
        1 as children,
        0 as workers,
        cast(0 as decimal(38, 4)) as fte
    from child_islands

    union all

    select
        team_id,
        cast({{ dbt.last_day(add_days('island_end', 1), 'month') }} as date) as month_end,
        -1 as children,
        0 as workers,
        cast(0 as decimal(38, 4)) as fte
    from child_islands
    where island_end is not null

    union all

    select
        team_id,
        cast({{ dbt.last_day('island_start', 'month') }} as date) as month_end,
        0 as children,
        1 as workers,
        coalesce(fte, 0) as fte
    from worker_islands

    union all

    select
        team_id,
        cast({{ dbt.last_day(add_days('island_end', 1), 'month') }} as date) as month_end,
        0 as children,
        -1 as workers,
        -coalesce(fte, 0) as fte
    from worker_islands
    where island_end is not null
),

grid as (
    select
        teams.team_id,
        month_ends.month_end
    from (select distinct team_id from involvements) as teams
    cross join month_ends
),

first_month as (
    select min(month_end) as first_end from month_ends
),

-- changes dated before the first month end (none expected: it is the first start's month end)
carried as (
    select
        deltas.team_id,
        sum(deltas.children) as children,
        sum(deltas.workers) as workers,
        sum(deltas.fte) as fte
    from deltas
    cross join first_month
    where deltas.month_end < first_month.first_end
    group by deltas.team_id
),

monthly as (
    select
        grid.team_id,
        grid.month_end,
        coalesce(sum(deltas.children), 0) as children,
        coalesce(sum(deltas.workers), 0) as workers,
        coalesce(sum(deltas.fte), 0) as fte
    from grid
    left join deltas
        on grid.team_id = deltas.team_id and grid.month_end = deltas.month_end
    group by grid.team_id, grid.month_end
),

counts as (
    select
        monthly.team_id,
        monthly.month_end,
        cast(
            coalesce(carried.children, 0) + sum(monthly.children) over running as bigint
        ) as open_children,
        cast(coalesce(carried.workers, 0) + sum(monthly.workers) over running as bigint) as workers,
        coalesce(carried.fte, 0) + sum(monthly.fte) over running as fte
    from monthly
    left join carried
        on monthly.team_id = carried.team_id
    window running as (
        partition by monthly.team_id
        order by monthly.month_end
        rows between unbounded preceding and current row
    )
)

select
    counts.team_id,
    coalesce(units.unit_name, departments.team_name) as unit_name,
    coalesce(units.segment, 'unassigned') as segment,
    counts.month_end,
    counts.open_children,
    counts.workers,
    cast(counts.fte as decimal(12, 4)) as fte,
    case
        when counts.fte > 0 then cast(counts.open_children as double precision) / cast(counts.fte as double precision)
    end as children_per_fte
from counts
left join {{ ref('units') }} as units
    on counts.team_id = units.team_id
left join {{ ref('stg_ssd__department') }} as departments
    on counts.team_id = departments.team_id
