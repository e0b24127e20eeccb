-- Every failing row, with its file, row, column, rule and value, kept for the people who fix the
-- survey at its source.
insert into quarantine by name
select
    file_sha256,
    source_row,
    column_name,
    rule,
    value,
    getvariable('run_id') as run_id
from batch_row_failures
