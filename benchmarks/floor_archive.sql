-- The archive floor: the least work a run must do besides answering the question, in bare DuckDB.
-- Every export is kept as read minus its identifying columns, and the responses are written to a
-- DuckDB file. No validation, no recoding, no privacy rules beyond dropping the columns.
-- The first statement runs once per export (export_path to archive_path), the second writes every
-- archived response (archive_glob) to the DuckDB file attached as `warehouse`. salt keys the
-- response ids, and the exports are read with export_rows (floor_read.sql).
copy (
    select
        sha256('$salt' || "ResponseId") as response_key,
        * exclude (
            "StartDate",
            "EndDate",
            "IPAddress",
            "ResponseId",
            "RecipientLastName",
            "RecipientFirstName",
            "RecipientEmail",
            "ExternalReference",
            "LocationLatitude",
            "LocationLongitude",
            "DistributionChannel",
            "UserLanguage",
            "Q11"
        )
    from export_rows('$export_path')
) to '$archive_path' (format parquet, compression zstd);

create table warehouse.responses as
select * from read_parquet('$archive_glob');
