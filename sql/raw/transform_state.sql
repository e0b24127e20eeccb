-- One row when the models (staging, intermediate, marts) are whole and checked: what they were
-- built from (raw responses, seeds, roster, settings, model SQL). Emptied in the transaction that
-- rebuilds them and written again only once the marts pass their checks, so a run that dies or
-- fails in between leaves nothing to reuse.
create table if not exists transform_state (
    inputs_fingerprint varchar not null,
    built_at timestamp not null
);
