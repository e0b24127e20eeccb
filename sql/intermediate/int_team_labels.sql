-- One row per wave x team on the roster (key: wave, team_id): what the published tables print
-- beside a team id. team_name is the team's name on that wave's roster, or its latest name when
-- that wave's roster leaves it out; service_line and parent_unit are where that wave's roster puts
-- it (the groups its responses count toward in that wave), null when the roster leaves it out.
with roster as (
    select * from stg_roster__team_waves
),

waves as (
    select * from int_waves
),

latest_names as (
    select
        roster.team_id,
        arg_max(roster.team_name, roster.wave) as team_name
    from roster
    group by roster.team_id
),

final as (
    select
        waves.wave,
        latest_names.team_id,
        coalesce(roster.team_name, latest_names.team_name) as team_name,
        roster.service_line,
        roster.parent_unit
    from waves
    cross join latest_names
    left join roster
        on roster.wave = waves.wave
        and roster.team_id = latest_names.team_id
)

select * from final
