-- How many raw responses sit before rowid $1 (every one when $1 is null), and the sum of their
-- hashes taken with their rowids: equal only when the same rows sit at the same rowids.
select
    count(*) as responses,
    coalesce(sum(hash(rowid, raw)), 0) as responses_digest
from raw_responses as raw
where rowid < coalesce($1, 9223372036854775807)
