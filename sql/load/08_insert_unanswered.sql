-- The "not answered" counts of every file read in this run replace those of its earlier reads.
delete from unanswered_answers
where file_sha256 in (select distinct file_sha256 from batch_unanswered);

insert into unanswered_answers by name
select
    file_sha256,
    item_id,
    answer,
    answers,
    getvariable('run_id') as run_id
from batch_unanswered
