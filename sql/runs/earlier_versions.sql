-- The loaded exports that an export replaces: the same file name and source, other bytes.
select raw_files.file_sha256
from raw_files
where
    raw_files.status = 'loaded'
    and raw_files.file_name = $file_name
    and raw_files.source = $source
    and raw_files.file_sha256 <> $file_sha256
order by raw_files.recorded_at
