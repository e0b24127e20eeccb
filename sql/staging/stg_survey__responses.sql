-- One row per response that is scored (key: response_key; response_row, its rowid in
-- raw_responses, is the key the answers and scores carry), without the answers.
-- Responses that the configured careless-responding rules exclude stay in the warehouse with
-- their reasons (int_quality__response_flags) and are left out here, so no score or indicator
-- counts them. A team the roster's moves table (wave, from_team, to_team) moves for a wave has
-- its responses of that wave counted under the team it moved to; a team it splits (rows with a
-- share) keeps them (stg_roster__team_waves).
-- Built incrementally by wave, as the flags are: a build with new responses rebuilds only their
-- waves' rows.
-- materialized: incremental by wave
with responses as (
    select
        rowid as response_row,
        *
    from raw_responses
    where in_rebuilt_waves(wave)
),

excluded as (
    select * from int_quality__response_flags
    where excluded and in_rebuilt_waves(wave)
),

moves as (
    select * from seed_team_moves
    where share is null
),

final as (
    select
        responses.response_key,
        responses.response_row,
        coalesce(moves.to_team, responses.team) as team_id,
        responses.wave,
        responses.recorded_date,
        responses.progress,
        responses.duration_seconds,
        responses.finished
    from responses
    left join moves
        on moves.wave = responses.wave
        and moves.from_team = responses.team
    anti join excluded on excluded.response_row = responses.response_row
)

select * from final
