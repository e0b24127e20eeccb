-- Published. One row per team on the roster (key: team_id), as named in its latest wave.
with roster as (
    select * from stg_roster__team_waves
),

final as (
    select
        team_id,
        arg_max(team_name, wave) as team_name,
        arg_max(service_line, wave) as service_line,
        arg_max(parent_unit, wave) as parent_unit
    from roster
    group by team_id
)

select * from final
