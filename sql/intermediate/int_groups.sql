-- One row per wave x reporting group (key: wave, group_type, group_id): the group it is part of,
-- the team it belongs to (team and team_by_<item> groups), its exposure item and band (exposure
-- groups), how many responded and how many were invited (roster headcount; null where the roster
-- says nothing, as for roles and exposure bands). group_type 'organization' has group_id 'all'.
with units as (
    select * from int_group_units
),

final as (
    select
        units.wave,
        units.group_type,
        units.group_id,
        any_value(units.facet_kind) as facet_kind,
        any_value(units.parent_group_type) as parent_group_type,
        any_value(units.parent_group_id) as parent_group_id,
        any_value(units.group_team_id) as team_id,
        any_value(units.exposure_item) as exposure_item,
        any_value(units.exposure_band) as exposure_band,
        cast(sum(units.respondents) as bigint) as respondents,
        cast(sum(units.invited) as bigint) as invited
    from units
    group by units.wave, units.group_type, units.group_id
)

select * from final
