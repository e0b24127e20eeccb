-- The batch as the one-response-per-id rule sees it: one row per batch row (key: file_sha256,
-- source_row) with the number of different versions of its response id in its file. A row
-- repeated verbatim is one version; two rows that differ in anything but their row number are two.
-- A row without an id has no count (not_null reports it).
with batch as (
    select * from ingest_batch
),

versions as (
    select
        batch.file_sha256,
        batch.source_row,
        batch.response_key,
        count(distinct hash(*columns(* exclude (file_sha256, source_row)))) over (
            partition by batch.file_sha256, batch.response_key
        ) as versions_of_key
    from batch
),

final as (
    select
        versions.file_sha256,
        versions.source_row,
        versions.response_key,
        case
            when versions.response_key is not null then versions.versions_of_key
        end as response_versions_in_file
    from versions
)

select * from final
