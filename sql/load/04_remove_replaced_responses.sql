-- The newest export wins: the stored version of every corrected response (its new version is
-- inserted next) and every response a newer export of its survey no longer holds leave
-- raw_responses.
delete from raw_responses
where response_key in (
    select batch_outcomes.response_key from batch_outcomes where batch_outcomes.outcome = 'corrected'
    union all
    select batch_removals.response_key from batch_removals
)
