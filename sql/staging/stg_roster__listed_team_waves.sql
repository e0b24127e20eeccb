-- One row per team per wave as the roster lists it (key: team_id, wave): who was invited, and where
-- the team sits in the organization, before the moves table's splits are applied.
with source as (
    select * from read_csv(getvariable('roster_path'), header = true, all_varchar = true)
),

final as (
    select
        trim(source.team_id) as team_id,
        trim(source.team_name) as team_name,
        trim(source.service_line) as service_line,
        trim(source.parent_unit) as parent_unit,
        trim(source.wave) as wave,
        cast(source.headcount as integer) as headcount
    from source
)

select * from final
