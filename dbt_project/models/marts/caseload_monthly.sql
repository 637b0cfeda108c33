-- Caseloads (metrics.md): for each team with involvements and each month end from the month of the
-- first involvement (of any team) to as_of_date: distinct children with an involvement of a worker
-- of that team open on that day, distinct workers with at least one, the sum of their FTE, and
-- children per FTE (NULL when FTE is 0).
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

open_on_day as (
    select
        month_ends.month_end,
        involvements.team_id,
        involvements.child_key,
        involvements.professional_key,
        involvements.fte
    from involvements
    inner join month_ends
        on
            involvements.start_date <= month_ends.month_end
            and (involvements.end_date is null or involvements.end_date >= month_ends.month_end)
),

team_children as (
    select
        month_end,
        team_id,
        count(distinct child_key) as open_children
    from open_on_day
    group by month_end, team_id
),

team_workers as (
    select
        month_end,
        team_id,
        count(*) as workers,
        sum(fte) as fte
    from (
        select distinct
            month_end,
            team_id,
            professional_key,
            fte
        from open_on_day
    ) as distinct_workers
    group by month_end, team_id
),

grid as (
    select
        teams.team_id,
        month_ends.month_end
    from (select distinct team_id from involvements) as teams
    cross join month_ends
),

counts as (
    select
        grid.team_id,
        grid.month_end,
        coalesce(team_children.open_children, 0) as open_children,
        coalesce(team_workers.workers, 0) as workers,
        coalesce(team_workers.fte, 0) as fte
    from grid
    left join team_children
        on grid.team_id = team_children.team_id and grid.month_end = team_children.month_end
    left join team_workers
        on grid.team_id = team_workers.team_id and grid.month_end = team_workers.month_end
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
        when counts.fte > 0 then cast(counts.open_children as double) / cast(counts.fte as double)
    end as children_per_fte
from counts
left join {{ ref('units') }} as units
    on counts.team_id = units.team_id
left join {{ ref('stg_ssd__department') }} as departments
    on counts.team_id = departments.team_id
