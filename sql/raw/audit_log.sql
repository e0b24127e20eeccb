-- One row per page served or request refused by `resilience serve`, moved here from the server's
-- journal by each run (resilience/audit.py); rows older than serve.audit_retention_days go.
create table if not exists audit_log (
    event_id varchar primary key,
    occurred_at timestamp not null,  -- UTC
    username varchar,
    address varchar,
    method varchar not null,
    path varchar not null,
    status integer not null,
    outcome varchar not null,  -- served | denied | refused | signed in | sign-in failed | locked | signed out
    release varchar,
    detail varchar
);
