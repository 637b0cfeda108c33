-- Case matching (docs/matching.md): for every outcome, the treated and control rates of the cases
-- whose follow-up has ended, compared after coarsened exact matching (control rate weighted) and
-- without matching, with the difference and its 95 % interval (normal approximation), and the
-- cases matched and dropped on each side. Unsuppressed (internal): suppressed says what
-- matched_outcomes_suppressed hides.
{%- set disclosure = config.get('meta')['disclosure'] %}

with cases as (
    select
        case_key,
        matching_group,
        is_matched,
        matching_weight,
        is_closed,
        is_de_escalated,
        is_stepped_up,
        is_re_referred_after_closure,
        is_returned_home
    from {{ ref('int_matching_cases') }}
    where is_followed_up
),

current_snapshot as (
    select as_of_date from {{ ref('stg_ssd__current_snapshot') }}
),

matched_sample as (
    {{ matching_sample_counts('cases') }}
),

-- one row per case and outcome it has a value for (NULL: not in that outcome's population)
case_outcomes as (
    {%- for name, column in matching_outcomes() %}
        select
            '{{ name }}' as outcome,
            matching_group,
            is_matched,
            matching_weight,
            cast({{ column }} as integer) as outcome_value
        from cases
        where {{ column }} is not null
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

-- matched: the matched cases, controls weighted; unmatched: every case, each weighing 1
compared as (
    select
        'matched' as comparison,
        outcome,
        matching_group,
        matching_weight as weight,
        outcome_value
    from case_outcomes
    where is_matched

    union all

    select
        'unmatched' as comparison,
        outcome,
        matching_group,
        1.0 as weight,
        outcome_value
    from case_outcomes
),

rates as (
    select
        comparison,
        outcome,
        matching_group,
        count(*) as cases,
        sum(outcome_value) as outcome_count,
        sum(weight * outcome_value) / sum(weight) as rate
    from compared
    group by comparison, outcome, matching_group
),

-- variance of a weighted proportion: sum(w^2 (y - p)^2) / (sum w)^2; p (1 - p) / n unweighted
variances as (
    select
        compared.comparison,
        compared.outcome,
        compared.matching_group,
        sum(compared.weight * compared.weight * power(compared.outcome_value - rates.rate, 2))
        / power(sum(compared.weight), 2) as rate_variance
    from compared
    inner join rates
        on
            compared.comparison = rates.comparison
            and compared.outcome = rates.outcome
            and compared.matching_group = rates.matching_group
    group by compared.comparison, compared.outcome, compared.matching_group
),

-- every outcome x comparison, present even when nobody is in it
grid as (
    select
        outcomes.outcome,
        comparisons.comparison
    from (
        values
        {%- for name, _ in matching_outcomes() %}
            ('{{ name }}'){{ "," if not loop.last }}
        {%- endfor %}
    ) as outcomes (outcome)
    cross join (values ('matched'), ('unmatched')) as comparisons (comparison)
),

sides as (
    select
        grid.outcome,
        grid.comparison,
        coalesce(treated.cases, 0) as treated_cases,
        coalesce(treated.outcome_count, 0) as treated_count,
        treated.rate as treated_rate,
        treated_variance.rate_variance as treated_variance,
        coalesce(control.cases, 0) as control_cases,
        coalesce(control.outcome_count, 0) as control_count,
        control.rate as control_rate,
        control_variance.rate_variance as control_variance
    from grid
    left join rates as treated
        on
            grid.outcome = treated.outcome
            and grid.comparison = treated.comparison
            and treated.matching_group = 'treated'
    left join variances as treated_variance
        on
            grid.outcome = treated_variance.outcome
            and grid.comparison = treated_variance.comparison
            and treated_variance.matching_group = 'treated'
    left join rates as control
        on
            grid.outcome = control.outcome
            and grid.comparison = control.comparison
            and control.matching_group = 'control'
    left join variances as control_variance
        on
            grid.outcome = control_variance.outcome
            and grid.comparison = control_variance.comparison
            and control_variance.matching_group = 'control'
),

-- disclosure control (docs/matching.md): an outcome's figures are withheld, matched and unmatched
-- together, when any count they imply lies between 1 and the threshold: cases, cases with and
-- without the outcome on each side and in each comparison, and the same for the dropped cases
-- (unmatched minus matched)
small_outcomes as (
    select
        matched_side.outcome,
        {{ matching_small('matched_side.treated_cases') }}
        or {{ matching_small('matched_side.treated_count') }}
        or {{ matching_small('matched_side.treated_cases - matched_side.treated_count') }}
        or {{ matching_small('matched_side.control_cases') }}
        or {{ matching_small('matched_side.control_count') }}
        or {{ matching_small('matched_side.control_cases - matched_side.control_count') }}
        or {{ matching_small('unmatched_side.treated_cases') }}
        or {{ matching_small('unmatched_side.treated_count') }}
        or {{ matching_small('unmatched_side.treated_cases - unmatched_side.treated_count') }}
        or {{ matching_small('unmatched_side.control_cases') }}
        or {{ matching_small('unmatched_side.control_count') }}
        or {{ matching_small('unmatched_side.control_cases - unmatched_side.control_count') }}
        or {{ matching_small('unmatched_side.treated_cases - matched_side.treated_cases') }}
        or {{ matching_small('unmatched_side.treated_count - matched_side.treated_count') }}
        or {{ matching_small(
            '(unmatched_side.treated_cases - unmatched_side.treated_count)'
            ~ ' - (matched_side.treated_cases - matched_side.treated_count)'
        ) }}
        or {{ matching_small('unmatched_side.control_cases - matched_side.control_cases') }}
        or {{ matching_small('unmatched_side.control_count - matched_side.control_count') }}
        or {{ matching_small(
            '(unmatched_side.control_cases - unmatched_side.control_count)'
            ~ ' - (matched_side.control_cases - matched_side.control_count)'
        ) }} as is_small
    from sides as matched_side
    inner join sides as unmatched_side
        on
            matched_side.outcome = unmatched_side.outcome
            and unmatched_side.comparison = 'unmatched'
    where matched_side.comparison = 'matched'
),

-- an outcome whose control cases are exactly another's control cases with it (the meta's
-- equal_on_control_side) is withheld together with that one: one withheld beside the other
-- published would be given away by it
linked_outcomes as (
    select
        outcome,
        bool_or(is_small) over (
            partition by case outcome
                {%- for inner in disclosure.equal_on_control_side %}
                    when '{{ inner }}' then '{{ disclosure.within[inner] }}'
                {%- endfor %}
                else outcome
            end
        ) as is_small
    from small_outcomes
)

select
    {{ sql_string(var('matching_treated_window')) }} as treated_window,
    {{ sql_string(var('matching_control_window')) }} as control_window,
    {{ matching_follow_up_months() }} as follow_up_months,
    sides.outcome,
    sides.comparison,
    sides.treated_cases,
    sides.treated_count,
    sides.treated_rate,
    sides.control_cases,
    sides.control_count,
    sides.control_rate,
    sides.treated_rate - sides.control_rate as difference,
    sides.treated_rate - sides.control_rate
    - 1.959964 * sqrt(sides.treated_variance + sides.control_variance) as ci_lower,
    sides.treated_rate - sides.control_rate
    + 1.959964 * sqrt(sides.treated_variance + sides.control_variance) as ci_upper,
    matched_sample.treated_matched,
    matched_sample.treated_dropped,
    matched_sample.control_matched,
    matched_sample.control_dropped,
    -- a small matched or dropped group would show its make-up in the differences between the
    -- matched and unmatched figures: then everything is withheld
    {{ matching_small('matched_sample.treated_matched') }}
    or {{ matching_small('matched_sample.treated_dropped') }}
    or {{ matching_small('matched_sample.control_matched') }}
    or {{ matching_small('matched_sample.control_dropped') }}
    or linked_outcomes.is_small as suppressed,
    -- an every-case outcome's cases are the sample: published beside a withheld row
    sides.outcome in ('{{ disclosure.every_case | join("', '") }}') as cases_are_the_sample,
    current_snapshot.as_of_date
from sides
cross join matched_sample
cross join current_snapshot
inner join linked_outcomes
    on sides.outcome = linked_outcomes.outcome
