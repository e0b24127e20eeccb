-- Every loaded export that a newer export of its survey could replace: its source, name and
-- format give its survey, and its modification time whether the newer one is newer.
select
    raw_files.file_sha256,
    raw_files.file_name,
    raw_files.source,
    raw_files.format,
    raw_files.modified_ns
from raw_files
where raw_files.status = 'loaded'
order by raw_files.recorded_at, raw_files.file_name
