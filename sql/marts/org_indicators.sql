-- Published. One row per wave x indicator for the whole organization (key: wave, indicator);
-- the same indicators, intervals, comparison with the previous wave and suppression rule as
-- team_indicators (an organization is not shrunk: it is what teams are shrunk toward).
with indicators as (
    select * from int_indicators__suppressed
    where group_type = 'organization' and kind in ('mean', 'share')
),

final as (
    select
        indicators.wave,
        indicators.indicator,
        indicators.n,
        indicators.value,
        indicators.ci_low,
        indicators.ci_high,
        indicators.suppressed,
        indicators.previous_wave,
        indicators.previous_value,
        indicators.change,
        indicators.change_p_value,
        indicators.change_significant
    from indicators
)

select * from final
