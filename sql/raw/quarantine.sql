-- Rows held back by validation: one row per failing row per column, with the rule and the value.
-- Identifying columns are already gone, so nothing here identifies a respondent.
create table if not exists quarantine (
    file_sha256 varchar not null,
    source_row bigint,
    column_name varchar,
    rule varchar not null,
    value varchar,
    run_id varchar not null
);
