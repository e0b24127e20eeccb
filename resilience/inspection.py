"""`resilience inspect`: how an export would be read, without loading or keeping anything."""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

import duckdb

from resilience.formats import SourceMapping, UnreadableExport
from resilience.ingest import archive_export, count_statuses, plan_export
from resilience.instruments import Registry
from resilience.sqlfiles import set_variables


def inspect_export(path: Path, mappings: list[SourceMapping], registry: Registry) -> dict:
    """The file's format, responses, and what happens to each column, as a JSON-ready dict.

    `rows` counts the data rows read; `responses` leaves out previews, tests and spam.
    """
    try:
        plan = plan_export(path, mappings, registry)
    except UnreadableExport as error:
        return {
            "file": str(path),
            "format": None,
            "tool": None,
            "rows": 0,
            "responses": 0,
            "mapped_columns": {},
            "identifying_columns": [],
            "unmapped_columns": [],
            "problems": [str(error)],
        }
    problems = [*plan.blocking_problems, *plan.problems]
    read = dropped = 0
    with tempfile.TemporaryDirectory() as scratch, duckdb.connect() as con:
        # A throwaway salt and a scratch archive: nothing read here is kept.
        set_variables(con, {"response_key_salt": secrets.token_hex(16)})
        archive = Path(scratch) / "inspect.parquet"
        try:
            archive_export(con, plan, archive)
            read, dropped = count_statuses(con, plan, archive)
        except (UnreadableExport, duckdb.Error) as error:
            problems.append(str(error))
    return {
        "file": str(path),
        "format": plan.layout.format,
        "tool": plan.layout.export_format.tool,
        "source": plan.source,
        "encoding": plan.layout.encoding_label,
        "header_rows": plan.layout.header_rows,
        "rows": read,
        "responses": read - dropped,
        "dropped_previews_tests_spam": dropped,
        "mapped_columns": plan.mapped_columns,
        "identifying_columns": plan.identifying_columns,
        "why_not_kept": {
            column.column_id: column.reason
            for column in plan.with_role("identifying", "response_id", "dropped")
        },
        "dropped_columns": [column.column_id for column in plan.with_role("dropped")],
        "unmapped_columns": plan.unmapped_columns,
        "data_dictionary": str(plan.dictionary) if plan.dictionary else None,
        "problems": problems,
    }
