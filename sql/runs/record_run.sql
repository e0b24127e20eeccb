-- A run has published its release (or found the published one up to date).
update runs
set
    finished_at = $finished_at,
    outcome = 'succeeded',
    files_seen = $files_seen,
    rows_read = $rows_read,
    rows_loaded = $rows_loaded,
    rows_quarantined = $rows_quarantined,
    message = $message,
    published_release = $published_release,
    publication_fingerprint = $publication_fingerprint
where run_id = $run_id
