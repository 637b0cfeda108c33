-- Case matching (docs/matching.md): balance of every characteristic, one indicator per category
-- (one, true, for a yes/no characteristic): the treated and control means and the standardised
-- difference (mean_T - mean_C) / sqrt((var_T + var_C) / 2), before matching (every case whose
-- follow-up has ended) and after (matched cases, controls weighted). Unsuppressed (internal):
-- suppressed says what matched_balance_suppressed hides.
{%- set used = matching_characteristics() %}
{%- set booleans = matching_boolean_characteristics() %}

with cases as (
    select *
    from {{ ref('int_matching_cases') }}
    where is_followed_up
),

current_snapshot as (
    select as_of_date from {{ ref('stg_ssd__current_snapshot') }}
),

matched_sample as (
    {{ matching_sample_counts('cases') }}
),

case_values as (
    {%- for name in matching_known_characteristics() %}
        select
            '{{ name }}' as characteristic,
            {{ loop.index }} as characteristic_order,
            case_key,
            matching_group,
            is_matched,
            matching_weight,
            cast({{ name }} as varchar) as category
        from cases
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

categories as (
    select distinct
        characteristic,
        characteristic_order,
        category
    from case_values
    where
        not (
            characteristic in ({{ "'" ~ booleans | join("', '") ~ "'" }})
            and category = 'false'
        )
),

indicators as (
    select
        categories.characteristic,
        categories.characteristic_order,
        categories.category,
        case_values.matching_group,
        case_values.is_matched,
        case_values.matching_weight as weight,
        cast(case_values.category = categories.category as integer) as indicator
    from categories
    inner join case_values
        on categories.characteristic = case_values.characteristic
),

means as (
    select
        characteristic,
        characteristic_order,
        category,
        count(*) filter (where matching_group = 'treated') as treated_before_cases,
        coalesce(
            sum(indicator) filter (where matching_group = 'treated'), 0
        ) as treated_before_count,
        avg(indicator) filter (where matching_group = 'treated') as treated_mean_before,
        count(*) filter (where matching_group = 'control') as control_before_cases,
        coalesce(
            sum(indicator) filter (where matching_group = 'control'), 0
        ) as control_before_count,
        avg(indicator) filter (where matching_group = 'control') as control_mean_before,
        count(*) filter (where matching_group = 'treated' and is_matched) as treated_after_cases,
        coalesce(
            sum(indicator) filter (where matching_group = 'treated' and is_matched), 0
        ) as treated_after_count,
        avg(indicator) filter (
            where matching_group = 'treated' and is_matched
        ) as treated_mean_after,
        count(*) filter (where matching_group = 'control' and is_matched) as control_after_cases,
        coalesce(
            sum(indicator) filter (where matching_group = 'control' and is_matched), 0
        ) as control_after_count,
        sum(weight * indicator) filter (where matching_group = 'control' and is_matched)
        / sum(weight) filter (
            where matching_group = 'control' and is_matched
        ) as control_mean_after
    from indicators
    group by characteristic, characteristic_order, category
),

-- primary suppression (docs/matching.md): any count the row implies lies between 1 and the
-- threshold: cases in the category and not in it, on each side, before and after matching, and
-- among the dropped cases (before minus after)
primary_suppression as (
    select
        *,
        {{ matching_small('treated_before_count') }}
        or {{ matching_small('treated_before_cases - treated_before_count') }}
        or {{ matching_small('control_before_count') }}
        or {{ matching_small('control_before_cases - control_before_count') }}
        or {{ matching_small('treated_after_count') }}
        or {{ matching_small('treated_after_cases - treated_after_count') }}
        or {{ matching_small('control_after_count') }}
        or {{ matching_small('control_after_cases - control_after_count') }}
        or {{ matching_small('treated_before_count - treated_after_count') }}
        or {{ matching_small(
            '(treated_before_cases - treated_before_count)'
            ~ ' - (treated_after_cases - treated_after_count)'
        ) }}
        or {{ matching_small('control_before_count - control_after_count') }}
        or {{ matching_small(
            '(control_before_cases - control_before_count)'
            ~ ' - (control_after_cases - control_after_count)'
        ) }} as is_small,
        count(*) over (partition by characteristic) as characteristic_categories
    from means
),

-- complementary suppression: a characteristic's categories add up to every case, before and
-- after matching, so the categories withheld add up to what the published ones leave: withheld
-- together they are known to lie between 0 and those totals. The small categories are withheld
-- with the next smallest, one by one, until each such total (treated and control, before and
-- after matching, and the dropped cases) is 0 or at least the threshold, and at least two are
-- withheld; all of them if no fewer will do. A yes/no characteristic has one row (true): its
-- count is bounded by the sample only.
ordered as (
    select
        *,
        count(*) filter (where is_small) over (partition by characteristic) as small_categories,
        row_number() over hiding as hiding_order,
        sum(treated_before_count) over hiding as treated_withheld,
        sum(control_before_count) over hiding as control_withheld,
        sum(treated_after_count) over hiding as treated_after_withheld,
        sum(control_after_count) over hiding as control_after_withheld
    from primary_suppression
    window hiding as (
        partition by characteristic
        order by is_small desc, treated_before_count + control_before_count, category asc
        rows between unbounded preceding and current row
    )
),

complementary as (
    select
        *,
        coalesce(
            min(hiding_order) filter (
                where
                hiding_order >= small_categories
                and (hiding_order >= 2 or characteristic_categories = 1)
                and {{ matching_wide('treated_withheld') }}
                and {{ matching_wide('control_withheld') }}
                and {{ matching_wide('treated_after_withheld') }}
                and {{ matching_wide('control_after_withheld') }}
                and {{ matching_wide('treated_withheld - treated_after_withheld') }}
                and {{ matching_wide('control_withheld - control_after_withheld') }}
            ) over (partition by characteristic),
            characteristic_categories
        ) as withheld_categories
    from ordered
)

select
    {{ sql_string(var('matching_treated_window')) }} as treated_window,
    {{ sql_string(var('matching_control_window')) }} as control_window,
    complementary.characteristic,
    complementary.category,
    complementary.characteristic in (
        {{ "'" ~ used | join("', '") ~ "'" }}
    ) as used_in_matching,
    complementary.treated_mean_before,
    complementary.control_mean_before,
    {{ standardised_difference(
        'complementary.treated_mean_before', 'complementary.control_mean_before'
    ) }} as std_diff_before,
    complementary.treated_mean_after,
    complementary.control_mean_after,
    {{ standardised_difference(
        'complementary.treated_mean_after', 'complementary.control_mean_after'
    ) }} as std_diff_after,
    {{ matching_small('matched_sample.treated_matched') }}
    or {{ matching_small('matched_sample.treated_dropped') }}
    or {{ matching_small('matched_sample.control_matched') }}
    or {{ matching_small('matched_sample.control_dropped') }}
    or (
        complementary.small_categories > 0
        and complementary.hiding_order <= complementary.withheld_categories
    ) as suppressed,
    current_snapshot.as_of_date
from complementary
cross join matched_sample
cross join current_snapshot
