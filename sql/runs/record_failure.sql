-- A stage raised: the run ends as failed, with the one-line reason. A run already recorded as
-- succeeded (a failure after publishing) keeps its record.
update runs
set
    finished_at = $finished_at,
    outcome = 'failed',
    files_seen = $files_seen,
    rows_read = $rows_read,
    rows_loaded = $rows_loaded,
    rows_quarantined = $rows_quarantined,
    message = $message
where run_id = $run_id and outcome = 'running'
