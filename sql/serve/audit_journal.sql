-- Every page served and every request refused by `resilience serve`, as it happens (SQLite in the
-- state folder: the server never opens the warehouse, which a nightly run holds read-write). Each
-- run moves these rows into the warehouse's `audit_log` (sql/raw/audit_log.sql).
create table if not exists audit_journal (
    event_id text primary key,  -- random: a row moved twice is recognised
    occurred_at text not null,  -- UTC, ISO 8601 with microseconds
    username text,  -- null: not signed in
    address text,  -- the client's address (the proxy's forwarded one with --proxy-headers)
    method text not null,
    path text not null,  -- as requested, cut to 512 characters
    status integer not null,
    outcome text not null,  -- served | denied | refused | signed in | sign-in failed | locked | signed out
    release text,  -- the release served from, when one was
    detail text  -- why a request was denied or refused
);
create index if not exists audit_journal_at on audit_journal (occurred_at);
