-- matched_balance as published (docs/matching.md, "Disclosure control"): a suppressed row's means
-- and standardised differences are NULL.
select
    treated_window,
    control_window,
    characteristic,
    category,
    used_in_matching,
    {%- for column in [
        'treated_mean_before', 'control_mean_before', 'std_diff_before',
        'treated_mean_after', 'control_mean_after', 'std_diff_after',
    ] %}
        case when not suppressed then {{ column }} end as {{ column }},
    {%- endfor %}
    suppressed,
    as_of_date
from {{ ref('matched_balance') }}
