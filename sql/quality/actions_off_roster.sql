-- The action log's teams that are not on the roster, with their actions (key: team_id): those
-- actions are not published.
with actions as (
    select trim(team_id) as team_id from seed_actions
),

roster_teams as (
    select distinct team_id from stg_roster__team_waves
),

final as (
    select
        actions.team_id,
        count(*) as actions
    from actions
    anti join roster_teams on roster_teams.team_id = actions.team_id
    group by actions.team_id
)

select * from final
order by team_id
