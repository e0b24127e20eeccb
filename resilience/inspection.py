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
    """The file's format, responses, and what happens to each column, as a JSON-ready dict."""
    try:
        plan = plan_export(path, mappings, registry)
    except UnreadableExport as error:
        return {"file": str(path), "format": None, "responses": 0, "problems": [str(error)]}
    problems = list(plan.problems)
    if plan.blocking_problem:
        problems.insert(0, plan.blocking_problem)
    responses = dropped = 0
    with tempfile.TemporaryDirectory() as scratch, duckdb.connect() as con:
        # A throwaway salt and a scratch archive: nothing read here is kept.
        set_variables(con, {"response_key_salt": secrets.token_hex(16)})
        archive = Path(scratch) / "inspect.parquet"
        try:
            archive_export(con, plan, archive)
            read, dropped = count_statuses(con, plan, archive)
            responses = read - dropped
        except duckdb.Error as error:
            problems.append(f"{path.name}: {str(error).splitlines()[0]}")
    return {
        "file": str(path),
        "format": plan.layout.format,
        "source": plan.source,
        "encoding": plan.layout.encoding,
        "header_rows": plan.layout.header_rows,
        "responses": responses,
        "dropped_previews_tests_spam": dropped,
        "mapped_columns": plan.mapped_columns,
        "identifying_columns": plan.identifying_columns,
        "dropped_columns": [c.column_id for c in plan.with_role("dropped")],
        "unmapped_columns": plan.unmapped_columns,
        "problems": problems,
    }
