-- One row when the models (staging, intermediate, marts) are whole and checked: what they were
-- built from. definitions_fingerprint covers everything but the raw responses (seeds, roster,
-- settings, model SQL); responses_built counts the raw responses they were built from, rowids 0
-- to responses_built - 1, and responses_digest is the sum of those rows' hashes with their
-- rowids, so that a later build can tell that those rows are still there, unchanged and in place,
-- and add only the responses after them. Emptied in the transaction that rebuilds the models and
-- written again only once the marts pass their checks, so a run that dies or fails in between
-- leaves nothing to reuse.
create table if not exists transform_state (
    definitions_fingerprint varchar not null,
    responses_built bigint not null,
    responses_digest hugeint not null,
    built_at timestamp not null
);
