-- Responses that a newer export of the same survey (see ingest.resolve_survey_versions) no longer
-- holds, found once the batch is staged: one row per export of the batch per response it drops
-- (the newest export wins, so they are removed when that export loads). Emptied at the start of
-- every run.
create table if not exists batch_deletions (
    file_sha256 varchar not null,
    response_key varchar not null
);
