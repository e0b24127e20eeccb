-- The staged team values that name no roster team, with their responses (key: team).
with batch as (
    select * from ingest_batch
),

final as (
    select
        coalesce(batch.team, '') as team,
        count(*) as responses
    from batch
    where batch.team is null or not list_contains($team_ids, batch.team)
    group by all
)

select * from final
order by responses desc, team
