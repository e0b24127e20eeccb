-- Per file of the current batch: rows loaded, quarantined, repeated, and already in the warehouse.
create or replace temp table batch_file_counts as
select
    file_sha256,
    count(*) filter (where outcome = 'loaded') as rows_loaded,
    count(*) filter (where outcome = 'quarantined') as rows_quarantined,
    count(*) filter (where outcome = 'repeated') as rows_repeated,
    count(*) filter (where outcome = 'already_loaded') as rows_already_loaded
from batch_outcomes
group by file_sha256
