-- Scored responses whose team is not on the roster for their wave (after the roster's moves): one
-- row per wave and team (key: wave, team_id) with how many. A roster edited after responses were
-- loaded (a team removed, split, merged or renamed) leaves them here: published, they would count
-- in the organization but in no parent unit or service line.
with responses as (
    select * from stg_survey__responses
),

roster as (
    select * from stg_roster__team_waves
),

final as (
    select
        responses.wave,
        responses.team_id,
        count(*) as responses
    from responses
    anti join roster
        on roster.wave = responses.wave
        and roster.team_id = responses.team_id
    group by responses.wave, responses.team_id
)

select * from final
order by wave, team_id
