-- Published. One row per wave x group x exposure band x compassion-fatigue indicator (key: wave,
-- group_type, group_id, exposure_item, exposure_band, indicator): how the indicator varies with an
-- exposure asked in the context module (client aggression, share of clients who use stimulants,
-- access to supervision; any item with exposure_bands). group_type 'organization' (group_id 'all')
-- or 'team' (group_id the team id, with its name, service line and parent unit beside it). The
-- indicator's label, kind and direction, n, value, value_rounded and the 95% interval are as in
-- team_indicators, for the respondents in that exposure band; difference_from_first_band is value
-- minus the value of the first band of the same item and scope (band_order 1), when both are
-- shown. A cell is shown only when it reaches the minimum group size on its own.
with indicators as (
    select * from int_indicators__suppressed
    where facet_kind = 'exposure' and kind in ('mean', 'share')
),

groups as (
    select * from int_groups where facet_kind = 'exposure'
),

items as (
    select * from seed_item_definitions
),

exposure_bands as (
    select distinct item_id, band_id, band_order, band_label from seed_exposure_bands
),

team_labels as (
    select * from int_team_labels
),

definitions as (
    select * from indicator_definitions
),

described as (
    select
        indicators.wave,
        if(groups.team_id is null, 'organization', 'team') as group_type,
        coalesce(groups.team_id, 'all') as group_id,
        team_labels.team_name,
        team_labels.service_line,
        team_labels.parent_unit,
        groups.exposure_item,
        items.label as exposure_label,
        groups.exposure_band,
        exposure_bands.band_label as exposure_band_label,
        exposure_bands.band_order as exposure_band_order,
        indicators.indicator,
        definitions.label as indicator_label,
        indicators.kind,
        definitions.direction,
        indicators.n,
        indicators.value,
        rounded_for_reading(indicators.value, indicators.kind) as value_rounded,
        indicators.ci_low,
        indicators.ci_high,
        indicators.suppressed
    from indicators
    inner join groups
        on groups.wave = indicators.wave
        and groups.group_type = indicators.group_type
        and groups.group_id = indicators.group_id
    inner join items on items.item_id = groups.exposure_item
    inner join exposure_bands
        on exposure_bands.item_id = groups.exposure_item
        and exposure_bands.band_id = groups.exposure_band
    left join team_labels
        on team_labels.wave = indicators.wave
        and team_labels.team_id = groups.team_id
    left join definitions on definitions.indicator = indicators.indicator
),

final as (
    select
        described.*,
        described.value - first_band.value as difference_from_first_band
    from described
    left join described as first_band
        on first_band.wave = described.wave
        and first_band.group_type = described.group_type
        and first_band.group_id = described.group_id
        and first_band.exposure_item = described.exposure_item
        and first_band.indicator = described.indicator
        and first_band.exposure_band_order = 1
)

select * from final
