-- Published. One row per wave x indicator for the whole organization (key: wave, indicator);
-- the same indicators, labels, intervals, comparison with the previous wave, rounding and
-- suppression rule as team_indicators (an organization is not shrunk: it is what teams are shrunk
-- toward).
with indicators as (
    select * from int_indicators__suppressed
    where group_type = 'organization' and kind in ('mean', 'share')
),

definitions as (
    select * from indicator_definitions
),

final as (
    select
        indicators.wave,
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
