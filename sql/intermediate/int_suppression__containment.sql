-- One row per wave x reporting group x group that contains it (key: wave, group_type, group_id,
-- container_group_type, container_group_id): every respondent of the group is also one of the
-- container's, so the container's numbers minus those of groups inside it can describe the rest.
-- Containment comes from two places: the parent each group names (a team in its parent unit, a
-- role or an exposure band in the organization, a team's exposure band in the team), and units
-- (int_group_units): a group is inside another when every unit it is summed from also adds up to
-- the other (a team in its service line and the organization, a team's exposure band in the
-- organization's cell of that band, a parent unit inside a service line when all its teams are).
-- The relation is closed under "inside something inside", so a team's exposure band is also
-- inside the team's parent unit. Groups made of the very same units contain each other.
with recursive units as (
    select * from int_group_units
),

groups as (
    select * from int_groups
),

unit_groups as (
    select distinct
        units.wave,
        units.team_id,
        units.facet_kind,
        units.facet,
        units.facet_level,
        units.group_type,
        units.group_id
    from units
),

group_unit_counts as (
    select
        unit_groups.wave,
        unit_groups.group_type,
        unit_groups.group_id,
        count(*) as unit_count
    from unit_groups
    group by all
),

unit_containment as (
    select
        inner_group.wave,
        inner_group.group_type,
        inner_group.group_id,
        outer_group.group_type as container_group_type,
        outer_group.group_id as container_group_id
    from unit_groups as inner_group
    inner join unit_groups as outer_group
        on outer_group.wave = inner_group.wave
        and outer_group.team_id = inner_group.team_id
        and outer_group.facet_kind = inner_group.facet_kind
        and outer_group.facet = inner_group.facet
        and outer_group.facet_level = inner_group.facet_level
        and (
            outer_group.group_type != inner_group.group_type
            or outer_group.group_id != inner_group.group_id
        )
    inner join group_unit_counts
        on group_unit_counts.wave = inner_group.wave
        and group_unit_counts.group_type = inner_group.group_type
        and group_unit_counts.group_id = inner_group.group_id
    group by all
    having count(*) = any_value(group_unit_counts.unit_count)
),

declared_containment as (
    select
        groups.wave,
        groups.group_type,
        groups.group_id,
        groups.parent_group_type as container_group_type,
        groups.parent_group_id as container_group_id
    from groups
    where groups.parent_group_type is not null
),

direct_containment as (
    select * from unit_containment
    union
    select * from declared_containment
),

closure (wave, group_type, group_id, container_group_type, container_group_id) as (
    select * from direct_containment
    union
    select
        closure.wave,
        closure.group_type,
        closure.group_id,
        direct_containment.container_group_type,
        direct_containment.container_group_id
    from closure
    inner join direct_containment
        on direct_containment.wave = closure.wave
        and direct_containment.group_type = closure.container_group_type
        and direct_containment.group_id = closure.container_group_id
    where
        direct_containment.container_group_type != closure.group_type
        or direct_containment.container_group_id != closure.group_id
),

final as (
    select * from closure
)

select * from final
