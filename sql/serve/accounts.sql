-- The private state of `resilience serve` (SQLite, in the state folder, never in a release).
-- One row per local account: its argon2 hash and what it may open.
create table if not exists users (
    username text primary key,  -- as typed, compared case-insensitively (stored casefolded)
    password_hash text not null,  -- argon2id, with its parameters and salt
    roles text not null,  -- JSON list of role names
    teams text not null,  -- JSON list of team ids (managers)
    units text not null,  -- JSON list of parent units or service lines (unit leads)
    created_at text not null
);
-- One row per signed-in session; the cookie holds the token, this table only its SHA-256.
create table if not exists sessions (
    token_sha256 text primary key,
    username text not null,
    via text not null,  -- local | oidc
    grant_json text not null,  -- what an OIDC session may open (a local one reads `users`)
    created_at real not null,
    expires_at real not null
);
-- Failed sign-ins in a row, by account ("account:<name>") and by address ("address:<ip>").
create table if not exists login_failures (
    key text primary key,
    failures integer not null,
    last_failure_at real not null,
    locked_until real not null
);
