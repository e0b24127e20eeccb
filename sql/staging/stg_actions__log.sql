-- One row per action in the leaders' action log (key: action_id): what a team on the roster
-- changed and when, and the strategy (an id of strategies/*.toml) it carries out, null when none
-- is named. action_id numbers them in order of team, date and text. A date that is not a date
-- fails the run with the value named, rather than losing the action. An action whose team is not
-- on the roster is not published (the run reports it: resilience.site.actions_off_roster).
with source as (
    select * from seed_actions
),

roster_teams as (
    select distinct team_id from stg_roster__team_waves
),

cleaned as (
    select
        trim(source.team_id) as team_id,
        cast(trim(source.date) as date) as action_date,
        trim(source.action) as action,
        nullif(lower(trim(source.strategy)), '') as strategy
    from source
),

on_roster as (
    select cleaned.*
    from cleaned
    semi join roster_teams on roster_teams.team_id = cleaned.team_id
),

final as (
    select
        row_number() over (
            order by on_roster.team_id, on_roster.action_date, on_roster.action
        ) as action_id,
        on_roster.team_id,
        on_roster.action_date,
        on_roster.action,
        on_roster.strategy
    from on_roster
)

select * from final
