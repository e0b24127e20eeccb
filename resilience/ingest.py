"""Read survey exports: recognise each file, archive it without identifying data, stage its rows.

Identifying columns are dropped in the very first read: the CSV is scanned by DuckDB and only the
kept columns are selected, so no identifying value is ever written anywhere by the pipeline.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from resilience.formats import (
    DROPPED_STATUSES,
    KEPT_METADATA_ROLES,
    Layout,
    Role,
    SourceMapping,
    UnreadableExport,
    column_role,
    detect_layout,
    mapping_for,
)
from resilience.instruments import Registry, normalize_label
from resilience.sqlfiles import render_sql

EXPORT_SUFFIXES = (".csv",)
DATE_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%m/%d/%Y %H:%M", "%m/%d/%Y"]
ARCHIVE_NAMES: dict[Role, str] = {
    "status": "status",
    "progress": "progress",
    "duration_seconds": "duration_seconds",
    "finished": "finished",
    "recorded_at": "recorded_date",
}


@dataclass(frozen=True)
class PlannedColumn:
    position: int
    column_id: str
    role: Role
    target: str | None

    @property
    def name(self) -> str:
        """The column's name in the archive and the batch."""
        return self.target or ARCHIVE_NAMES[self.role]


@dataclass(frozen=True)
class ExportPlan:
    path: Path
    sha256: str
    size_bytes: int
    layout: Layout
    source: str
    columns: tuple[PlannedColumn, ...]
    problems: tuple[str, ...]

    def with_role(self, *roles: Role) -> list[PlannedColumn]:
        return [column for column in self.columns if column.role in roles]

    @property
    def kept(self) -> list[PlannedColumn]:
        return self.with_role("item", "team", "wave", *KEPT_METADATA_ROLES)

    @property
    def identifying_columns(self) -> list[str]:
        return [column.column_id for column in self.with_role("identifying", "response_id")]

    @property
    def unmapped_columns(self) -> list[str]:
        return [column.column_id for column in self.with_role("unmapped")]

    @property
    def mapped_columns(self) -> dict[str, str]:
        return {c.column_id: c.target for c in self.with_role("item", "team", "wave") if c.target}

    @property
    def blocking_problem(self) -> str | None:
        """Why the whole file cannot be loaded, or None."""
        if not self.with_role("team"):
            return f"{self.path.name}: no team column (map one to 'team')"
        if not self.with_role("wave"):
            return f"{self.path.name}: no wave column (map one to 'wave')"
        if not self.with_role("item"):
            return f"{self.path.name}: no column maps to an instrument item"
        targets = [c.target for c in self.kept if c.target]
        doubled = sorted({t for t in targets if targets.count(t) > 1})
        if doubled:
            return f"{self.path.name}: several columns map to {', '.join(doubled)}"
        return None

    def column_plan_json(self) -> str:
        return json.dumps([asdict(column) for column in self.columns])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_exports(directory: Path) -> list[Path]:
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file() and path.suffix.lower() in EXPORT_SUFFIXES
    )


def plan_export(path: Path, mappings: list[SourceMapping], registry: Registry) -> ExportPlan:
    """Recognise the file and give every column a role. Raises UnreadableExport."""
    layout = detect_layout(path)
    mapping = mapping_for(path, mappings)
    item_ids = frozenset(registry.item_ids)
    columns = []
    for position, column_id in enumerate(layout.column_ids):
        role, target = column_role(column_id, layout, mapping, item_ids)
        columns.append(PlannedColumn(position, column_id, role, target))
    problems = []
    if not any(column.role == "response_id" for column in columns):
        problems.append(
            "no response id column: a re-export of the same responses cannot be matched"
        )
    return ExportPlan(
        path=path,
        sha256=file_sha256(path),
        size_bytes=path.stat().st_size,
        layout=layout,
        source=mapping.source if mapping else layout.format,
        columns=tuple(columns),
        problems=tuple(problems),
    )


def archive_export(con: duckdb.DuckDBPyConnection, plan: ExportPlan, archive_path: Path) -> None:
    """Write the export's kept columns, re-keyed and without time of day, to `archive_path`.

    The caller sets the `response_key_salt` variable on `con` for the duration of the call.
    """
    response_ids = plan.with_role("response_id")
    archive_path.parent.mkdir(parents=True, exist_ok=True)
    partial = archive_path.with_suffix(".partial")
    con.execute(
        render_sql(
            "ingest/archive_export.sql.j2",
            path=str(plan.path),
            archive_path=str(partial),
            file_sha256=plan.sha256,
            source=plan.source,
            header_rows=plan.layout.header_rows,
            column_count=len(plan.layout.column_ids),
            response_id=response_ids[0].position if response_ids else None,
            kept=plan.kept,
            date_formats=DATE_FORMATS,
        )
    )
    partial.replace(archive_path)


@dataclass(frozen=True)
class _BatchItem:
    id: str
    answer_keys: tuple[tuple[str, str], ...]


def _batch_items(plan: ExportPlan, registry: Registry) -> list[_BatchItem]:
    present = {column.target for column in plan.with_role("item")}
    items = []
    for item in registry.items:
        if item.id not in present:
            continue
        keys: dict[str, str] = {}
        for option in item.options:
            keys[str(option.code)] = str(option.code)
            keys.setdefault(normalize_label(option.label), str(option.code))
        items.append(_BatchItem(item.id, tuple(keys.items())))
    return items


def stage_batch(
    con: duckdb.DuckDBPyConnection, plan: ExportPlan, archive_path: Path, registry: Registry
) -> None:
    """Append the archived rows of one export to `ingest_batch`, answers as codes."""
    con.execute(
        render_sql(
            "ingest/ingest_batch.sql.j2",
            file_sha256=plan.sha256,
            archive_path=str(archive_path),
            present={column.name for column in plan.kept},
            items=_batch_items(plan, registry),
            dropped_statuses=DROPPED_STATUSES,
        )
    )


def count_statuses(
    con: duckdb.DuckDBPyConnection, plan: ExportPlan, archive_path: Path
) -> tuple[int, int]:
    """Rows read, and rows dropped as preview, test or spam."""
    read, dropped = con.execute(
        render_sql(
            "ingest/status_counts.sql.j2",
            archive_path=str(archive_path),
            has_status=bool(plan.with_role("status")),
            dropped_statuses=DROPPED_STATUSES,
        )
    ).fetchall()[0]
    return int(read), int(dropped)


__all__ = [
    "ExportPlan",
    "PlannedColumn",
    "UnreadableExport",
    "archive_export",
    "count_statuses",
    "file_sha256",
    "list_exports",
    "plan_export",
    "stage_batch",
]
