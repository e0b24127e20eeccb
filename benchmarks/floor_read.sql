-- How both floors read an export, the way the pipeline's exports are written: three header rows,
-- then one response per row, every column as text. $columns is the struct of the export's column
-- names, all VARCHAR.
create or replace temp macro export_rows(path) as table
select *
from read_csv(
    path,
    header = false,
    skip = 3,
    auto_detect = false,
    delim = ',',
    quote = '"',
    escape = '"',
    max_line_size = 10000000,
    columns = $columns
)
