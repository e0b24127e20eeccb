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

final as (
    select
        indicators.wave,
        indicators.group_type,
        indicators.group_id,
        indicators.indicator,
        indicators.n,
        indicators.value,
        indicators.ci_low,
        indicators.ci_high,
        indicators.suppressed,
        indicators.shrunk_value,
        indicators.previous_wave,
        indicators.previous_value,
        indicators.change,
        indicators.change_p_value,
        indicators.change_significant
    from indicators
)

select * from final
