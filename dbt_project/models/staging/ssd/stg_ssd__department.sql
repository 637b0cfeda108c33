-- Teams of the current snapshot (team ids are organisational, not personal: kept in clear so they
-- join the units seed).
with departments as (
    {{ ssd_current_rows('ssd_department') }}
)

select
    departments.dept_team_id as team_id,
    departments.dept_team_name as team_name,
    departments.dept_team_parent_id as parent_team_id
from departments
