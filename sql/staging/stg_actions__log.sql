-- One row per action in the leaders' action log (key: action_id): what a team changed and when,
-- and the strategy (an id of strategies/*.toml) it carries out, null when none is named.
-- action_id numbers them in order of team, date and text. A date that is not a date fails
-- the run with the value named, rather than losing the action.
with source as (
    select * from seed_actions
),

cleaned as (
    select
        trim(source.team_id) as team_id,
        cast(trim(source.date) as date) as action_date,
        trim(source.action) as action,
        nullif(lower(trim(source.strategy)), '') as strategy
    from source
),

final as (
    select
        row_number() over (
            order by cleaned.team_id, cleaned.action_date, cleaned.action
        ) as action_id,
        cleaned.team_id,
        cleaned.action_date,
        cleaned.action,
        cleaned.strategy
    from cleaned
)

select * from final
