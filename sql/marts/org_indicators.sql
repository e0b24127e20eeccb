-- Published. One row per wave x indicator for the whole organization (key: wave, indicator);
-- same columns and rules as team_indicators.
with indicators as (
    select * from int_indicators__suppressed where group_type = 'organization'
),

final as (
    select
        indicators.wave,
        indicators.indicator,
        indicators.n,
        indicators.value,
        indicators.ci_low,
        indicators.ci_high,
        indicators.suppressed
    from indicators
)

select * from final
