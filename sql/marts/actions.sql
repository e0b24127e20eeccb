-- Published. One row per action in the leaders' action log per mean indicator (key: action_id,
-- indicator): what a team changed and when (team_id, action_date, action, as the leaders wrote
-- them, with the team's latest name, service line and parent unit as in teams; strategy: the id of
-- the strategy it carries out, if the log names one), the last wave
-- whose fieldwork began before the action (wave_before) and the first one after it (wave_after),
-- and the team's indicator (with its label and direction) in both: value_before, value_after, and
-- the change with its p-value and significance as in team_indicators, and rounded for reading.
-- Values of suppressed cells are null, as in team_indicators; wave_after is null until a wave has
-- followed the action.
with actions as (
    select * from stg_actions__log
),

waves as (
    select * from int_waves
),

scales as (
    select * from seed_scale_definitions
),

team_means as (
    select * from int_indicators__suppressed where group_type = 'team' and kind = 'mean'
),

latest_teams as (
    select * from teams
),

definitions as (
    select * from indicator_definitions
),

dated as (
    select
        actions.*,
        waves.wave as wave_before,
        waves.wave_order as wave_before_order
    from actions
    asof left join waves on actions.action_date > waves.fieldwork_start
),

placed as (
    select
        dated.*,
        next_wave.wave as wave_after
    from dated
    left join waves as next_wave
        on next_wave.wave_order = coalesce(dated.wave_before_order, 0) + 1
),

final as (
    select
        placed.action_id,
        placed.team_id,
        latest_teams.team_name,
        latest_teams.service_line,
        latest_teams.parent_unit,
        placed.action_date,
        placed.action,
        placed.strategy,
        scales.indicator,
        definitions.label as indicator_label,
        definitions.direction,
        placed.wave_before,
        placed.wave_after,
        before_action.value as value_before,
        after_action.value as value_after,
        after_action.change,
        rounded_for_reading(after_action.change, 'mean') as change_rounded,
        after_action.change_p_value,
        after_action.change_significant
    from placed
    cross join scales
    left join latest_teams on latest_teams.team_id = placed.team_id
    left join definitions on definitions.indicator = scales.indicator
    left join team_means as before_action
        on before_action.wave = placed.wave_before
        and before_action.group_id = placed.team_id
        and before_action.indicator = scales.indicator
    left join team_means as after_action
        on after_action.wave = placed.wave_after
        and after_action.group_id = placed.team_id
        and after_action.indicator = scales.indicator
)

select * from final
