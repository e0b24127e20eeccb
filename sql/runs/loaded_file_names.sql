-- The names of the exports whose responses are in the warehouse, as `resilience status` compares
-- them with the exports folder.
select distinct raw_files.file_name
from raw_files
where raw_files.status = 'loaded'
order by raw_files.file_name
