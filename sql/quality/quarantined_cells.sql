-- The first $cells_per_file quarantined cells of each file as it was last read (the quarantine rows
-- of the run that last recorded the file), with the file's total: one row per cell (key:
-- file_sha256, source_row, column_name, rule). A null source_row is the whole file.
with files as (
    select * from raw_files
),

quarantined as (
    select * from quarantine
),

numbered as (
    select
        quarantined.file_sha256,
        quarantined.source_row,
        quarantined.column_name,
        quarantined.rule,
        quarantined.value,
        row_number() over (
            partition by quarantined.file_sha256
            order by quarantined.source_row nulls first, quarantined.column_name, quarantined.rule
        ) as cell_number,
        count(*) over (partition by quarantined.file_sha256) as cells_in_file
    from quarantined
    inner join files
        on files.file_sha256 = quarantined.file_sha256
        and files.run_id = quarantined.run_id
),

final as (
    select * from numbered
    where numbered.cell_number <= $cells_per_file
)

select * from final
order by file_sha256, cell_number
