-- The rows read in the current run, waiting for validation; emptied at the start of every run.
create table if not exists ingest_batch (
    file_sha256 varchar not null,
    source_row bigint not null,
    response_key varchar,
    team varchar,
    wave varchar,
    recorded_date date,
    progress double,
    duration_seconds double,
    finished boolean
);
