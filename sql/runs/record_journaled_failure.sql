-- A run that failed when the warehouse could not take its record (a full volume), as its journal
-- kept it: recorded as failed with its one-line reason, whether or not its start was recorded.
insert into runs (run_id, started_at, finished_at, outcome, message)
values ($run_id, $started_at, $finished_at, 'failed', $message)
on conflict (run_id) do update set
    finished_at = excluded.finished_at,
    outcome = 'failed',
    message = excluded.message
where runs.outcome = 'running'
