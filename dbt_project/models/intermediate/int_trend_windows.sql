-- The rolling 12-month windows of the trends (metrics.md, "Trends"): one per month end, from the
-- first whole year of records (the first window starts on the first day of the first month that
-- the records cover whole: the month of the earliest referral when it is on the 1st, otherwise the
-- next) to the last month end on or before as_of_date, each named 12_months_to_<its end>. window_month is the month_index of the
-- window's last month; a window holds the months window_month - 11 to window_month.
with bounds as (
    select
        {{ month_index('referrals.first_referral') }}
        + case when extract(day from referrals.first_referral) = 1 then 11 else 12 end
            as first_window_month,
        {{ month_index('current_snapshot.as_of_date') }}
        - case
            when extract(day from {{ add_days('current_snapshot.as_of_date', 1) }}) = 1 then 0
            else 1
        end as last_window_month
    from (
        select min(referral_date) as first_referral
        from {{ ref('stg_ssd__cin_episodes') }}
    ) as referrals
    cross join {{ ref('stg_ssd__current_snapshot') }} as current_snapshot
),

months as (
    select bounds.first_window_month + series.month_offset as window_month
    from bounds
    cross join generate_series(0, 1200) as series (month_offset)
    where bounds.first_window_month + series.month_offset <= bounds.last_window_month
)

select
    '12_months_to_' || cast(window_end as varchar) as window_name,
    window_month,
    window_start,
    window_end
from (
    select
        window_month,
        {{ month_of_index('window_month - 11') }} as window_start,
        {{ add_days(month_of_index('window_month + 1'), -1) }} as window_end
    from months
) as windows
