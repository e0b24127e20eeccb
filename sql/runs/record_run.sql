-- One row per run; written when the run has published its results.
insert or replace into runs (
    run_id, started_at, finished_at, outcome, files_seen, rows_read, rows_loaded, rows_quarantined
)
values (
    $run_id, $started_at, $finished_at, 'succeeded', $files_seen, $rows_read, $rows_loaded,
    $rows_quarantined
)
