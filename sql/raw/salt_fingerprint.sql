-- Which salt keyed the responses in this warehouse: a slow one-way fingerprint of it (never the
-- salt), one row. A run whose salt gives another fingerprint is refused before it reads an export:
-- keys made with another salt match none of the stored ones, so a cumulative export would load
-- every earlier response a second time.
create table if not exists salt_fingerprint (
    fingerprint varchar not null,
    recorded_at timestamp not null
);
