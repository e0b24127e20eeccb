-- The file manifest: every file read in this run (not the ones skipped as loaded before), with its
-- row counts and status: loaded, held_back (too many of its rows failed validation: all of them
-- are quarantined) or quarantined (unreadable). A held-back or quarantined file is read again when
-- what it is read with changes (inputs_fingerprint); a loaded file is never read again.
insert or replace into raw_files by name
with outcomes as (
    select * from batch_file_counts
),

final as (
    select
        batch_files.file_sha256,
        batch_files.file_name,
        batch_files.source,
        batch_files.format,
        batch_files.size_bytes,
        batch_files.rows_read,
        batch_files.rows_dropped_status,
        coalesce(outcomes.rows_quarantined, 0) as rows_quarantined,
        coalesce(outcomes.rows_loaded, 0) as rows_loaded,
        -- Rows of responses loaded before were counted and left out when the file was staged.
        batch_files.rows_already_loaded + coalesce(outcomes.rows_already_loaded, 0)
            as rows_already_loaded,
        coalesce(outcomes.rows_repeated, 0) as rows_repeated,
        coalesce(outcomes.rows_corrected, 0) as rows_corrected,
        coalesce(outcomes.rows_deleted, 0) as rows_deleted,
        batch_files.modified_ns,
        -- A file held back replaces nothing.
        if(
            batch_files.status = 'staged', cast(batch_files.replaces_sha256 as varchar[]), []
        ) as replaces_sha256,
        case when batch_files.status = 'staged' then 'loaded' else batch_files.status end as status,
        batch_files.reason,
        batch_files.archive_path,
        batch_files.archive_sha256,
        cast(batch_files.column_plan as json) as column_plan,
        batch_files.inputs_fingerprint,
        getvariable('run_id') as run_id,
        current_timestamp::timestamp as recorded_at
    from batch_files
    left join outcomes using (file_sha256)
)

select * from final
