-- caseload_monthly as published (docs/audiences.md, "Disclosure control"): a month's
-- open_children between 1 and the threshold + 1 is hidden, and children_per_fte with it (times
-- the published fte it gives open_children back). A team with a worker has at least one child (a
-- worker counts only with an open involvement), so a hidden count is known to lie in
-- [1, threshold + 1]: a range the threshold wide, which 1 to the threshold would not leave.
with flagged as (
    select
        *,
        open_children between 1 and {{ var('suppression_threshold', 5) | int }} + 1 as suppressed
    from {{ ref('caseload_monthly') }}
)

select
    team_id,
    unit_name,
    segment,
    month_end,
    case when not suppressed then open_children end as open_children,
    workers,
    fte,
    case when not suppressed then children_per_fte end as children_per_fte,
    suppressed
from flagged
