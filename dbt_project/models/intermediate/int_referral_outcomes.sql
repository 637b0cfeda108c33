-- One row per referral (NFA or not), flagged when the same child has another referral dated in
-- [referral date - 12 months, referral date) (metrics.md, re_referral_rate). fct_referral_windows
-- and int_trend_memberships both read it.
with referrals as (
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
    referrals.referral_key,
    referrals.child_key,
    referrals.referral_date,
    referrals.is_nfa,
    re_referrals.referral_key is not null as is_re_referral
from referrals
left join re_referrals
    on referrals.referral_key = re_referrals.referral_key
