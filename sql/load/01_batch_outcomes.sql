-- What happens to each row of the batch: quarantined (it failed validation, or its file is held
-- back or unreadable: a failure without a row number), repeated (its response came earlier in
-- this batch: in the same file, or in a file before it), already_loaded (its response is in the
-- warehouse already) or loaded.
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

sightings as (
    select
        valid.*,
        row_number() over (
            partition by valid.response_key order by valid.file_sha256, valid.source_row
        ) as sighting
    from valid
),

final as (
    select
        batch.file_sha256,
        batch.source_row,
        batch.response_key,
        case
            when sightings.source_row is null then 'quarantined'
            when sightings.sighting > 1 then 'repeated'
            when raw_responses.response_key is not null then 'already_loaded'
            else 'loaded'
        end as outcome
    from batch
    left join sightings using (file_sha256, source_row)
    left join raw_responses on raw_responses.response_key = sightings.response_key
)

select * from final
