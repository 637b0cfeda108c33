-- Cases: referrals that are not NFA, open on [referral_date, close_date] (open-ended while the
-- close date is NULL).
select
    referral_key as case_key,
    child_key,
    referral_date,
    close_date,
    close_reason,
    referral_team_id
from {{ ref('stg_ssd__cin_episodes') }}
where not is_nfa
