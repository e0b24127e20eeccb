-- Published. One row per wave x team x indicator (key: wave, team_id, indicator).
-- indicator: <instrument>_<scale> is the mean score with a 95% t interval;
-- <instrument>_<scale>_share_<band> is the share (0 to 1) of scored responses in that band with a
-- 95% Wilson interval. Suppressed cells (fewer respondents than the minimum group size) have null
-- n, value and interval.
with indicators as (
    select * from int_indicators__suppressed where group_type = 'team'
),

final as (
    select
        indicators.wave,
        indicators.group_id as team_id,
        indicators.indicator,
        indicators.n,
        indicators.value,
        indicators.ci_low,
        indicators.ci_high,
        indicators.suppressed
    from indicators
)

select * from final
