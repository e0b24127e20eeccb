-- How many cells of each file as it was last read each rule quarantined: one row per file, column
-- and rule (key: file_sha256, column_name, rule).
with files as (
    select * from raw_files
),

quarantined as (
    select * from quarantine
),

final as (
    select
        quarantined.file_sha256,
        quarantined.column_name,
        quarantined.rule,
        count(*) as cells
    from quarantined
    inner join files
        on files.file_sha256 = quarantined.file_sha256
        and files.run_id = quarantined.run_id
    group by quarantined.file_sha256, quarantined.column_name, quarantined.rule
)

select * from final
order by file_sha256, rule, column_name
