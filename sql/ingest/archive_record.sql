-- An archive's Parquet key-value metadata as text: the record of the export it was written from
-- (resilience.ingest.ArchiveRecord), when it keeps one. One row per key.
select
    decode(metadata.key) as key,
    decode(metadata.value) as value
from parquet_kv_metadata($archive_path) as metadata
