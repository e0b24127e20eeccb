-- New responses, and the new versions of corrected ones: a cumulative export's earlier rows are
-- already in the warehouse. A response that only an export replaced in this batch holds is not.
insert into raw_responses by name
select
    ingest_batch.* exclude (date_in_no_wave),
    getvariable('run_id') as run_id
from ingest_batch
inner join batch_outcomes using (file_sha256, source_row)
anti join batch_removals on batch_removals.response_key = ingest_batch.response_key
where batch_outcomes.outcome in ('loaded', 'corrected')
