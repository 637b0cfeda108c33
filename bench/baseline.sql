-- The baseline: outcome_metrics computed from one snapshot folder's CSV files in a single DuckDB
-- pass, written from docs/metrics.md independently of the dbt project. The benchmark times
-- it and compares its numerators and denominators with marts.outcome_metrics (a differential
-- test on large data). Parameters are substituted by bench/baseline.py: {snapshot}, {seeds},
-- {as_of}, {transition_days}. Clean data is assumed (no quarantine).

create or replace temp macro csv(name) as table
    select * from read_csv('{snapshot}/' || name || '.csv', header = true, all_varchar = true);

create or replace temp table windows as
select window_name, window_start::date as window_start, window_end::date as window_end
from read_csv('{seeds}/programme_windows.csv', header = true, all_varchar = true);

create or replace temp table units as
select team_id, segment from read_csv('{seeds}/units.csv', header = true, all_varchar = true);

create or replace temp table returned_home_codes as
select code from read_csv('{seeds}/ref_reasons_episode_ceased.csv', header = true, all_varchar = true)
where lower(returned_home) = 'true';

create or replace temp table referrals as
select
    cine_referral_id as referral_id,
    cine_person_id as child_id,
    left(cine_referral_date, 10)::date as referral_date,
    left(cine_close_date, 10)::date as close_date,
    cine_close_reason as close_reason,
    coalesce(cine_referral_nfa, '') = 'Y' as nfa,
    cine_referral_team as referral_team
from csv('ssd_cin_episodes');

create or replace temp table cases as select * from referrals where not nfa;

-- Periods of care: a new period starts unless the previous episode ceased X1 on this start date.
create or replace temp table periods as
with e as (
    select
        clae_cla_episode_id as episode_id,
        clae_person_id as child_id,
        clae_referral_id as referral_id,
        left(clae_cla_episode_start_date, 10)::date as start_date,
        left(clae_cla_episode_ceased_date, 10)::date as end_date,
        clae_cla_episode_ceased_reason as end_reason
    from csv('ssd_cla_episodes')
),
flagged as (
    select
        *,
        case
            when lag(end_reason) over w = 'X1' and lag(end_date) over w = start_date then 0
            else 1
        end as new_period
    from e
    window w as (partition by child_id order by start_date, episode_id)
),
numbered as (
    select
        *,
        sum(new_period) over (
            partition by child_id order by start_date, episode_id rows unbounded preceding
        ) as period_no
    from flagged
)
select
    arg_min(episode_id, start_date) as plan_id,
    child_id,
    arg_min_null(referral_id, start_date) as referral_id,
    min(start_date) as start_date,
    arg_max_null(end_date, start_date) as end_date,
    arg_max_null(end_reason, start_date) as end_reason
from numbered
group by child_id, period_no;

create or replace temp table plans as
select 'CIN' as plan_type, 1 as level, cinp_cin_plan_id as plan_id, cinp_person_id as child_id,
    cinp_referral_id as referral_id, left(cinp_cin_plan_start_date, 10)::date as start_date,
    left(cinp_cin_plan_end_date, 10)::date as end_date, null as end_reason
from csv('ssd_cin_plans')
union all
select 'CP', 2, cppl_cp_plan_id, cppl_person_id, cppl_referral_id,
    left(cppl_cp_plan_start_date, 10)::date, left(cppl_cp_plan_end_date, 10)::date, null
from csv('ssd_cp_plans')
union all
select 'LAC', 3, plan_id, child_id, referral_id, start_date, end_date, end_reason from periods;

-- The case of each plan: its referral when that is a case, else the child's case open on the
-- plan's start date (latest referral date first), else none.
create or replace temp table plan_cases as
with named as (
    select p.plan_type, p.plan_id, c.referral_id as case_id
    from plans p join cases c on c.referral_id = p.referral_id
),
open_on_start as (
    select p.plan_type, p.plan_id, c.referral_id as case_id,
        row_number() over (
            partition by p.plan_type, p.plan_id order by c.referral_date desc, c.referral_id desc
        ) as rn
    from plans p
    join cases c
        on c.child_id = p.child_id
        and p.start_date between c.referral_date and coalesce(c.close_date, date '9999-12-31')
    where not exists (select 1 from named n where n.plan_type = p.plan_type and n.plan_id = p.plan_id)
)
select plan_type, plan_id, case_id from named
union all
select plan_type, plan_id, case_id from open_on_start where rn = 1;

create or replace temp table case_plans as
select p.*, pc.case_id
from plans p left join plan_cases pc using (plan_type, plan_id);

-- Segment of each referral (a case or not) in each window.
create or replace temp table referral_segments as
with invo as (
    select invo_involvements_id as involvement_id, invo_referral_id as referral_id,
        invo_professional_team as team_id,
        left(invo_involvement_start_date, 10)::date as start_date
    from csv('ssd_involvements')
),
latest as (
    select w.window_name, i.referral_id, i.team_id,
        row_number() over (
            partition by w.window_name, i.referral_id order by i.start_date desc, i.involvement_id desc
        ) as rn
    from invo i join windows w on i.start_date <= w.window_end
    where i.referral_id is not null
)
select w.window_name, r.referral_id,
    case
        when l.referral_id is not null then coalesce(u1.segment, 'unassigned')
        else coalesce(u2.segment, 'unassigned')
    end as segment
from referrals r
cross join windows w
left join latest l on l.referral_id = r.referral_id and l.window_name = w.window_name and l.rn = 1
left join units u1 on u1.team_id = l.team_id
left join units u2 on u2.team_id = r.referral_team;

-- Transitions: the nearest other-kind plan of the child starting after P's start and within the
-- window of P's end; ties to the higher level.
create or replace temp table transitions as
with candidates as (
    select p.plan_type as from_type, p.plan_id as from_id, p.level as from_level,
        p.end_date as from_end, p.case_id as from_case, q.plan_type as to_type, q.plan_id as to_id,
        q.level as to_level, q.start_date as to_start,
        row_number() over (
            partition by p.plan_type, p.plan_id
            order by abs(date_diff('day', p.end_date, q.start_date)), q.level desc, q.plan_id
        ) as rn
    from case_plans p
    join plans q
        on q.child_id = p.child_id
        and q.plan_type <> p.plan_type
        and q.start_date > p.start_date
        and abs(date_diff('day', p.end_date, q.start_date)) <= {transition_days}
    where p.end_date is not null
)
select * exclude (rn) from candidates where rn = 1;

create or replace temp table segments as
select distinct segment from units union select 'unassigned' union select 'all';

-- One row per (window, segment, metric, unit counted, in numerator?): the units are then counted.
create or replace temp table facts as
with cw as (  -- cases x windows with the case's segment
    select c.*, w.window_name, w.window_start, w.window_end, rs.segment
    from cases c
    join windows w on true
    join referral_segments rs on rs.referral_id = c.referral_id and rs.window_name = w.window_name
),
active_cases as (
    select * from cw
    where referral_date <= window_end and coalesce(close_date, date '9999-12-31') >= window_start
),
closed_cases as (
    select * from cw where close_date between window_start and window_end
),
deesc as (  -- de-escalations from a case's own plans that ended in the window
    select a.window_name, a.referral_id, t.from_type, t.to_type, t.from_end, t.to_start
    from active_cases a
    join transitions t on t.from_case = a.referral_id
    where t.to_level < t.from_level and t.from_end between a.window_start and a.window_end
),
first_deesc as (
    select window_name, referral_id,
        arg_min(from_type || '>' || to_type, (from_end, to_start)) as first_move
    from deesc group by window_name, referral_id
),
de_denominator as (
    select distinct a.window_name, a.segment, a.referral_id
    from active_cases a
    join case_plans p on p.case_id = a.referral_id
    where p.plan_type in ('CP', 'LAC')
        and p.start_date <= a.window_end
        and coalesce(p.end_date, date '9999-12-31') >= a.window_start
),
last_plan as (
    select c.window_name, c.referral_id,
        arg_max(p.plan_type, (p.start_date, p.level)) as last_type
    from closed_cases c join case_plans p on p.case_id = c.referral_id and p.start_date <= c.close_date
    group by c.window_name, c.referral_id
),
ref_w as (
    select r.*, w.window_name, rs.segment
    from referrals r
    join windows w on r.referral_date between w.window_start and w.window_end
    join referral_segments rs on rs.referral_id = r.referral_id and rs.window_name = w.window_name
),
cp_w as (
    select p.*, w.window_name, w.window_start, w.window_end,
        coalesce(rs.segment, 'unassigned') as segment
    from case_plans p
    join windows w on true
    left join referral_segments rs on rs.referral_id = p.case_id and rs.window_name = w.window_name
    where p.plan_type = 'CP'
),
lac_w as (
    select p.*, w.window_name, w.window_start, w.window_end,
        coalesce(rs.segment, 'unassigned') as segment
    from case_plans p
    join windows w on true
    left join referral_segments rs on rs.referral_id = p.case_id and rs.window_name = w.window_name
    where p.plan_type = 'LAC'
        and p.start_date <= w.window_end
        and coalesce(p.end_date, date '9999-12-31') >= w.window_start
)
select d.window_name, d.segment, 'de_escalation_rate' as metric, d.referral_id as unit,
    f.referral_id is not null as hit
from de_denominator d left join first_deesc f using (window_name, referral_id)
union all
select d.window_name, d.segment, 'de_escalation_cp_to_cin_share', d.referral_id,
    f.first_move = 'CP>CIN'
from de_denominator d join first_deesc f using (window_name, referral_id)
union all
select d.window_name, d.segment, 'de_escalation_lac_to_cin_share', d.referral_id,
    f.first_move = 'LAC>CIN'
from de_denominator d join first_deesc f using (window_name, referral_id)
union all
select window_name, segment, 'closure_rate', referral_id,
    close_date between window_start and window_end
from active_cases
union all
select window_name, segment, 'closure_nfa_share', referral_id, close_reason = 'RC8'
from closed_cases
union all
select c.window_name, c.segment, 'closed_last_on_cin_plan_share', c.referral_id,
    coalesce(l.last_type = 'CIN', false)
from closed_cases c left join last_plan l using (window_name, referral_id)
union all
select r.window_name, r.segment, 're_referral_rate', r.referral_id,
    exists (
        select 1 from referrals o
        where o.child_id = r.child_id and o.referral_id <> r.referral_id
            and o.referral_date >= r.referral_date - interval 12 month
            and o.referral_date < r.referral_date
    )
from ref_w r
union all
select c.window_name, c.segment, 're_referral_after_closure_rate', c.referral_id,
    exists (
        select 1 from referrals o
        where o.child_id = c.child_id
            and o.referral_date > c.close_date
            and o.referral_date <= c.close_date + interval 12 month
    )
from closed_cases c
where c.close_date + interval 12 month <= date '{as_of}'
union all
select p.window_name, p.segment, 'repeat_cp_plan_rate', p.plan_id,
    exists (
        select 1 from plans o
        where o.plan_type = 'CP' and o.child_id = p.child_id and o.start_date < p.start_date
    )
from cp_w p
where p.start_date between p.window_start and p.window_end
union all
select window_name, segment, 'cp_plan_2yr_plus_rate', plan_id,
    end_date >= start_date + interval 2 year
from cp_w
where end_date between window_start and window_end
union all
select window_name, segment, 'returned_home_rate', child_id,
    bool_or(
        end_date between window_start and window_end
        and end_reason in (select code from returned_home_codes)
    )
from lac_w
group by window_name, segment, child_id;

create or replace temp table baseline_outcome_metrics as
with by_segment as (
    select window_name, segment, metric, count(distinct unit) as denominator,
        count(distinct unit) filter (where hit) as numerator
    from facts group by all
),
overall as (
    select window_name, 'all' as segment, metric, count(distinct unit) as denominator,
        count(distinct unit) filter (where hit) as numerator
    from facts group by all
),
metrics as (
    select distinct metric from facts
    union select unnest([
        'de_escalation_rate', 'de_escalation_cp_to_cin_share', 'de_escalation_lac_to_cin_share',
        'closure_rate', 'closure_nfa_share', 'closed_last_on_cin_plan_share', 're_referral_rate',
        're_referral_after_closure_rate', 'repeat_cp_plan_rate', 'cp_plan_2yr_plus_rate',
        'returned_home_rate'
    ])
),
counted as (select * from by_segment union all select * from overall)
select w.window_name, w.window_start, w.window_end, s.segment, m.metric,
    coalesce(c.numerator, 0) as numerator, coalesce(c.denominator, 0) as denominator,
    case when coalesce(c.denominator, 0) > 0 then c.numerator / c.denominator end as rate,
    date '{as_of}' as as_of_date
from windows w cross join segments s cross join metrics m
left join counted c on c.window_name = w.window_name and c.segment = s.segment and c.metric = m.metric
order by all;
