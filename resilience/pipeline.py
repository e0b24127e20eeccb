"""The nightly job's stages as plain functions; `flows/nightly.py` only sequences them.

ingest -> validate -> load -> transform -> render -> publish. Each stage opens the private
warehouse itself, so a run killed between stages leaves the last published results untouched:
only `publish` replaces what readers see, and the load and transform stages are transactions.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from dashboards.model import PublishedTables, RunFacts
from dashboards.pages import write_dashboards
from resilience.formats import SourceMapping, UnreadableExport, load_mappings
from resilience.ingest import (
    archive_export,
    count_statuses,
    file_sha256,
    list_exports,
    plan_export,
    stage_batch,
)
from resilience.instruments import Registry
from resilience.settings import Settings
from resilience.sqlfiles import read_sql, set_variables
from resilience.validation import build_batch_suite, validate_batch
from resilience.warehouse import (
    build_candidate,
    ensure_schema,
    load_seeds,
    open_warehouse,
    publish_candidate,
    run_load,
    run_transform,
)


class ValidationError(RuntimeError):
    """Validation itself broke (not: found bad rows, which are quarantined)."""


@dataclass
class FileReport:
    """What happened to one export file in this run."""

    file_name: str
    file_sha256: str
    source: str = ""
    format: str = ""
    size_bytes: int = 0
    status: str = "staged"  # staged -> loaded; skipped (loaded before); quarantined (whole file)
    reason: str | None = None
    rows_read: int = 0
    rows_dropped_status: int = 0
    rows_quarantined: int = 0
    rows_loaded: int = 0
    rows_already_loaded: int = 0
    archive_path: str | None = None
    column_plan: str = "[]"


@dataclass
class RunReport:
    run_id: str
    started_at: datetime
    files: list[FileReport] = field(default_factory=list)
    teams_reported: int = 0
    teams_suppressed: int = 0
    finished_at: datetime | None = None
    outputs: dict[str, str] = field(default_factory=dict)

    def total(self, attribute: str) -> int:
        return sum(getattr(report, attribute) for report in self.files)


def new_run() -> RunReport:
    started = datetime.now(UTC)
    return RunReport(
        run_id=started.strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8], started_at=started
    )


def roster_team_ids(con: duckdb.DuckDBPyConnection, roster_path: Path) -> list[str]:
    set_variables(con, {"roster_path": str(roster_path)})
    roster = con.execute(read_sql("staging/stg_roster__team_waves.sql")).df()
    return sorted(roster["team_id"].dropna().unique())


def ingest_exports(settings: Settings, report: RunReport, registry: Registry) -> RunReport:
    """Read every export not loaded before into `ingest_batch`, archiving each as read minus its
    identifying columns. A file that cannot be read is quarantined whole; the others go on."""
    mappings = load_mappings(settings.paths.mappings)
    with open_warehouse(settings.warehouse_path) as con:
        ensure_schema(con, registry)
        con.execute("delete from ingest_batch")
        con.execute("delete from batch_row_failures")
        loaded = {
            row[0]
            for row in con.execute(
                "select file_sha256 from raw_files where status = 'loaded'"
            ).fetchall()
        }
        set_variables(con, {"response_key_salt": settings.response_key_salt()})
        try:
            for path in list_exports(settings.paths.exports):
                file_report = _ingest_file(con, path, settings, registry, mappings, loaded)
                report.files.append(file_report)
        finally:
            con.execute("reset variable response_key_salt")
    return report


def _ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    settings: Settings,
    registry: Registry,
    mappings: list[SourceMapping],
    loaded: set[str],
) -> FileReport:
    try:
        plan = plan_export(path, mappings, registry)
    except UnreadableExport as error:
        return FileReport(path.name, file_sha256(path), status="quarantined", reason=str(error))
    file_report = FileReport(
        file_name=path.name,
        file_sha256=plan.sha256,
        source=plan.source,
        format=plan.layout.format,
        size_bytes=plan.size_bytes,
        column_plan=plan.column_plan_json(),
    )
    if plan.sha256 in loaded:
        file_report.status, file_report.reason = "skipped", "already loaded"
    elif plan.blocking_problem:
        file_report.status, file_report.reason = "quarantined", plan.blocking_problem
    else:
        archive_path = settings.archive_dir / f"{plan.sha256}.parquet"
        try:
            archive_export(con, plan, archive_path)
            file_report.rows_read, file_report.rows_dropped_status = count_statuses(
                con, plan, archive_path
            )
            stage_batch(con, plan, archive_path, registry)
            file_report.archive_path = str(archive_path)
        except duckdb.Error as error:
            file_report.status = "quarantined"
            file_report.reason = f"{path.name}: {str(error).splitlines()[0]}"
    return file_report


def validate(settings: Settings, report: RunReport, registry: Registry) -> RunReport:
    """Run the batch checkpoint; failing rows are recorded in `batch_row_failures`."""
    with open_warehouse(settings.warehouse_path) as con:
        whole_file_failures = [
            {
                "file_sha256": f.file_sha256,
                "source_row": None,
                "column_name": None,
                "rule": "file_unreadable",
                "value": f.reason,
            }
            for f in report.files
            if f.status == "quarantined"
        ]
        row_failures: list[dict] = []
        [(batch_rows,)] = con.execute("select count(*) from ingest_batch").fetchall()
        if batch_rows:
            suite = build_batch_suite(registry, roster_team_ids(con, settings.paths.roster))
            validation = validate_batch(con, "ingest_batch", suite)
            broken = [r for r in validation.expectation_results if r.error]
            if broken:
                raise ValidationError(
                    "validation could not run: "
                    + "; ".join(f"{r.expectation_type}({r.column}): {r.error}" for r in broken)
                )
            row_failures = [
                {
                    "file_sha256": failure.file_sha256,
                    "source_row": failure.source_row,
                    "column_name": failure.column,
                    "rule": failure.rule,
                    "value": failure.value,
                }
                for failure in validation.row_failures
            ]
        failures = pd.DataFrame(
            whole_file_failures + row_failures,
            columns=["file_sha256", "source_row", "column_name", "rule", "value"],
        ).astype({"source_row": "Int64"})
        con.register("failures_frame", failures)
        try:
            con.execute("insert into batch_row_failures by name select * from failures_frame")
        finally:
            con.unregister("failures_frame")
    return report


def load(settings: Settings, report: RunReport) -> RunReport:
    """Move the valid new rows into the warehouse and record every file, in one transaction."""
    recorded = [f for f in report.files if f.status != "skipped"]
    batch_files = pd.DataFrame(
        [asdict(f) for f in recorded],
        columns=[*FileReport.__dataclass_fields__],
    )
    with open_warehouse(settings.warehouse_path) as con:
        con.register("batch_files", batch_files)
        try:
            run_load(con, report.run_id)
            counts = con.execute("select * from batch_file_counts").df()
        finally:
            con.unregister("batch_files")
    by_file = counts.set_index("file_sha256").to_dict("index")
    for file_report in recorded:
        file_counts = by_file.get(file_report.file_sha256, {})
        file_report.rows_loaded = int(file_counts.get("rows_loaded", 0))
        file_report.rows_quarantined = int(file_counts.get("rows_quarantined", 0))
        file_report.rows_already_loaded = int(file_counts.get("rows_already_loaded", 0))
        if file_report.status == "staged":
            file_report.status = "loaded"
    return report


def transform(settings: Settings, registry: Registry) -> list[str]:
    """Score every response and rebuild the indicator marts."""
    with open_warehouse(settings.warehouse_path) as con:
        load_seeds(con, registry)
        return run_transform(con, settings.paths.roster, settings.privacy.min_group_size)


def _read_published(analytics_file: Path) -> PublishedTables:
    with duckdb.connect(str(analytics_file), read_only=True) as con:
        return PublishedTables(
            **{
                name: con.execute(f"select * from {name}").df()
                for name in PublishedTables.__dataclass_fields__
            }
        )


def _staging_dir(directory: Path) -> Path:
    return directory.with_name(directory.name + ".next")


def render(settings: Settings, report: RunReport) -> RunReport:
    """Build the candidate analytics file and the dashboards from it, beside the published ones."""
    with open_warehouse(settings.warehouse_path) as con:
        candidate = build_candidate(con, settings.analytics_path)
    tables = _read_published(candidate)
    latest = tables.team_indicators["wave"].max()
    latest_rows = tables.team_indicators[tables.team_indicators["wave"] == latest]
    shown = latest_rows.groupby("team_id")["suppressed"].apply(lambda s: (~s).any())
    report.teams_reported = int(shown.sum())
    report.teams_suppressed = int((~shown).sum())
    report.finished_at = datetime.now(UTC)
    staging = _staging_dir(settings.dashboards_dir)
    shutil.rmtree(staging, ignore_errors=True)
    write_dashboards(
        staging,
        tables,
        RunFacts(
            run_id=report.run_id,
            started_at=report.started_at,
            finished_at=report.finished_at,
            responses_read=report.total("rows_read"),
            responses_loaded=report.total("rows_loaded"),
            responses_quarantined=report.total("rows_quarantined"),
            teams_reported=report.teams_reported,
            teams_suppressed=report.teams_suppressed,
        ),
        settings.privacy.min_group_size,
    )
    return report


def publish(settings: Settings, report: RunReport) -> RunReport:
    """Replace the published analytics file and dashboards with this run's."""
    publish_candidate(settings.analytics_path)
    staging = _staging_dir(settings.dashboards_dir)
    retired = settings.dashboards_dir.with_name(settings.dashboards_dir.name + ".old")
    shutil.rmtree(retired, ignore_errors=True)
    if settings.dashboards_dir.exists():
        settings.dashboards_dir.rename(retired)
    staging.rename(settings.dashboards_dir)
    shutil.rmtree(retired, ignore_errors=True)
    report.outputs = {
        "warehouse": str(settings.warehouse_path),
        "analytics": str(settings.analytics_path),
        "dashboards": str(settings.dashboards_dir / "index.html"),
        "leadership": str(settings.dashboards_dir / "leadership.html"),
    }
    with open_warehouse(settings.warehouse_path) as con:
        con.execute(
            read_sql("runs/record_run.sql"),
            {
                "run_id": report.run_id,
                "started_at": report.started_at.replace(tzinfo=None),
                "finished_at": datetime.now(UTC).replace(tzinfo=None),
                "files_seen": len(report.files),
                "rows_read": report.total("rows_read"),
                "rows_loaded": report.total("rows_loaded"),
                "rows_quarantined": report.total("rows_quarantined"),
            },
        )
    return report


__all__ = [
    "FileReport",
    "RunReport",
    "ValidationError",
    "ingest_exports",
    "load",
    "new_run",
    "publish",
    "render",
    "transform",
    "validate",
]
