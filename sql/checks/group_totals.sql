-- Groups whose respondents are not the sum of their parts: per wave, the organization against its
-- teams, and each parent unit and service line against the teams the roster puts in it (key:
-- wave, group_type, group_id).
with groups as (
    select * from int_groups
),

roster as (
    select * from stg_roster__team_waves
),

teams as (
    select
        groups.wave,
        groups.group_id as team_id,
        groups.respondents,
        roster.parent_unit,
        roster.service_line
    from groups
    left join roster
        on roster.wave = groups.wave
        and roster.team_id = groups.group_id
    where groups.group_type = 'team'
),

parts as (
    select teams.wave, 'organization' as group_type, 'all' as group_id, sum(teams.respondents) as parts
    from teams
    group by teams.wave
    union all
    select teams.wave, 'parent_unit', teams.parent_unit, sum(teams.respondents)
    from teams
    where teams.parent_unit is not null
    group by teams.wave, teams.parent_unit
    union all
    select teams.wave, 'service_line', teams.service_line, sum(teams.respondents)
    from teams
    where teams.service_line is not null
    group by teams.wave, teams.service_line
),

final as (
    select
        groups.wave,
        groups.group_type,
        groups.group_id,
        groups.respondents,
        coalesce(parts.parts, 0) as parts
    from groups
    left join parts using (wave, group_type, group_id)
    where
        groups.group_type in ('organization', 'parent_unit', 'service_line')
        and groups.respondents <> coalesce(parts.parts, 0)
)

select * from final
order by wave, group_type, group_id
