-- Case matching (docs/matching.md): one row per case referred in the treated or the control window,
-- its characteristics known at referral (coarsened), its outcomes over the follow-up, its stratum
-- and its coarsened-exact-matching weight (Iacus, King and Porro).
{%- set months = matching_follow_up_months() %}
{%- set used = matching_characteristics() %}

with windows as (
    select
        window_name,
        window_start,
        window_end,
        case
            when window_name = {{ sql_string(var('matching_treated_window')) }} then 'treated'
            else 'control'
        end as matching_group
    from {{ ref('programme_windows') }}
    where
        window_name in (
            {{ sql_string(var('matching_treated_window')) }},
            {{ sql_string(var('matching_control_window')) }}
        )
),

current_snapshot as (
    select as_of_date from {{ ref('stg_ssd__current_snapshot') }}
),

referrals as (
    select
        referral_key,
        child_key,
        referral_date,
        upper(trim(referral_source_code)) as referral_source_code,
        upper(trim(primary_need_code)) as primary_need_code
    from {{ ref('stg_ssd__cin_episodes') }}
),

cases as (
    select
        cases.case_key,
        cases.child_key,
        windows.window_name,
        windows.matching_group,
        cases.referral_date,
        cases.close_date,
        {{ add_months('cases.referral_date', months) }} as follow_up_end
    from {{ ref('int_cases') }} as cases
    inner join windows
        on cases.referral_date between windows.window_start and windows.window_end
),

plans as (
    select
        case_key,
        child_key,
        plan_type,
        level,
        start_date,
        end_date,
        ended_returned_home
    from {{ ref('int_plan_episodes') }}
),

code_groups as (
    select
        characteristic,
        upper(trim(code)) as code,
        code_group
    from {{ ref('matching_code_groups') }}
),

-- completed years from the first day of the month of birth to the referral date (negative before
-- birth); the date of birth itself never leaves raw
ages as (
    select
        cases.case_key,
        person.sex,
        floor(
            {{ dbt.datediff('person.birth_month', 'cases.referral_date', 'month') }} / 12
        ) as age_years
    from cases
    left join {{ ref('stg_ssd__person') }} as person
        on cases.child_key = person.child_key
),

-- the same child referred (NFA or not) in [referral date - 12 months, referral date)
referred_before as (
    select distinct cases.case_key
    from cases
    inner join referrals as earlier
        on
            cases.child_key = earlier.child_key
            and {{ add_months('cases.referral_date', -12) }} <= earlier.referral_date
            and cases.referral_date > earlier.referral_date
),

-- the child had a CP plan that started before the referral date
cp_plan_before as (
    select distinct cases.case_key
    from cases
    inner join plans
        on
            cases.child_key = plans.child_key
            and plans.plan_type = 'CP'
            and cases.referral_date > plans.start_date
),

-- outcomes: each over [referral date, follow-up end]
de_escalated as (
    select distinct cases.case_key
    from cases
    inner join {{ ref('int_plan_transitions') }} as transitions
        on
            cases.case_key = transitions.from_case_key
            and transitions.direction = 'de_escalation'
            and transitions.from_end_date between cases.referral_date and cases.follow_up_end
),

stepped_up as (
    select distinct cases.case_key
    from cases
    inner join plans
        on
            cases.case_key = plans.case_key
            and plans.level >= 2
            and plans.start_date between cases.referral_date and cases.follow_up_end
),

-- own periods of care starting in the follow-up; returned home when one ended so in it
looked_after as (
    select
        cases.case_key,
        bool_or(
            coalesce(plans.end_date <= cases.follow_up_end and plans.ended_returned_home, false)
        ) as returned_home
    from cases
    inner join plans
        on
            cases.case_key = plans.case_key
            and plans.plan_type = 'LAC'
            and plans.start_date between cases.referral_date and cases.follow_up_end
    group by cases.case_key
),

-- the child referred again (NFA or not) in (close date, close date + 12 months]
re_referred as (
    select distinct cases.case_key
    from cases
    inner join referrals as later
        on
            cases.child_key = later.child_key
            and cases.close_date < later.referral_date
            and {{ add_months('cases.close_date', 12) }} >= later.referral_date
),

characterised as (
    select
        cases.case_key,
        cases.child_key,
        cases.window_name,
        cases.matching_group,
        cases.referral_date,
        cases.follow_up_end,
        cases.follow_up_end <= current_snapshot.as_of_date as is_followed_up,
        coalesce(age_bands.age_band, 'unknown') as age_band,
        coalesce(ages.sex, 'U') as sex,
        coalesce(
            need_groups.code_group, referrals.primary_need_code, 'unknown'
        ) as primary_need,
        coalesce(
            source_groups.code_group, referrals.referral_source_code, 'unknown'
        ) as referral_source,
        referred_before.case_key is not null as referred_in_previous_12_months,
        cp_plan_before.case_key is not null as cp_plan_before,
        coalesce(cases.close_date <= cases.follow_up_end, false) as is_closed,
        de_escalated.case_key is not null as is_de_escalated,
        stepped_up.case_key is not null as is_stepped_up,
        case
            when
                cases.close_date <= cases.follow_up_end
                and {{ add_months('cases.close_date', 12) }} <= current_snapshot.as_of_date
                then re_referred.case_key is not null
        end as is_re_referred_after_closure,
        looked_after.returned_home as is_returned_home
    from cases
    cross join current_snapshot
    inner join referrals
        on cases.case_key = referrals.referral_key
    left join ages
        on cases.case_key = ages.case_key
    left join {{ ref('matching_age_bands') }} as age_bands
        on
            (age_bands.min_age is null or ages.age_years >= age_bands.min_age)
            and (age_bands.max_age is null or ages.age_years <= age_bands.max_age)
    left join code_groups as need_groups
        on
            need_groups.characteristic = 'primary_need'
            and referrals.primary_need_code = need_groups.code
    left join code_groups as source_groups
        on
            source_groups.characteristic = 'referral_source'
            and referrals.referral_source_code = source_groups.code
    left join referred_before
        on cases.case_key = referred_before.case_key
    left join cp_plan_before
        on cases.case_key = cp_plan_before.case_key
    left join de_escalated
        on cases.case_key = de_escalated.case_key
    left join stepped_up
        on cases.case_key = stepped_up.case_key
    left join looked_after
        on cases.case_key = looked_after.case_key
    left join re_referred
        on cases.case_key = re_referred.case_key
),

stratified as (
    select
        *,
        concat_ws(
            ' | ',
            {%- for name in used %}
                cast({{ name }} as varchar){{ "," if not loop.last }}
            {%- endfor %}
        ) as stratum
    from characterised
),

-- only cases whose follow-up has ended are matched
strata as (
    select
        stratum,
        count(*) filter (where matching_group = 'treated') as treated_cases,
        count(*) filter (where matching_group = 'control') as control_cases
    from stratified
    where is_followed_up
    group by stratum
),

matched_strata as (
    select
        stratum,
        treated_cases,
        control_cases
    from strata
    where treated_cases > 0 and control_cases > 0
),

totals as (
    select
        sum(treated_cases) as treated_matched,
        sum(control_cases) as control_matched
    from matched_strata
)

select
    stratified.case_key,
    stratified.child_key,
    stratified.window_name,
    stratified.matching_group,
    stratified.referral_date,
    stratified.follow_up_end,
    stratified.is_followed_up,
    stratified.age_band,
    stratified.sex,
    stratified.primary_need,
    stratified.referral_source,
    stratified.referred_in_previous_12_months,
    stratified.cp_plan_before,
    stratified.stratum,
    stratified.is_followed_up and matched_strata.stratum is not null as is_matched,
    -- CEM weights: 1 for a matched treated case; (m_T(s) / m_C(s)) * (M_C / M_T) for a matched
    -- control in stratum s; 0 for a case dropped or not followed up
    case
        when not stratified.is_followed_up or matched_strata.stratum is null then 0.0
        when stratified.matching_group = 'treated' then 1.0
        else
            (cast(matched_strata.treated_cases as double precision) / matched_strata.control_cases)
            * (cast(totals.control_matched as double precision) / totals.treated_matched)
    end as matching_weight,
    stratified.is_closed,
    stratified.is_de_escalated,
    stratified.is_stepped_up,
    stratified.is_re_referred_after_closure,
    stratified.is_returned_home
from stratified
cross join totals
left join matched_strata
    on stratified.stratum = matched_strata.stratum
