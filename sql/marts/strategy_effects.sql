-- Published. One row per strategy x pair of waves x mean indicator (key: strategy, wave_before,
-- wave_after, indicator): "what worked here". Teams that started the strategy between the two
-- waves (the action log's strategy column; treated_teams) are compared with teams that never
-- started it up to wave_after (control_teams), over the same waves: a difference in differences.
-- treated_change and control_change are the mean of the teams' changes in their mean score
-- (value in wave_after minus value in wave_before); effect is treated_change minus
-- control_change (negative: the score fell more, or rose less, where the strategy started), with
-- its 95% interval (effect_ci_low, effect_ci_high): the treated teams' changes carry the
-- uncertainty of their own two means (from their published 95% intervals), the control teams'
-- mean change the spread of their changes. Only teams whose cell is shown in team_indicators in
-- both waves take part, so every number here follows from published numbers. treated_respondents
-- and control_respondents count the respondents of wave_after. A row is suppressed (no change,
-- effect or interval) when the treated teams have fewer respondents than the minimum group size
-- in either wave, or fewer than two teams are left to compare with. indicator_label and direction
-- are as in team_indicators; effect_rounded is effect rounded for reading.
with actions as (
    select * from stg_actions__log where strategy is not null
),

waves as (
    select * from int_waves
),

team_means as (
    select * from int_indicators__suppressed
    where group_type = 'team' and kind = 'mean' and not suppressed
),

definitions as (
    select * from indicator_definitions
),

placed as (
    -- Each strategy action between the last wave whose fieldwork began before it and the next.
    select
        actions.strategy,
        actions.team_id,
        before_wave.wave as wave_before,
        after_wave.wave as wave_after,
        after_wave.wave_order as wave_after_order
    from actions
    asof inner join waves as before_wave on actions.action_date > before_wave.fieldwork_start
    inner join waves as after_wave on after_wave.wave_order = before_wave.wave_order + 1
),

periods as (
    select distinct strategy, wave_before, wave_after, wave_after_order from placed
),

started as (
    -- Teams that started a strategy at any time up to a period's end: never controls for it.
    select distinct
        periods.strategy,
        periods.wave_before,
        periods.wave_after,
        placed.team_id
    from periods
    inner join placed
        on placed.strategy = periods.strategy
        and placed.wave_after_order <= periods.wave_after_order
),

changes as (
    select
        periods.strategy,
        periods.wave_before,
        periods.wave_after,
        after_mean.indicator,
        after_mean.group_id as team_id,
        -- Exact decimals, so that sums over teams do not depend on the order they are added in
        -- (an incremental build must give the same numbers as a whole one).
        cast(after_mean.value as decimal(38, 12)) - cast(before_mean.value as decimal(38, 12))
            as change,
        -- A 95% interval is about 2 x 1.96 standard errors wide.
        cast(
            power((before_mean.ci_high - before_mean.ci_low) / 3.92, 2)
            + power((after_mean.ci_high - after_mean.ci_low) / 3.92, 2) as decimal(38, 12)
        ) as change_variance,
        least(before_mean.n, after_mean.n) as both_waves_n,
        after_mean.n,
        exists (
            select 1
            from placed
            where
                placed.strategy = periods.strategy
                and placed.wave_before = periods.wave_before
                and placed.team_id = after_mean.group_id
        ) as treated,
        exists (
            select 1
            from started
            where
                started.strategy = periods.strategy
                and started.wave_after = periods.wave_after
                and started.team_id = after_mean.group_id
        ) as ever_started
    from periods
    inner join team_means as after_mean on after_mean.wave = periods.wave_after
    inner join team_means as before_mean
        on before_mean.wave = periods.wave_before
        and before_mean.group_id = after_mean.group_id
        and before_mean.indicator = after_mean.indicator
),

compared as (
    select
        changes.strategy,
        changes.wave_before,
        changes.wave_after,
        changes.indicator,
        count(*) filter (where changes.treated) as treated_teams,
        count(*) filter (where not changes.ever_started) as control_teams,
        cast(coalesce(sum(changes.n) filter (where changes.treated), 0) as bigint)
            as treated_respondents,
        coalesce(min(changes.both_waves_n) filter (where changes.treated), 0)
            as smallest_treated_n,
        cast(coalesce(sum(changes.n) filter (where not changes.ever_started), 0) as bigint)
            as control_respondents,
        sum(changes.change) filter (where changes.treated) as treated_sum,
        sum(changes.change_variance) filter (where changes.treated) as treated_variance_sum,
        sum(changes.change) filter (where not changes.ever_started) as control_sum,
        sum(changes.change * changes.change) filter (where not changes.ever_started)
            as control_sum_of_squares
    from changes
    group by changes.strategy, changes.wave_before, changes.wave_after, changes.indicator
),

averaged as (
    select
        sums.*,
        cast(sums.treated_sum as double) / sums.treated_teams as treated_change,
        cast(sums.treated_variance_sum as double) / power(sums.treated_teams, 2)
            as treated_variance,
        cast(sums.control_sum as double) / sums.control_teams as control_change,
        -- The sample variance of the control teams' changes, over their number.
        (
            cast(sums.control_sum_of_squares as double)
            - power(cast(sums.control_sum as double), 2) / sums.control_teams
        ) / (sums.control_teams - 1) / sums.control_teams as control_variance
    from compared as sums
),

decided as (
    select
        averaged.*,
        averaged.treated_teams = 0
        or averaged.smallest_treated_n < getvariable('min_group_size')
        or averaged.control_teams < 2 as suppressed
    from averaged
),

final as (
    select
        decided.strategy,
        decided.wave_before,
        decided.wave_after,
        decided.indicator,
        definitions.label as indicator_label,
        definitions.direction,
        decided.treated_teams,
        decided.control_teams,
        if(decided.suppressed, null, decided.treated_respondents) as treated_respondents,
        if(decided.suppressed, null, decided.control_respondents) as control_respondents,
        if(decided.suppressed, null, decided.treated_change) as treated_change,
        if(decided.suppressed, null, decided.control_change) as control_change,
        if(decided.suppressed, null, decided.treated_change - decided.control_change) as effect,
        if(
            decided.suppressed,
            null,
            decided.treated_change - decided.control_change
            - 1.96 * sqrt(decided.treated_variance + decided.control_variance)
        ) as effect_ci_low,
        if(
            decided.suppressed,
            null,
            decided.treated_change - decided.control_change
            + 1.96 * sqrt(decided.treated_variance + decided.control_variance)
        ) as effect_ci_high,
        rounded_for_reading(
            if(decided.suppressed, null, decided.treated_change - decided.control_change), 'mean'
        ) as effect_rounded,
        decided.suppressed
    from decided
    left join definitions on definitions.indicator = decided.indicator
)

select * from final
