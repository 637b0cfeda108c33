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
        is_nfa
    from {{ ref('stg_ssd__cin_episodes') }}
),

re_referrals as (
    select distinct referrals.referral_key
    from referrals
    inner join referrals as earlier
        on
            referrals.child_key = earlier.child_key
            and earlier.referral_date >= {{ add_months('referrals.referral_date', -12) }}
            and referrals.referral_date > earlier.referral_date
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
    re_referrals.referral_key is not null as is_re_referral
from referrals
inner join windows
    on referrals.referral_date between windows.window_start and windows.window_end
left join {{ ref('int_case_segments') }} as segments
    on
        windows.window_name = segments.window_name
        and referrals.referral_key = segments.referral_key
left join re_referrals
    on referrals.referral_key = re_referrals.referral_key
