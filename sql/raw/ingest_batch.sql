-- The rows read in the current run, waiting for validation; emptied at the start of every run.
create table if not exists ingest_batch (
    file_sha256 varchar not null,
    source_row bigint not null,
    response_key varchar,
    team varchar,
    wave varchar,
    -- The recorded date of a response whose wave comes from the fieldwork windows and that falls
    -- in none of them ('no recorded date' without one); validation quarantines it.
    date_in_no_wave varchar,
    recorded_date date,
    progress double,
    duration_seconds double,
    finished boolean
);
-- Batches from before waves were placed by date.
alter table ingest_batch add column if not exists date_in_no_wave varchar;
