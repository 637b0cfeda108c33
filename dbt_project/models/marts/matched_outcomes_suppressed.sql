-- matched_outcomes as published (docs/matching.md, "Disclosure control"): a suppressed row's
-- figures are NULL; the matched and dropped counts too when one of them is small.
with sample_small as (
    select
        bool_or(
            {{ matching_small('treated_matched') }}
            or {{ matching_small('treated_dropped') }}
            or {{ matching_small('control_matched') }}
            or {{ matching_small('control_dropped') }}
        ) as is_small
    from {{ ref('matched_outcomes') }}
)

select
    outcomes.treated_window,
    outcomes.control_window,
    outcomes.follow_up_months,
    outcomes.outcome,
    outcomes.comparison,
    {%- for column in [
        'treated_cases', 'treated_count', 'treated_rate', 'control_cases', 'control_count',
        'control_rate', 'difference', 'ci_lower', 'ci_upper',
    ] %}
        {%- if column in ('treated_cases', 'control_cases') %}
            -- an every-case outcome's cases are the sample, published beside it
            case
                when
                    not outcomes.suppressed
                    or (outcomes.cases_are_the_sample and not sample_small.is_small)
                    then outcomes.{{ column }}
            end as {{ column }},
        {%- else %}
            case when not outcomes.suppressed then outcomes.{{ column }} end as {{ column }},
        {%- endif %}
    {%- endfor %}
    {%- for column in ['treated_matched', 'treated_dropped', 'control_matched', 'control_dropped'] %}
        case when not sample_small.is_small then outcomes.{{ column }} end as {{ column }},
    {%- endfor %}
    outcomes.suppressed,
    outcomes.as_of_date
from {{ ref('matched_outcomes') }} as outcomes
cross join sample_small
