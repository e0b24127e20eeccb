-- What happens to each row of the batch: quarantined (it failed validation, or its file is held
-- back or unreadable: a failure without a row number), repeated (its response came in another row
-- of this batch that wins: the same file's first row, and the newest file's when the newest export
-- wins, else the first file's), corrected (its response is in the warehouse with other answers:
-- this version replaces it), already_loaded (its response is in the warehouse, and the version
-- loaded first is kept) or loaded.
create or replace temp table batch_outcomes as
with batch as (
    select file_sha256, source_row, response_key from ingest_batch
),

failed_rows as (
    select distinct file_sha256, source_row from batch_row_failures
),

failed_files as (
    select distinct file_sha256 from batch_row_failures where source_row is null
),

valid as (
    select batch.*
    from batch
    anti join failed_rows using (file_sha256, source_row)
    anti join failed_files using (file_sha256)
),

files as (
    select file_sha256, modified_ns from batch_files
),

sightings as (
    select
        valid.*,
        row_number() over (
            partition by valid.response_key
            order by
                -- The newest export wins (when the policy says so); within one, the first row.
                if(getvariable('reexports_newest'), -files.modified_ns, 0),
                valid.file_sha256,
                valid.source_row
        ) as sighting
    from valid
    inner join files using (file_sha256)
),

final as (
    select
        batch.file_sha256,
        batch.source_row,
        batch.response_key,
        case
            when sightings.source_row is null then 'quarantined'
            when sightings.sighting > 1 then 'repeated'
            -- Staged although stored: its answers differ (a corrected re-export).
            when raw_responses.response_key is not null
                then if(getvariable('reexports_newest'), 'corrected', 'already_loaded')
            else 'loaded'
        end as outcome
    from batch
    left join sightings using (file_sha256, source_row)
    left join raw_responses on raw_responses.response_key = sightings.response_key
)

select * from final
