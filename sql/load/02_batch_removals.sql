-- The responses this batch removes (the newest export wins): those a newer export of the same name
-- no longer holds, when that export loads, unless the batch loads them again. One row per file per
-- response (key: file_sha256, response_key).
create or replace temp table batch_removals as
with deletions as (
    select * from batch_deletions
),

loading_files as (
    select file_sha256 from batch_files where status = 'staged'
),

loaded_again as (
    select response_key from batch_outcomes where outcome in ('loaded', 'corrected')
),

final as (
    select distinct
        deletions.file_sha256,
        deletions.response_key
    from deletions
    semi join loading_files using (file_sha256)
    anti join loaded_again using (response_key)
)

select * from final
