-- What the given release was built from, as its latest successful run recorded it.
select runs.publication_fingerprint
from runs
where runs.outcome = 'succeeded' and runs.published_release = $1
order by runs.finished_at desc
limit 1
