-- The waves of the raw responses from rowid $1 on: the waves an incremental build rebuilds.
select coalesce(list(distinct wave order by wave), []) as rebuilt_waves
from raw_responses
where rowid >= $1
