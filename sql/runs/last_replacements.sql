-- The exports that replaced earlier versions of their survey in the last run that replaced any:
-- one row per replacing export, with the earlier versions' names and the responses it removed.
with files as (
    select * from raw_files
),

replacing as (
    select * from files
    where len(coalesce(replaces_sha256, [])) > 0
),

last_run as (
    select run_id from replacing
    order by recorded_at desc
    limit 1
),

replacements as (
    select
        replacing.file_sha256,
        unnest(replacing.replaces_sha256) as replaced_sha256
    from replacing
    semi join last_run using (run_id)
),

final as (
    select
        replacing.file_name,
        list(replaced.file_name order by replaced.file_name) as replaces,
        replacing.rows_deleted
    from replacements
    inner join replacing using (file_sha256)
    inner join files as replaced on replaced.file_sha256 = replacements.replaced_sha256
    group by replacing.file_name, replacing.rows_deleted
)

select * from final
order by file_name
