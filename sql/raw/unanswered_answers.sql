-- Per file ever loaded, per item, how often each answer meaning "not answered" was given ('' for
-- a blank cell) in its rows read for validation (key: file_sha256, item_id, answer). Such answers
-- are unanswered items, never bad rows; the validation report counts them.
create table if not exists unanswered_answers (
    file_sha256 varchar not null,
    item_id varchar not null,
    answer varchar not null,
    answers bigint not null,
    run_id varchar not null
);
