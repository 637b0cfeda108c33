-- One row per window and referral (NFA or not) dated in it, flagged when the same child has another
-- referral dated in [referral date - 12 months, referral date).
with windows as (
    select
        window_name,
        window_start,
        window_end
    from {{ ref('programme_windows') }}
),

referrals as (
    select
        referral_key,
        child_key,
        referral_date,
        is_nfa,
        is_re_referral
    from {{ ref('int_referral_outcomes') }}
)

select
    windows.window_name,
    windows.window_start,
    windows.window_end,
    referrals.referral_key,
    referrals.child_key,
    referrals.referral_date,
    referrals.is_nfa,
    coalesce(segments.segment, 'unassigned') as segment,
    referrals.is_re_referral
from referrals
inner join windows
    on referrals.referral_date between windows.window_start and windows.window_end
left join {{ ref('int_case_segments') }} as segments
    on
        windows.window_name = segments.window_name
        and referrals.referral_key = segments.referral_key
