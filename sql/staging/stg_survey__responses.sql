-- One row per response (key: response_key), without the answers.
with responses as (
    select * from raw_responses
),

final as (
    select
        responses.response_key,
        responses.team as team_id,
        responses.wave,
        responses.recorded_date,
        responses.progress,
        responses.duration_seconds,
        responses.finished
    from responses
)

select * from final
