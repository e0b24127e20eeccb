-- Published. One row per wave x team x indicator (key: wave, team_id, indicator).
-- indicator: <instrument>_<scale> is the mean score with a 95% t interval;
-- <instrument>_<scale>_share_<band> is the share (0 to 1) of scored responses in that band with a
-- 95% Wilson interval. Beside the ids: the team's name, service line and parent unit on that
-- wave's roster, and the indicator's label, kind and direction from indicator_definitions.
-- shrunk_value is the empirical-Bayes estimate to show beside the raw value: the team's value
-- pulled toward the organization's, the more the fewer its respondents. previous_value and change
-- compare with the team in previous_wave; change_p_value is two-sided (Welch t-test for means,
-- two-proportion z-test for shares) and change_significant says it is below the configured
-- significance level. value_rounded and change_rounded are value and change rounded for reading.
-- Suppressed cells (fewer respondents than the minimum group size) have null n, value, interval
-- and shrunk value; the comparison is null also when the previous wave's cell was suppressed.
with indicators as (
    select * from int_indicators__suppressed
    where group_type = 'team' and kind in ('mean', 'share')
),

team_labels as (
    select * from int_team_labels
),

definitions as (
    select * from indicator_definitions
),

final as (
    select
        indicators.wave,
        indicators.group_id as team_id,
        team_labels.team_name,
        team_labels.service_line,
        team_labels.parent_unit,
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
    left join team_labels
        on team_labels.wave = indicators.wave
        and team_labels.team_id = indicators.group_id
    left join definitions on definitions.indicator = indicators.indicator
)

select * from final
