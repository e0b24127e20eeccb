"""Rebuild a lost warehouse from the archives (`resilience run --rebuild-from-archive`), not from
whatever exports are left in the folder.

Every archive records the export it was written from: its name, source, format, column plan,
modification time, the run that read it and the fingerprint of the salt that keyed it. The
archives are loaded again run by run, in the order those runs read them, through the same staging,
checkpoint and load as a night's exports, so corrected re-exports replace and remove responses as
they did then. Holding the run lock, the new warehouse is built beside the missing one and moved
into place only once it is complete: a rebuild killed halfway leaves no warehouse, and the next run
stops as before.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path

import duckdb

from resilience.formats import SourceMapping, load_mappings, mapping_for
from resilience.ingest import (
    ArchiveRecord,
    ExportPlan,
    PlannedColumn,
    count_statuses,
    read_archive_record,
)
from resilience.instruments import Registry
from resilience.pipeline import (
    ArchivedExport,
    FileReport,
    RunReport,
    apply_survey_versions,
    check_batch,
    empty_batch,
    inputs_fingerprint,
    load_batch,
    new_run,
    site_fingerprint,
    stage_file,
)
from resilience.salt import how_to_restore, record_fingerprint, salt_fingerprint
from resilience.settings import Settings, UsageError, display_path
from resilience.site import reading_rules
from resilience.sqlfiles import read_sql
from resilience.status import hold_run_lock
from resilience.warehouse import ensure_schema, open_warehouse


class RebuildRefused(UsageError):
    """The warehouse cannot be rebuilt from the archives: the reason says what to do."""


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild loaded again."""

    archives: int
    runs: int
    responses: int


@dataclass(frozen=True)
class _Archived:
    path: Path
    record: ArchiveRecord


def _archived_exports(settings: Settings) -> list[_Archived]:
    """Every archive with its record, in the order the runs read them. Raises RebuildRefused when
    there is none, or one keeps no record (written before archives kept one)."""
    archives = (
        sorted(settings.archive_dir.glob("*.parquet")) if settings.archive_dir.is_dir() else []
    )
    if not archives:
        raise RebuildRefused(
            f"no archive to rebuild the warehouse from in {display_path(settings.archive_dir)}: "
            "restore the warehouse or the archive from the backup"
        )
    archived = []
    with duckdb.connect() as con:
        for path in archives:
            record = read_archive_record(con, path)
            if record is None:
                raise RebuildRefused(
                    f"{display_path(path)} was written before archives recorded their export: "
                    "the warehouse cannot be rebuilt from the archive; restore it from the backup"
                )
            archived.append(_Archived(path, record))
    return sorted(archived, key=lambda a: (a.record.run_id, a.record.file_name, a.path.name))


def _checked_salt_fingerprint(settings: Settings, archived: list[_Archived]) -> str:
    """The fingerprint of the salt every archive was keyed with, when it is the configured salt's.
    Raises RebuildRefused otherwise: responses keyed with two salts would never match."""
    fingerprints = {a.record.salt_fingerprint for a in archived}
    if len(fingerprints) > 1:
        raise RebuildRefused(
            f"the archives were keyed with {len(fingerprints)} different salts: restore "
            f"{display_path(settings.archive_dir)} from one backup"
        )
    [archived_with] = fingerprints
    salt = settings.configured_salt()
    if salt is None or salt_fingerprint(salt) != archived_with:
        raise RebuildRefused(
            "the salt that keyed the archives is "
            + ("missing" if salt is None else "not the one configured")
            + f": {how_to_restore(settings, archived_with)}"
        )
    return archived_with


def _replayed_plan(
    archived: _Archived, mappings: list[SourceMapping], site: str
) -> tuple[FileReport, ExportPlan]:
    """The file's report and plan as the run that read it made them, from the archive's record;
    answers are coded with today's `mappings` for its file name, and `site` (the site's
    fingerprint) is what it is read with, as for a run reading it again."""
    record = archived.record
    name = Path(record.file_name)
    mapping = mapping_for(name, mappings)
    plan = ExportPlan(
        path=name,
        sha256=archived.path.stem,
        size_bytes=record.size_bytes,
        layout=None,
        source=record.source,
        mapping=mapping,
        dictionary=None,
        columns=tuple(PlannedColumn(**column) for column in json.loads(record.column_plan)),
        problems=(),
        blocking_problems=(),
        file_wave=mapping.file_wave(name) if mapping else None,
    )
    report = FileReport(
        file_name=record.file_name,
        file_sha256=plan.sha256,
        source=record.source,
        format=record.format,
        size_bytes=record.size_bytes,
        modified_ns=record.modified_ns,
        column_plan=record.column_plan,
        inputs_fingerprint=inputs_fingerprint(site, mapping),
    )
    return report, plan


def rebuild_warehouse(settings: Settings, registry: Registry) -> Rebuilt:
    """Build the missing warehouse again from the archives. Raises RebuildRefused when the
    warehouse exists, when there is nothing to rebuild from, or when the salt is not the one that
    keyed the archives."""
    warehouse = settings.warehouse_path
    if warehouse.exists():
        raise RebuildRefused(
            f"the warehouse {display_path(warehouse)} exists: --rebuild-from-archive only builds a "
            "missing one (move it aside first to rebuild it)"
        )
    archived = _archived_exports(settings)
    fingerprint = _checked_salt_fingerprint(settings, archived)
    rules = reading_rules(settings)
    mappings = load_mappings(settings.paths.mappings)
    site = site_fingerprint(settings)
    newest_wins = settings.quality.reexports == "newest"
    building = warehouse.with_name(warehouse.name + ".rebuilding")
    rebuild_id = new_run().run_id
    runs = 0
    with hold_run_lock(settings.run_lock_path, rebuild_id):
        # What a rebuild killed halfway left.
        for leftover in (building, building.with_name(building.name + ".wal")):
            leftover.unlink(missing_ok=True)
        with open_warehouse(building, settings.warehouse.duckdb_config()) as con:
            ensure_schema(con, registry)
            record_fingerprint(con, fingerprint)
            for run_id, of_run in groupby(archived, key=lambda a: a.record.run_id):
                report = RunReport(run_id=run_id, started_at=datetime.now(UTC))
                empty_batch(con)
                for replayed in of_run:
                    file_report, plan = _replayed_plan(replayed, mappings, site)
                    file_report.rows_read, file_report.rows_dropped_status = count_statuses(
                        con, plan, replayed.path
                    )
                    report.files.append(
                        stage_file(
                            con,
                            ArchivedExport(file_report, plan, replayed.path),
                            registry,
                            rules,
                            newest_wins,
                        )
                    )
                if newest_wins:
                    apply_survey_versions(con, report.files, settings.archive_dir)
                check_batch(
                    con,
                    report,
                    registry,
                    settings.paths.roster,
                    settings.quality,
                    rules.wave_windows,
                )
                load_batch(con, report, settings.quality.reexports)
                runs += 1
            empty_batch(con)
            [(responses,)] = con.execute("select count(*) from raw_responses").fetchall()
            con.execute(
                read_sql("runs/record_rebuild.sql"),
                {
                    "run_id": rebuild_id,
                    "message": f"warehouse rebuilt from {len(archived)} archived export(s) of "
                    f"{runs} run(s) (the run history before it was lost with the warehouse)",
                },
            )
        os.replace(building, warehouse)
    return Rebuilt(archives=len(archived), runs=runs, responses=int(responses))
