-- The responses this batch removes (the newest export wins): those a newer export of their survey
-- no longer holds, when that export loads, unless the batch loads them again from an export it
-- does not replace (a response that only a replaced export of the batch holds is removed, not
-- loaded). One row per file per response (key: file_sha256, response_key).
create or replace temp table batch_removals as
with deletions as (
    select * from batch_deletions
),

loading_files as (
    select file_sha256 from batch_files where status = 'staged'
),

replaced as (
    select
        file_sha256,
        unnest(cast(replaces_sha256 as varchar[])) as replaced_sha256
    from batch_files
),

loads as (
    select
        file_sha256 as loaded_from,
        response_key
    from batch_outcomes
    where outcome in ('loaded', 'corrected')
),

loaded_again as (
    select
        deletions.file_sha256,
        deletions.response_key
    from deletions
    inner join loads using (response_key)
    anti join replaced
        on
            replaced.file_sha256 = deletions.file_sha256
            and replaced.replaced_sha256 = loads.loaded_from
),

final as (
    select distinct
        deletions.file_sha256,
        deletions.response_key
    from deletions
    semi join loading_files using (file_sha256)
    anti join loaded_again using (file_sha256, response_key)
)

select * from final
