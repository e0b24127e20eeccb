-- One row per export file in the manifest (key: file_sha256): what validation and loading did with
-- it the last time it was read, how many of its loaded responses the careless-responding rules
-- exclude now, how many of them replaced a stored version with other answers, how many responses
-- it removed (a newer export of their survey that no longer holds them), and the names of the
-- earlier versions of its survey it replaced.
with files as (
    select * from raw_files
),

replacements as (
    select
        file_sha256,
        unnest(replaces_sha256) as replaced_sha256
    from files
),

replaced_names as (
    select
        replacements.file_sha256,
        list(replaced.file_name order by replaced.file_name) as replaces
    from replacements
    inner join files as replaced on replaced.file_sha256 = replacements.replaced_sha256
    group by replacements.file_sha256
),

responses as (
    select * from raw_responses
),

flags as (
    select * from int_quality__response_flags
),

excluded as (
    select
        responses.file_sha256,
        count(*) as rows_excluded
    from responses
    inner join flags on flags.response_key = responses.response_key
    where flags.excluded
    group by responses.file_sha256
),

final as (
    select
        files.file_name,
        files.file_sha256,
        files.status,
        files.reason,
        files.rows_read,
        files.rows_dropped_status,
        files.rows_already_loaded,
        files.rows_repeated,
        files.rows_quarantined,
        files.rows_loaded,
        coalesce(excluded.rows_excluded, 0) as rows_excluded,
        coalesce(files.rows_corrected, 0) as rows_corrected,
        coalesce(files.rows_deleted, 0) as rows_deleted,
        coalesce(replaced_names.replaces, cast([] as varchar[])) as replaces
    from files
    left join excluded on excluded.file_sha256 = files.file_sha256
    left join replaced_names on replaced_names.file_sha256 = files.file_sha256
)

select * from final
order by file_name, file_sha256
