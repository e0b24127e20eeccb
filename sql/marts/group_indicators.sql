-- Published. One row per wave x group x indicator for the cuts between team and organization
-- (key: wave, group_type, group_id, indicator): group_type 'parent_unit' and 'service_line' (from
-- the roster; group_id is the name) and any cut defined by an item's `group_by`, such as 'role'
-- (group_id is the answer's label; no rows when the exports carry no such item). Columns and rules
-- as in team_indicators: every group is published only when it reaches the minimum group size on
-- its own, and roles are never crossed with teams.
with indicators as (
    select * from int_indicators__suppressed
    where
        kind in ('mean', 'share')
        and (
            group_type in ('parent_unit', 'service_line')
            or facet_kind = 'group'
        )
),

definitions as (
    select * from indicator_definitions
),

final as (
    select
        indicators.wave,
        indicators.group_type,
        indicators.group_id,
        indicators.indicator,
        definitions.label as indicator_label,
        indicators.kind,
        definitions.direction,
        indicators.n,
        indicators.value,
        rounded_for_reading(indicators.value, indicators.kind) as value_rounded,
        indicators.ci_low,
        indicators.ci_high,
        indicators.suppressed,
        indicators.shrunk_value,
        indicators.previous_wave,
        indicators.previous_value,
        indicators.change,
        rounded_for_reading(indicators.change, indicators.kind) as change_rounded,
        indicators.change_p_value,
        indicators.change_significant
    from indicators
    left join definitions on definitions.indicator = indicators.indicator
)

select * from final
