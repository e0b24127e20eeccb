-- A run begins: it holds the run lock, so any run still 'running' was killed before it ended.
update runs
set outcome = 'interrupted', message = 'ended without a record: the process was killed or lost'
where outcome = 'running';

insert into runs (run_id, started_at, outcome) values ($run_id, $started_at, 'running');
