-- One row per pipeline run, written when it starts and again when it ends.
create table if not exists runs (
    run_id varchar primary key,
    started_at timestamp not null,
    finished_at timestamp,
    outcome varchar not null,  -- running | succeeded | failed | interrupted
    files_seen integer,
    rows_read bigint,
    rows_loaded bigint,
    rows_quarantined bigint,
    message varchar,  -- the one-line reason of a failure, or what a successful run left undone
    published_release varchar,  -- the release readers see after this run (a run id)
    publication_fingerprint varchar  -- what that release was built from: marts, code, settings
);
-- Warehouses created before the last two columns existed.
alter table runs add column if not exists published_release varchar;
alter table runs add column if not exists publication_fingerprint varchar;
