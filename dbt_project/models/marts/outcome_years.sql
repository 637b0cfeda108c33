-- The release's years (docs/audiences.md, "The release"): outcome_trends' windows that are
-- financial years (1 April to 31 March, the CIN census year), segment all only. Financial years
-- do not overlap one another, so no month of one is a difference of two published windows; they
-- overlap the programme windows only in segment all, which the disclosure model covers.
-- Unsuppressed (internal): see outcome_years_suppressed.
select
    window_name,
    window_start,
    window_end,
    segment,
    metric,
    numerator,
    denominator,
    rate,
    ci_low,
    ci_high,
    suppressed,
    as_of_date
from {{ ref('outcome_trends') }}
where
    segment = 'all'
    and extract(month from window_end) = 3
    and extract(day from window_end) = 31
