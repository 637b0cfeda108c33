-- Disclosure control (metrics.md): a row whose numerator, denominator or denominator - numerator
-- lies between 1 and var('suppression_threshold') has numerator, denominator and rate NULL and
-- suppressed true. Publish copies this table as outcome_metrics.
{%- set threshold = var('suppression_threshold', 5) | int %}

with flagged as (
    select
        *,
        (
            numerator between 1 and {{ threshold }}
            or denominator between 1 and {{ threshold }}
            or (denominator - numerator) between 1 and {{ threshold }}
        ) as is_small
    from {{ ref('outcome_metrics') }}
)

select
    window_name,
    window_start,
    window_end,
    segment,
    metric,
    case when not is_small then numerator end as numerator,
    case when not is_small then denominator end as denominator,
    case when not is_small then rate end as rate,
    is_small as suppressed,
    as_of_date
from flagged
