-- Response-level answers, one row per re-keyed response, as codes in text. The item columns (one
-- per canonical item id in the instrument definitions) are added by the schema step, so a new
-- instrument needs no change here.
create table if not exists raw_responses (
    response_key varchar primary key,
    file_sha256 varchar not null,
    source_row bigint not null,
    team varchar not null,
    wave varchar not null,
    recorded_date date,
    progress double,
    duration_seconds double,
    finished boolean,
    run_id varchar not null
);
