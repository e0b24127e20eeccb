-- One row per response per reporting group it belongs to (key: response_key, group_type): its team
-- and the whole organization. Further cuts (parent unit, service line) are added here.
with responses as (
    select * from stg_survey__responses
),

teams as (
    select
        responses.response_key,
        responses.wave,
        'team' as group_type,
        responses.team_id as group_id
    from responses
),

organization as (
    select
        responses.response_key,
        responses.wave,
        'organization' as group_type,
        'all' as group_id
    from responses
),

final as (
    select * from teams
    union all
    select * from organization
)

select * from final
