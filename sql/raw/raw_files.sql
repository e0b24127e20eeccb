-- The file manifest: one row per export file ever seen, keyed by the SHA-256 of its bytes.
create table if not exists raw_files (
    file_sha256 varchar primary key,
    file_name varchar not null,
    source varchar not null,
    format varchar not null,
    size_bytes bigint not null,
    rows_read bigint,
    rows_dropped_status bigint,
    rows_quarantined bigint,
    rows_loaded bigint,
    rows_already_loaded bigint,
    status varchar not null,  -- loaded | quarantined (unreadable) | held_back (too many failing rows)
    reason varchar,
    archive_path varchar,
    column_plan json,
    run_id varchar not null,
    recorded_at timestamp not null,
    -- Rows whose response came earlier in the same run (in the file, or in a file before it).
    rows_repeated bigint default 0
);
-- Warehouses from before rows_repeated counted those rows as already loaded.
alter table raw_files add column if not exists rows_repeated bigint default 0;
-- What the file was last read with (its mapping, the roster, the waves, the settings, the
-- instruments): a held-back or unreadable file is read again only when this changes.
alter table raw_files add column if not exists inputs_fingerprint varchar;
-- The SHA-256 of the file's archive as written, checked by every run and by `resilience verify`
-- (warehouses from before it record none: their archives are checked for presence only).
alter table raw_files add column if not exists archive_sha256 varchar;
-- Of rows_loaded, the responses that replace an earlier version with other answers; and the stored
-- responses removed because this newer export of their survey no longer holds them.
alter table raw_files add column if not exists rows_corrected bigint default 0;
alter table raw_files add column if not exists rows_deleted bigint default 0;
-- When the export was last modified (the newest export of a survey wins), and the earlier loaded
-- versions of its survey that it replaced (their responses it lacks were removed). Warehouses
-- from before them record neither: their files count as older than any export read since.
alter table raw_files add column if not exists modified_ns bigint;
alter table raw_files add column if not exists replaces_sha256 varchar[];
