"""The nightly job's stages as plain functions; `flows/nightly.py` only sequences them.

ingest -> validate -> load -> transform -> render -> publish, inside `recorded_run`, which holds
the output folder's run lock and keeps the run's record in `runs`. Each stage opens the private
warehouse itself. A run killed at any point leaves the last published results untouched: the
load and transform stages are transactions, `ingest_batch` is emptied at the start of every run,
`render` writes a new release folder beside the published one, and `publish` makes it the one
readers see with a single atomic rename.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
from rich.console import Console
from rich.progress import track

from dashboards.model import RunFacts, read_published_tables
from dashboards.sources import source_digest
from resilience.audit import move_journal_into_warehouse
from resilience.formats import SourceMapping, UnreadableExport, load_mappings, mapping_for
from resilience.ingest import (
    ArchiveRecord,
    ExportPlan,
    ExportVersion,
    archive_export,
    archive_file,
    count_statuses,
    file_sha256,
    list_exports,
    plan_export,
    resolve_survey_versions,
    stage_batch,
)
from resilience.instruments import DEFINITIONS_DIR, Registry
from resilience.integrity import require_intact_archives, require_warehouse
from resilience.published import EXPORT_FORMATS, export_tables
from resilience.quality_report import (
    VALIDATION_PAGE,
    read_validation_state,
    validation_summary,
    write_validation_report,
)
from resilience.roster_checks import check_roster
from resilience.rules import ATTENTION_STATUSES, RULE_FILE_HELD_BACK, RULE_FILE_UNREADABLE
from resilience.run_journal import end_journal, journal_failure, journaled_failure, start_journal
from resilience.runtime import crash_point, publishing
from resilience.salt import bound_salt, recorded_fingerprint
from resilience.settings import (
    PROJECT_ROOT,
    QualitySettings,
    ReexportPolicy,
    Settings,
    WaveWindow,
)
from resilience.site import ReadingRules, actions_off_roster, reading_rules
from resilience.sqlfiles import SQL_DIR, published_model_names, read_sql, set_variables
from resilience.status import ExportsNotReady, hold_run_lock, one_line
from resilience.strategies import load_strategies
from resilience.warehouse import (
    ModelsBuild,
    build_candidate,
    current_release,
    definitions_fingerprint,
    ensure_schema,
    load_seeds,
    models_built_from,
    open_warehouse,
    prune_releases,
    raw_responses_digest,
    record_models_built_from,
    run_load,
    run_transform,
    switched_release,
    tables_fingerprint,
    transaction,
)

# The code that turns marts into a release: a change here (an upgrade) rebuilds the release.
RELEASE_SOURCES = (
    SQL_DIR,
    PROJECT_ROOT / "resilience",
    PROJECT_ROOT / "dashboards",
    PROJECT_ROOT / "strategies",
)
RELEASE_SOURCE_SUFFIXES = (".py", ".sql", ".j2", ".css", ".js", ".toml")
# The journal of the run in progress, beside the warehouse (see resilience/run_journal.py).
RUN_JOURNAL = "run-journal.json"


def _open_warehouse(settings: Settings) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    require_warehouse(settings)
    return open_warehouse(settings.warehouse_path, settings.warehouse.duckdb_config())


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
    # staged -> loaded; skipped (loaded before); quarantined (whole file); held_back (too many
    # failing rows: every row quarantined); needs_attention (quarantined or held back before, and
    # nothing it is read with has changed since: not read again, not recorded again); waiting
    # (still being written: left for the next run, not recorded)
    status: str = "staged"
    reason: str | None = None
    rows_read: int = 0
    rows_dropped_status: int = 0
    rows_quarantined: int = 0
    rows_loaded: int = 0
    # Responses in the warehouse before this run (a cumulative export repeats them).
    rows_already_loaded: int = 0
    # Responses that came earlier in this run: in the same file, or in a file read before it.
    rows_repeated: int = 0
    # Of rows_loaded, the responses that the careless-responding rules exclude from scoring.
    rows_excluded: int = 0
    # Of rows_loaded, the responses that replace a stored version with other answers; and the
    # responses removed because this newer export of their survey no longer holds them.
    rows_corrected: int = 0
    rows_deleted: int = 0
    # When the export was last modified: the newest export wins a response seen in two.
    modified_ns: int = 0
    # The earlier versions of its survey (by SHA-256) that this export replaces.
    replaces_sha256: list[str] = field(default_factory=list)
    archive_path: str | None = None
    archive_sha256: str | None = None
    column_plan: str = "[]"
    # What the file was read with: its mapping, the roster, the waves, the settings, the
    # instruments. A file that needs attention is read again only when this changes.
    inputs_fingerprint: str = ""


@dataclass
class RunReport:
    run_id: str
    started_at: datetime
    files: list[FileReport] = field(default_factory=list)
    teams_reported: int = 0
    teams_suppressed: int = 0
    finished_at: datetime | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    # The release readers see after this run, what it was built from, and whether this run found
    # the published one up to date (then it renders and publishes nothing).
    release: str | None = None
    publication_fingerprint: str | None = None
    release_unchanged: bool = False
    # Action-log teams that are not on the roster, with their actions: not published.
    actions_off_roster: dict[str, int] = field(default_factory=dict)

    def total(self, attribute: str) -> int:
        return sum(getattr(report, attribute) for report in self.files)

    def with_status(self, status: str) -> list[FileReport]:
        return [report for report in self.files if report.status == status]


def _run_counts(report: RunReport) -> dict[str, object]:
    return {
        "run_id": report.run_id,
        "finished_at": datetime.now(UTC).replace(tzinfo=None),
        "files_seen": len(report.files),
        "rows_read": report.total("rows_read"),
        "rows_loaded": report.total("rows_loaded"),
        "rows_quarantined": report.total("rows_quarantined"),
    }


def new_run() -> RunReport:
    started = datetime.now(UTC)
    return RunReport(
        run_id=started.strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8], started_at=started
    )


@contextmanager
def recorded_run(settings: Settings, registry: Registry) -> Iterator[RunReport]:
    """Hold the output folder for one run and keep its record in `runs`.

    Runs that a crash left 'running' become 'interrupted'. If a stage raises, the run is recorded
    as failed with the one-line reason and the error goes on to the caller; when the warehouse
    cannot take the record (a full volume), the run's journal keeps it for the next run.
    """
    report = new_run()
    journal = settings.paths.out / RUN_JOURNAL
    started_at = report.started_at.replace(tzinfo=None)
    with hold_run_lock(settings.run_lock_path, report.run_id):
        with _open_warehouse(settings) as con:
            ensure_schema(con, registry)
            # A run with another salt is refused before it is recorded (raises SaltMismatch).
            bound_salt(con, settings)
            if (failure := journaled_failure(journal)) is not None:
                con.execute(read_sql("runs/record_journaled_failure.sql"), asdict(failure))
            start_journal(journal, report.run_id, started_at)
            try:
                con.execute(
                    read_sql("runs/start_run.sql"),
                    {"run_id": report.run_id, "started_at": started_at},
                )
            except duckdb.Error as error:
                _journal(journal, report, error)
                raise
        try:
            yield report
        except BaseException as error:
            try:
                with _open_warehouse(settings) as con:
                    con.execute(
                        read_sql("runs/record_failure.sql"),
                        {**_run_counts(report), "message": one_line(error)},
                    )
                end_journal(journal)
            except duckdb.Error as record_error:
                error.add_note(f"the failure could not be recorded: {one_line(record_error)}")
                _journal(journal, report, error)
            raise
        end_journal(journal)


def _journal(journal: Path, report: RunReport, error: BaseException) -> None:
    """Keep the run's failure in its journal for the next run to record: the warehouse could not
    take it (most likely the volume is full, and the journal needs no new space)."""
    with contextlib.suppress(OSError):
        journal_failure(
            journal, report.run_id, report.started_at.replace(tzinfo=None), one_line(error)
        )


def roster_team_ids(con: duckdb.DuckDBPyConnection, roster_path: Path) -> list[str]:
    set_variables(con, {"roster_path": str(roster_path)})
    roster = con.execute(read_sql("staging/stg_roster__listed_team_waves.sql")).df()
    return sorted(roster["team_id"].dropna().unique())


def _file_digest(path: Path | None) -> str:
    return file_sha256(path) if path is not None and path.is_file() else ""


def site_fingerprint(settings: Settings) -> str:
    """Everything but the mapping that decides how an export is read: the roster, the waves file,
    the quality settings and the instrument definitions."""
    digest = hashlib.sha256()
    for path in (
        settings.paths.roster,
        settings.paths.waves,
        *sorted(DEFINITIONS_DIR.glob("*.toml")),
    ):
        digest.update(_file_digest(path).encode())
    digest.update(settings.quality.model_dump_json().encode())
    return digest.hexdigest()


def inputs_fingerprint(site: str, mapping: SourceMapping | None) -> str:
    """What one export is read with: the site's inputs and the mapping that applies to it."""
    mapping_digest = _file_digest(mapping.path) if mapping else "no mapping"
    return hashlib.sha256(f"{site}:{mapping_digest}".encode()).hexdigest()


def _file_signature(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def settled_exports(exports: list[Path], settle_seconds: float) -> tuple[list[Path], list[Path]]:
    """Split exports into those that stopped changing and those still being written.

    A file modified within the last `settle_seconds` is watched until it is that old (at most
    `settle_seconds`); if its size or modification time changes meanwhile, it is being copied.
    """
    now = time.time()
    first = {path: _file_signature(path) for path in exports}
    young = [path for path in exports if now - first[path][1] / 1e9 < settle_seconds]
    if young:
        newest = max(first[path][1] / 1e9 for path in young)
        time.sleep(min(settle_seconds, max(0.0, newest + settle_seconds - now)))
    growing = {path for path in young if _file_signature(path) != first[path]}
    return [p for p in exports if p not in growing], [p for p in exports if p in growing]


def _readable_exports(settings: Settings) -> tuple[list[Path], list[Path]]:
    """The exports to read now and those left for the next run. Raises ExportsNotReady."""
    folder = settings.paths.exports
    try:
        if not folder.is_dir():
            raise ExportsNotReady(f"exports folder not found: {folder}")
        return settled_exports(list_exports(folder), settings.schedule.settle_seconds)
    except OSError as error:
        raise ExportsNotReady(f"exports folder cannot be read: {one_line(error)}") from error


def ingest_exports(
    settings: Settings, report: RunReport, registry: Registry, progress: bool = False
) -> RunReport:
    """Read every export not loaded before into `ingest_batch`, archiving each as read minus its
    identifying columns. A file that cannot be read is quarantined whole; the others go on. A file
    still being written is left for the next run. Safe to call again after a failure: the batch
    and the file list start empty. `progress` draws a progress bar on standard error."""
    readable, growing = _readable_exports(settings)
    mappings = load_mappings(settings.paths.mappings)
    rules = reading_rules(settings)
    site = site_fingerprint(settings)
    with _open_warehouse(settings) as con:
        ensure_schema(con, registry)
        keying = ArchiveKeying(bound_salt(con, settings), recorded_fingerprint(con), report.run_id)
        require_intact_archives(con, settings)
        empty_batch(con)
        newest_wins = settings.quality.reexports == "newest"
        # Files whose bytes need no reading again: loaded before, or read earlier in this run.
        known = {
            row[0]: "already loaded"
            for row in con.execute(
                "select file_sha256 from raw_files where status = 'loaded'"
            ).fetchall()
        }
        # Files set aside before, and what they were read with then.
        attention = {
            sha: (fingerprint, reason)
            for sha, fingerprint, reason in con.execute(
                "select file_sha256, inputs_fingerprint, reason from raw_files "
                "where list_contains($statuses, status)",
                {"statuses": list(ATTENTION_STATUSES)},
            ).fetchall()
        }
        [(threads,)] = con.execute("select current_setting('threads')").fetchall()
        # A file is archived by one thread (its rows are numbered as they are read), so as many
        # files are archived at once as DuckDB has threads, while this thread stages them in
        # order into the batch.
        archivers = ThreadPoolExecutor(max_workers=threads)
        try:
            reads: list[tuple[Path, FileReport, Future[FileReport | ArchivedExport] | None]] = []
            for path in readable:
                with _exports_not_ready_on_os_error(path):
                    sha = file_sha256(path)
                    fingerprint = inputs_fingerprint(site, mapping_for(path, mappings))
                    if attention.get(sha, (None,))[0] == fingerprint:
                        reads.append((path, _unchanged(path, sha, attention[sha][1]), None))
                        continue
                    file_report, plan = _plan_file(path, registry, mappings, known, rules, sha)
                    file_report.inputs_fingerprint = fingerprint
                archiving = None
                if plan is not None:
                    known[plan.sha256] = f"same content as {path.name}"
                    archiving = archivers.submit(
                        _archive_file, con, file_report, plan, settings.archive_dir, keying
                    )
                reads.append((path, file_report, archiving))
            files = []
            for path, file_report, archiving in track(
                reads,
                description="reading exports",
                disable=not progress,
                transient=True,
                console=Console(stderr=True),
            ):
                with _exports_not_ready_on_os_error(path):
                    if archiving is not None:
                        archived = archiving.result()
                        file_report = (
                            _left_for_next_run(archived)
                            if _changed_since_hashed(path, file_report)
                            else stage_file(con, archived, registry, rules, newest_wins)
                        )
                files.append(file_report)
                crash_point("ingest")
        finally:
            # After an error, the files still waiting to be archived are not started.
            archivers.shutdown(cancel_futures=True)
        if newest_wins:
            apply_survey_versions(con, files, settings.archive_dir)
    files += [
        FileReport(path.name, "", status="waiting", reason=f"{path.name}: still being written")
        for path in growing
    ]
    report.files = files
    return report


def empty_batch(con: duckdb.DuckDBPyConnection) -> None:
    """Start a batch: what an earlier run (or a failed one) staged is gone."""
    for batch_table in (
        "ingest_batch",
        "batch_row_failures",
        "batch_deletions",
        "batch_unanswered",
    ):
        con.execute(f"delete from {batch_table}")


@contextmanager
def _exports_not_ready_on_os_error(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as error:  # replaced or gone mid-read, or the share dropped
        raise ExportsNotReady(f"{path.name}: {one_line(error)}") from error


def _unchanged(path: Path, sha: str, reason: str | None) -> FileReport:
    """A file set aside before, with nothing it is read with changed since: not read again."""
    return FileReport(
        path.name,
        sha,
        status="needs_attention",
        reason=f"{reason} (unchanged since; read again when its mapping, the roster, the waves "
        "or the settings change)",
    )


@dataclass
class ArchivedExport:
    """An export written to its archive, to be staged from it."""

    report: FileReport
    plan: ExportPlan
    archive_path: Path


@dataclass(frozen=True)
class ArchiveKeying:
    """How a run keys the responses it archives and what each archive records of it."""

    salt: str
    salt_fingerprint: str | None
    """None for throwaway archives that nothing loads again (`validate_file`)."""
    run_id: str


def _plan_file(
    path: Path,
    registry: Registry,
    mappings: list[SourceMapping],
    known: dict[str, str],
    rules: ReadingRules,
    sha256: str | None = None,
) -> tuple[FileReport, ExportPlan | None]:
    """The file's report so far, and its plan if it is to be archived: not when its content is
    `known` (skipped), nor when it cannot be read as an export or a problem blocks it
    (quarantined). The file's size and modification time are kept so that a change before its
    rows are staged is seen (`_changed_since_hashed`)."""
    size_bytes, modified_ns = _file_signature(path)
    try:
        plan = plan_export(path, mappings, registry, rules, sha256)
    except UnreadableExport as error:
        return FileReport(
            path.name, sha256 or file_sha256(path), status="quarantined", reason=str(error)
        ), None
    file_report = FileReport(
        file_name=path.name,
        file_sha256=plan.sha256,
        source=plan.source,
        format=plan.layout.format,
        size_bytes=size_bytes,
        column_plan=plan.column_plan_json(),
        modified_ns=modified_ns,
    )
    if plan.sha256 in known:
        file_report.status, file_report.reason = "skipped", known[plan.sha256]
    elif plan.blocking_problem:
        file_report.status, file_report.reason = "quarantined", plan.blocking_problem
    else:
        return file_report, plan
    return file_report, None


def _archive_file(
    con: duckdb.DuckDBPyConnection,
    file_report: FileReport,
    plan: ExportPlan,
    archive_dir: Path,
    keying: ArchiveKeying,
) -> FileReport | ArchivedExport:
    """Archive the planned export, with its record, and count its rows, on a connection of its
    own to `con`'s database: the only one that ever holds the salt, and only while it archives."""
    archive_path = archive_file(archive_dir, plan.sha256)
    record = (
        ArchiveRecord(
            file_name=file_report.file_name,
            source=file_report.source,
            format=file_report.format,
            size_bytes=file_report.size_bytes,
            modified_ns=file_report.modified_ns,
            column_plan=file_report.column_plan,
            run_id=keying.run_id,
            salt_fingerprint=keying.salt_fingerprint,
        )
        if keying.salt_fingerprint is not None
        else None
    )
    with con.cursor() as archiver:
        set_variables(archiver, {"response_key_salt": keying.salt})
        try:
            archive_export(archiver, plan, archive_path, record)
            file_report.rows_read, file_report.rows_dropped_status = count_statuses(
                archiver, plan, archive_path
            )
        except (UnreadableExport, duckdb.Error) as error:
            return _quarantined(file_report, plan, error)
    return ArchivedExport(file_report, plan, archive_path)


def _changed_since_hashed(path: Path, file_report: FileReport) -> bool:
    """Whether the export's bytes differ from those hashed before it was read. Its size and
    modification time tell most changes cheaply; the second hash tells a same-size rewrite that
    kept its modification time, so the recorded checksum is always that of the bytes read. (A
    private copy would read exactly the hashed bytes, but it would be one more copy of the
    identifying data the export holds.)"""
    if _file_signature(path) != (file_report.size_bytes, file_report.modified_ns):
        return True
    return file_sha256(path) != file_report.file_sha256


def _left_for_next_run(read: FileReport | ArchivedExport) -> FileReport:
    """An export that changed while it was read (appended to, or replaced): its archive is
    dropped and it waits for the next run, so that no file is recorded with one checksum and
    loaded from other bytes."""
    if isinstance(read, FileReport):
        file_report = read
    else:
        file_report = read.report
        read.archive_path.unlink(missing_ok=True)
    file_report.status = "waiting"
    file_report.reason = (
        f"{file_report.file_name}: changed while it was read, left for the next run"
    )
    return file_report


def stage_file(
    con: duckdb.DuckDBPyConnection,
    read: FileReport | ArchivedExport,
    registry: Registry,
    rules: ReadingRules,
    newest_wins: bool = True,
) -> FileReport:
    """Stage an archived export into `ingest_batch`; a file that could not be archived is
    reported as it is. When the newest export wins, stored responses are staged again where
    their answers differ."""
    if isinstance(read, FileReport):
        return read
    file_report = read.report
    try:
        staged = stage_batch(
            con,
            read.plan,
            read.archive_path,
            registry,
            compare_answers=newest_wins,
            rules=rules,
        )
    except (UnreadableExport, duckdb.Error) as error:
        return _quarantined(file_report, read.plan, error)
    file_report.rows_already_loaded = (
        file_report.rows_read - file_report.rows_dropped_status - staged
    )
    file_report.archive_path = str(read.archive_path)
    file_report.archive_sha256 = file_sha256(read.archive_path)
    return file_report


def apply_survey_versions(
    con: duckdb.DuckDBPyConnection, files: list[FileReport], archive_dir: Path
) -> None:
    """Apply the newest-wins rule to the staged files (see `resolve_survey_versions`): record in
    each file's report the earlier versions of its survey it replaces, or the loaded newer ones
    that make it add nothing."""
    staged = {f.file_sha256: f for f in files if f.status == "staged"}
    versions = resolve_survey_versions(
        con,
        [
            ExportVersion(f.file_sha256, f.file_name, f.source, f.format, f.modified_ns)
            for f in staged.values()
        ],
        archive_dir,
    )
    for sha, earlier in versions.replaced.items():
        staged[sha].replaces_sha256 = earlier
    for sha, (newer, taken_out) in versions.superseded.items():
        staged[sha].rows_already_loaded += taken_out
        staged[sha].reason = (
            f"{staged[sha].file_name}: older than {', '.join(newer)}, a loaded export of the same "
            "survey: that one's answers stand, and it adds nothing"
        )


def _quarantined(file_report: FileReport, plan: ExportPlan, error: Exception) -> FileReport:
    file_report.status = "quarantined"
    file_report.reason = f"{plan.path.name}: {str(error).splitlines()[0]}"
    return file_report


def _ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    archive_dir: Path,
    keying: ArchiveKeying,
    registry: Registry,
    mappings: list[SourceMapping],
    rules: ReadingRules,
) -> FileReport:
    """One export planned, archived and staged, in turn."""
    file_report, plan = _plan_file(path, registry, mappings, {}, rules)
    if plan is None:
        return file_report
    archived = _archive_file(con, file_report, plan, archive_dir, keying)
    return stage_file(con, archived, registry, rules)


def validate(settings: Settings, report: RunReport, registry: Registry) -> RunReport:
    """Run the batch checkpoint: failing rows go to `batch_row_failures`, and a file with too many
    of them is held back whole."""
    with _open_warehouse(settings) as con:
        return check_batch(
            con,
            report,
            registry,
            settings.paths.roster,
            settings.quality,
            reading_rules(settings).wave_windows,
        )


def check_batch(
    con: duckdb.DuckDBPyConnection,
    report: RunReport,
    registry: Registry,
    roster_path: Path,
    quality: QualitySettings,
    wave_windows: dict[str, WaveWindow] | None = None,
) -> RunReport:
    """Validate `ingest_batch` on `con` and record in `batch_row_failures` every failing row, and
    one whole-file entry per file that could not be read or is held back. A file whose share of
    failing rows is above `quality.max_failed_share` becomes held_back, with the reason."""
    row_failures: list[dict] = []
    [(batch_rows,)] = con.execute("select count(*) from ingest_batch").fetchall()
    if batch_rows:
        # Great Expectations takes seconds to import: a night with nothing new never loads it.
        from resilience.validation import batch_relations, held_back_files, validate_batch

        relations = batch_relations(
            registry,
            roster_team_ids(con, roster_path),
            quality.waves if wave_windows is None else wave_windows,
        )
        validation = validate_batch(con, relations)
        if validation.errors:
            raise ValidationError(
                "validation could not run: "
                + "; ".join(outcome.describe() for outcome in validation.errors)
            )
        rows_by_file = dict(
            con.execute(
                "select file_sha256, count(*) from ingest_batch group by file_sha256"
            ).fetchall()
        )
        held_back = held_back_files(validation.row_failures, rows_by_file, quality.max_failed_share)
        for file_report in report.files:
            if file_report.file_sha256 in held_back:
                file_report.status = "held_back"
                file_report.reason = (
                    f"{file_report.file_name}: {held_back[file_report.file_sha256]}"
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
    whole_file_rules = {"quarantined": RULE_FILE_UNREADABLE, "held_back": RULE_FILE_HELD_BACK}
    whole_file_failures = [
        {
            "file_sha256": f.file_sha256,
            "source_row": None,
            "column_name": None,
            "rule": whole_file_rules[f.status],
            "value": f.reason,
        }
        for f in report.files
        if f.status in whole_file_rules
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
    with _open_warehouse(settings) as con:
        return load_batch(con, report, settings.quality.reexports)


def load_batch(
    con: duckdb.DuckDBPyConnection, report: RunReport, reexports: ReexportPolicy = "newest"
) -> RunReport:
    """Load the validated batch on `con` and count each file's rows: loaded (of which corrected),
    quarantined, and already in the warehouse (those found so while staging, plus those earlier
    in the batch), and the stored responses it removes. With `reexports` "newest", corrected
    versions replace stored ones and responses a newer export dropped are removed."""
    recorded = [
        f for f in report.files if f.status not in ("skipped", "waiting", "needs_attention")
    ]
    batch_files = pd.DataFrame(
        [asdict(f) for f in recorded],
        columns=[*FileReport.__dataclass_fields__],
    )
    con.register("batch_files", batch_files)
    set_variables(con, {"reexports_newest": reexports == "newest"})
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
        file_report.rows_already_loaded += int(file_counts.get("rows_already_loaded", 0))
        file_report.rows_repeated = int(file_counts.get("rows_repeated", 0))
        file_report.rows_corrected = int(file_counts.get("rows_corrected", 0))
        file_report.rows_deleted = int(file_counts.get("rows_deleted", 0))
        if file_report.status == "staged":
            file_report.status = "loaded"
    return report


def validate_file(
    path: Path, settings: Settings, registry: Registry
) -> tuple[FileReport, list[tuple[int | None, str | None, str, str | None]]]:
    """What a run would do with one export, loading nothing: the same ingest, checkpoint and load
    SQL, on an in-memory DuckDB that is thrown away. Returns the file's report and its quarantined
    cells (row, column, rule, value).

    The archive copy goes to a temporary folder, and response ids are re-keyed with a throwaway
    salt: nothing is kept, so nothing is compared with the warehouse either: rows_already_loaded
    is 0, and rows_repeated counts the rows repeated within the file.
    """
    report = new_run()
    rules = reading_rules(settings)
    with duckdb.connect() as con, tempfile.TemporaryDirectory() as scratch:
        ensure_schema(con, registry)
        scratch_paths = settings.paths.model_copy(update={"out": Path(scratch)})
        report.files = [
            _ingest_file(
                con,
                path,
                settings.model_copy(update={"paths": scratch_paths}).archive_dir,
                ArchiveKeying(secrets.token_hex(32), None, report.run_id),
                registry,
                load_mappings(settings.paths.mappings),
                rules,
            )
        ]
        check_batch(
            con, report, registry, settings.paths.roster, settings.quality, rules.wave_windows
        )
        load_batch(con, report)
        cells = con.execute(
            "select source_row, column_name, rule, value from quarantine "
            "order by source_row nulls first, column_name, rule"
        ).fetchall()
    return report.files[0], cells


def transform(settings: Settings, registry: Registry) -> list[str]:
    """Score every response and rebuild the indicator marts; return the models built. When the
    marts in the warehouse were built and checked from exactly these inputs (no new responses, same
    definitions, action log, roster, settings and SQL), nothing is rebuilt and none are returned.
    When only new responses were added since, the incremental models add just those, the models
    incremental by wave rebuild only their waves, and the rest are rebuilt whole."""
    registry.require_indicators(settings.indicators.compassion_fatigue)
    registry.require_indicators(settings.early_warnings.indicators)
    variables = {
        **settings.indicator_variables(),
        **settings.quality_variables(),
        "min_group_size": settings.privacy.min_group_size,
    }
    with _open_warehouse(settings) as con:
        # A strategy the action log names must be one the dashboards know.
        strategies = [strategy.id for strategy in load_strategies()]
        load_seeds(con, registry, settings.paths.actions, settings.paths.roster, strategies)
        inputs = ModelsBuild(
            definitions_fingerprint(con, settings.paths.roster, variables),
            *raw_responses_digest(con),
        )
        previous = models_built_from(con)
        if previous == inputs:
            return []
        first_new_response_row = None
        if (
            previous is not None
            and previous.definitions_fingerprint == inputs.definitions_fingerprint
            and raw_responses_digest(con, previous.responses)
            == (previous.responses, previous.responses_digest)
        ):
            first_new_response_row = previous.responses
        from resilience.validation import check_marts

        set_variables(con, variables)
        built = run_transform(
            con,
            settings.paths.roster,
            settings.privacy.min_group_size,
            first_new_response_row,
        )
        # A roster that strands loaded responses, or a mart that breaks its rules, fails the run
        # here, before anything is published.
        check_roster(con, settings.paths.roster)
        check_marts(con, settings.privacy.min_group_size)
        # Nothing writes raw_responses during the transform: the inputs are what it was built from.
        record_models_built_from(con, inputs)
        return built


def publication_fingerprint(con: duckdb.DuckDBPyConnection, settings: Settings) -> str:
    """What a release is built from: the marts' rows, the manifest, responses and quarantine that
    the validation report shows, the code that renders them, and the settings."""
    digest = hashlib.sha256()
    sources = [*published_model_names(), "raw_files", "raw_responses", "quarantine"]
    digest.update(tables_fingerprint(con, sources).encode())
    # The validation report is part of the release: a newly held-back file changes it.
    digest.update(read_validation_state(con).fingerprint().encode())
    # How much memory DuckDB may use, and how the dashboards are served, change nothing that is
    # published.
    digest.update(settings.model_dump_json(exclude={"warehouse", "serve"}).encode())
    digest.update(source_digest(RELEASE_SOURCES, RELEASE_SOURCE_SUFFIXES, PROJECT_ROOT).encode())
    return digest.hexdigest()


def _kept_release(
    con: duckdb.DuckDBPyConnection, settings: Settings, fingerprint: str
) -> str | None:
    """The published release, if a successful run built it from exactly `fingerprint` and it is
    whole; None when a new release is needed."""
    release = current_release(settings)
    if release is None:
        return None
    folder = settings.releases_dir / release
    whole = (folder / settings.analytics_path.name).is_file() and (
        folder / settings.dashboards_dir.name / "index.html"
    ).is_file()
    recorded = con.execute(read_sql("runs/release_fingerprint.sql"), [release]).fetchall()
    return release if whole and recorded == [(fingerprint,)] else None


def render(settings: Settings, report: RunReport) -> RunReport:
    """Build this run's release beside the published one: the analytics file, and from it the
    tables as Parquet and CSV files (`tables/parquet/`, `tables/csv/`) and the dashboards. When
    the published release was built from the same marts, code and settings, it is kept and
    nothing is rendered."""
    with _open_warehouse(settings) as con:
        [(responses,)] = con.execute("select count(*) from raw_responses").fetchall()
        if not responses:
            # A new site before its first export: nothing to publish, and nothing wrong.
            report.finished_at = datetime.now(UTC)
            return report
        report.publication_fingerprint = publication_fingerprint(con, settings)
        kept = _kept_release(con, settings, report.publication_fingerprint)
        report.release, report.release_unchanged = kept or report.run_id, kept is not None
        release = settings.releases_dir / report.release
        published_checks = []
        if not report.release_unchanged:
            # Great Expectations takes seconds to import: a kept release never loads it.
            from resilience.validation import mart_relations

            build_candidate(con, release / settings.analytics_path.name)
            published_checks = mart_relations(con, settings.privacy.min_group_size)
        validation = read_validation_state(con)

    rules = reading_rules(settings)
    report.actions_off_roster = actions_off_roster(
        settings.paths.actions, set(rules.team_keys.values())
    )
    excluded = {outcome.file_sha256: outcome.rows_excluded for outcome in validation.files}
    for file_report in report.with_status("loaded"):
        file_report.rows_excluded = excluded.get(file_report.file_sha256, 0)
    tables = read_published_tables(release / settings.analytics_path.name)
    latest = tables.team_indicators[tables.team_indicators["wave"] == tables.latest_wave()]
    # Reported: the teams that get a page, with at least one number shown in the latest wave.
    report.teams_reported = len(tables.reported_team_ids())
    report.teams_suppressed = latest["team_id"].nunique() - report.teams_reported
    report.finished_at = datetime.now(UTC)
    if report.release_unchanged:
        return report
    crash_point("render")
    # Plotly and the page templates take a second or two to import: a kept release never loads them.
    from dashboards.pages import PageLink, write_dashboards

    # Copies for BI tools, from the analytics file just written: never from the warehouse.
    for file_format in EXPORT_FORMATS:
        export_tables(
            release / settings.analytics_path.name,
            release / settings.tables_dir.name / file_format,
            file_format,
        )
    dashboards_dir = release / settings.dashboards_dir.name
    write_validation_report(
        dashboards_dir,
        validation,
        settings.quality,
        published_checks,
        report.run_id,
        report.finished_at,
    )
    write_dashboards(
        dashboards_dir,
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
        linked_pages=[
            PageLink(VALIDATION_PAGE, "Validation report", validation_summary(validation))
        ],
        # Team pages the published release already holds, made from the same data, are kept.
        reuse_from=settings.dashboards_dir if settings.dashboards_dir.is_dir() else None,
    )
    return report


def publish(settings: Settings, report: RunReport) -> RunReport:
    """Make this run's release the one readers see, analytics file and dashboards in one atomic
    step (unless the published release was kept), and record the run as succeeded: the switch
    holds only once the record is committed."""
    notes = []
    if report.release is None:
        notes.append(
            "nothing published yet: no responses are loaded (put exports in "
            f"{settings.paths.exports.name}/, draft their mappings with 'resilience map')"
        )
    elif report.release_unchanged:
        prune_releases(settings)  # what killed runs left behind
    else:
        crash_point("publish")
    report.outputs = (
        {}
        if report.release is None
        else {
            "warehouse": str(settings.warehouse_path),
            "analytics": str(settings.analytics_path),
            "tables": str(settings.tables_dir),
            "dashboards": str(settings.dashboards_dir / "index.html"),
            "leadership": str(settings.dashboards_dir / "leadership.html"),
            "validation": str(settings.dashboards_dir / VALIDATION_PAGE),
        }
    )
    if report.release_unchanged:
        notes.append("nothing changed: the published release was kept")
    if settings.quality.reexports == "keep-first":
        notes.append(
            "quality.reexports is keep-first: changed answers and removed responses in "
            "re-exports are not applied"
        )
    if waiting := report.with_status("waiting"):
        notes.append(f"{len(waiting)} export(s) still being written, left for the next run")
    record = {
        **_run_counts(report),
        "message": "; ".join(notes) or None,
        "published_release": report.release,
        "publication_fingerprint": report.publication_fingerprint,
    }
    with _open_warehouse(settings) as con:
        # The server's audit journal joins the warehouse while the run holds it anyway.
        move_journal_into_warehouse(
            con, settings.serve_state_dir, settings.serve.audit_retention_days
        )
        if report.release is None or report.release_unchanged:
            con.execute(read_sql("runs/record_run.sql"), record)
        else:
            # Readers switch to the new release as the run is recorded as succeeded: when the
            # record cannot be committed (a full volume), they are pointed back at the release
            # they saw, and the run fails. Not after a signal.
            with publishing(), switched_release(settings, report.release), transaction(con):
                con.execute(read_sql("runs/record_run.sql"), record)
    return report


__all__ = [
    "ExportsNotReady",
    "FileReport",
    "RunReport",
    "ValidationError",
    "check_batch",
    "ingest_exports",
    "load",
    "load_batch",
    "new_run",
    "publication_fingerprint",
    "publish",
    "recorded_run",
    "render",
    "settled_exports",
    "transform",
    "validate",
    "validate_file",
]
