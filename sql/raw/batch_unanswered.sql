-- Per file of the current batch, per item, how often each answer meaning "not answered" was given
-- ('' for a blank cell); emptied at the start of every run.
create table if not exists batch_unanswered (
    file_sha256 varchar not null,
    item_id varchar not null,
    answer varchar not null,
    answers bigint not null
);
