-- One row per reporting unit per group it adds up to (key: wave, team_id, facet_kind, facet,
-- facet_level, group_type, group_id). A unit is the finest cell indicators are summed from: a
-- team's responses in a wave (facet 'all'), or those of them in one group of a facet, a role
-- (facet_kind 'group') or an exposure band (facet_kind 'exposure'). Whole-team units add up to
-- their team, parent unit, service line and the organization; a role unit to its role; an exposure
-- unit to the team's and the organization's cell of that band (group types team_by_<item> and
-- organization_by_<item>). Each group names the group it is part of (parent_group_type,
-- parent_group_id): the cells of one group type under one parent split that parent.
-- respondents and invited (the roster headcount; whole-team units only) are the unit's own. Teams
-- on the roster without a response count too, so that the headcount above them is complete, and
-- so do roster waves without a single response yet: their participation is 0%, not unknown.
with responses as (
    select * from stg_survey__responses
),

facets as (
    select * from int_responses__facets
),

roster as (
    select * from stg_roster__team_waves
),

responding_teams as (
    select
        responses.wave,
        responses.team_id,
        count(*) as respondents
    from responses
    group by responses.wave, responses.team_id
),

team_units as (
    select
        coalesce(responding_teams.wave, roster.wave) as wave,
        coalesce(responding_teams.team_id, roster.team_id) as team_id,
        coalesce(responding_teams.respondents, 0) as respondents,
        roster.headcount as invited,
        roster.parent_unit,
        roster.service_line
    from responding_teams
    full outer join roster
        on roster.wave = responding_teams.wave
        and roster.team_id = responding_teams.team_id
),

facet_units as (
    select
        facets.wave,
        facets.team_id,
        facets.facet_kind,
        facets.facet,
        facets.facet_level,
        count(*) as respondents
    from facets
    group by all
),

whole_team_memberships as (
    select
        team_units.wave,
        team_units.team_id,
        'all' as facet_kind,
        'all' as facet,
        'all' as facet_level,
        team_units.respondents,
        team_units.invited,
        memberships.group_type,
        memberships.group_id,
        memberships.parent_group_type,
        memberships.parent_group_id,
        case when memberships.group_type = 'team' then team_units.team_id end as group_team_id,
        cast(null as varchar) as exposure_item,
        cast(null as varchar) as exposure_band
    from team_units
    cross join lateral (
        values
            ('organization', 'all', null, null),
            (
                'team',
                team_units.team_id,
                if(team_units.parent_unit is null, 'organization', 'parent_unit'),
                coalesce(team_units.parent_unit, 'all')
            ),
            ('parent_unit', team_units.parent_unit, 'organization', 'all'),
            ('service_line', team_units.service_line, 'organization', 'all')
    ) as memberships (group_type, group_id, parent_group_type, parent_group_id)
    where memberships.group_id is not null
),

facet_memberships as (
    select
        facet_units.wave,
        facet_units.team_id,
        facet_units.facet_kind,
        facet_units.facet,
        facet_units.facet_level,
        facet_units.respondents,
        cast(null as integer) as invited,
        memberships.group_type,
        memberships.group_id,
        memberships.parent_group_type,
        memberships.parent_group_id,
        memberships.group_team_id,
        if(facet_units.facet_kind = 'exposure', facet_units.facet, null) as exposure_item,
        if(facet_units.facet_kind = 'exposure', facet_units.facet_level, null) as exposure_band
    from facet_units
    cross join lateral (
        select
            facet_units.facet as group_type,
            facet_units.facet_level as group_id,
            'organization' as parent_group_type,
            'all' as parent_group_id,
            cast(null as varchar) as group_team_id
        where facet_units.facet_kind = 'group'
        union all
        select
            'organization_by_' || facet_units.facet,
            facet_units.facet_level,
            'organization',
            'all',
            null
        where facet_units.facet_kind = 'exposure'
        union all
        select
            'team_by_' || facet_units.facet,
            facet_units.team_id || '/' || facet_units.facet_level,
            'team',
            facet_units.team_id,
            facet_units.team_id
        where facet_units.facet_kind = 'exposure'
    ) as memberships
),

final as (
    select * from whole_team_memberships
    union all
    select * from facet_memberships
)

select * from final
