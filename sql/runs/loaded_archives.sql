-- Every loaded export's archive, as a run and `resilience verify` check it: the file's name, the
-- SHA-256 naming its archive, and the archive's own recorded SHA-256 (null before it was kept).
select
    raw_files.file_name,
    raw_files.file_sha256,
    raw_files.archive_sha256
from raw_files
where raw_files.status = 'loaded'
order by raw_files.recorded_at, raw_files.file_name
