-- One row per pipeline run.
create table if not exists runs (
    run_id varchar primary key,
    started_at timestamp not null,
    finished_at timestamp,
    outcome varchar not null,  -- running | succeeded | failed
    files_seen integer,
    rows_read bigint,
    rows_loaded bigint,
    rows_quarantined bigint,
    message varchar
);
