-- The most recent runs, newest first, as `resilience status` lists them.
select
    runs.run_id,
    runs.started_at,
    runs.finished_at,
    runs.outcome,
    runs.files_seen,
    runs.rows_read,
    runs.rows_loaded,
    runs.rows_quarantined,
    runs.message,
    runs.published_release
from runs
order by runs.started_at desc
limit $limit
