-- What validation found wrong in the current batch: one row per failing row per column (a null
-- source_row means the whole file). Emptied at the start of every run.
create table if not exists batch_row_failures (
    file_sha256 varchar not null,
    source_row bigint,
    column_name varchar,
    rule varchar not null,
    value varchar
);
