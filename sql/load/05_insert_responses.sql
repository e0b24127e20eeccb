-- New responses, and the new versions of corrected ones: a cumulative export's earlier rows are
-- already in the warehouse.
insert into raw_responses by name
select
    ingest_batch.* exclude (date_in_no_wave),
    getvariable('run_id') as run_id
from ingest_batch
inner join batch_outcomes using (file_sha256, source_row)
where batch_outcomes.outcome in ('loaded', 'corrected')
