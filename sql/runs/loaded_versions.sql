-- The loaded exports that a newer export of their survey could replace: those that no later
-- version has replaced already (what they held and it lacked is gone; what it kept, it holds).
-- Source, name and format give an export's survey; its modification time, which is newer.
with loaded as (
    select * from raw_files
    where status = 'loaded'
),

replaced as (
    select distinct unnest(replaces_sha256) as file_sha256
    from loaded
),

final as (
    select
        loaded.file_sha256,
        loaded.file_name,
        loaded.source,
        loaded.format,
        loaded.modified_ns
    from loaded
    anti join replaced using (file_sha256)
)

select * from final
order by file_sha256
