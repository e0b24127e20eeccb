"""Read survey exports: recognise each file, archive it without identifying data, stage its rows.

Identifying columns are dropped in the very first read: DuckDB scans the file (or, for encodings it
cannot read and for workbooks, a copy that holds only the kept columns) and only the kept columns
are selected, so no identifying value is ever written anywhere by the pipeline.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from resilience.formats import (
    DROPPED_STATUSES,
    KEPT_METADATA_ROLES,
    Role,
    SourceMapping,
    UnreadableExport,
    column_role,
    mapping_for,
    survey_name,
)
from resilience.instruments import Item, Registry
from resilience.readers import (
    MAX_RECORD_BYTES,
    Layout,
    UnreadableRows,
    describe_read_error,
    detect_layout,
    export_rows,
    find_redcap_dictionary,
    is_codebook,
)
from resilience.site import ReadingRules, match_key
from resilience.sqlfiles import quote_identifier, read_sql, render_sql

EXPORT_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx")
DATE_FORMATS = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y",
]
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
    reason: str | None = None
    """Why the column is not kept, when it is not."""

    @property
    def name(self) -> str:
        """The column's name in the archive and the batch."""
        return self.target or ARCHIVE_NAMES[self.role]


@dataclass(frozen=True)
class ExportPlan:
    path: Path
    sha256: str
    size_bytes: int
    layout: Layout | None
    """None for an export loaded again from its archive (`resilience.rebuild`)."""
    source: str
    mapping: SourceMapping | None
    dictionary: Path | None
    """The REDCap data dictionary that marked identifying and free-text fields."""
    columns: tuple[PlannedColumn, ...]
    problems: tuple[str, ...]
    blocking_problems: tuple[str, ...]
    """Why the whole file cannot be loaded."""
    file_wave: str | None = None
    """The wave of every response, when the mapping gives one for this file."""

    @property
    def waves_from_dates(self) -> bool:
        """Whether each response's wave is the fieldwork window holding its recorded date."""
        return self.file_wave is None and not self.with_role("wave")

    def with_role(self, *roles: Role) -> list[PlannedColumn]:
        return [column for column in self.columns if column.role in roles]

    @property
    def kept(self) -> list[PlannedColumn]:
        return self.with_role("item", "team", "wave", "text", *KEPT_METADATA_ROLES)

    @property
    def identifying_columns(self) -> list[str]:
        return [column.column_id for column in self.with_role("identifying", "response_id")]

    @property
    def unmapped_columns(self) -> list[str]:
        return [column.column_id for column in self.with_role("unmapped")]

    @property
    def mapped_columns(self) -> dict[str, str]:
        return {
            c.column_id: c.target
            for c in self.with_role("item", "team", "wave", "text")
            if c.target
        }

    @property
    def blocking_problem(self) -> str | None:
        """Why the whole file cannot be loaded, naming the file, or None."""
        if not self.blocking_problems:
            return None
        return f"{self.path.name}: {'; '.join(self.blocking_problems)}"

    def column_plan_json(self) -> str:
        return json.dumps([asdict(column) for column in self.columns])


@dataclass(frozen=True)
class ArchiveRecord:
    """What an archive says about the export it was written from, in its Parquet key-value
    metadata: enough to load it again when the warehouse is lost (`resilience run
    --rebuild-from-archive`), and nothing identifying."""

    file_name: str
    source: str
    format: str
    size_bytes: int
    modified_ns: int
    """When the export was last modified: the newest export wins a response seen in two."""
    column_plan: str
    """Every column's role and target, as JSON (ExportPlan.column_plan_json)."""
    run_id: str
    """The run that read the export: a rebuild loads the archives run by run, in order."""
    salt_fingerprint: str
    """The fingerprint of the salt that keyed its responses (never the salt)."""

    def as_metadata(self) -> dict[str, str]:
        return {key: str(value) for key, value in asdict(self).items()}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> ArchiveRecord:
        return cls(
            **{
                **metadata,
                "size_bytes": int(metadata["size_bytes"]),
                "modified_ns": int(metadata["modified_ns"]),
            }
        )


def read_archive_record(con: duckdb.DuckDBPyConnection, archive_path: Path) -> ArchiveRecord | None:
    """The archive's record of its export, or None for an archive written before archives kept
    one."""
    metadata = dict(
        con.execute(
            read_sql("ingest/archive_record.sql"), {"archive_path": str(archive_path)}
        ).fetchall()
    )
    if not set(ArchiveRecord.__dataclass_fields__) <= set(metadata):
        return None
    return ArchiveRecord.from_metadata(
        {key: metadata[key] for key in ArchiveRecord.__dataclass_fields__}
    )


def archive_file(archive_dir: Path, export_sha256: str) -> Path:
    """Where the archive of the export with SHA-256 `export_sha256` is kept."""
    return archive_dir / f"{export_sha256}.parquet"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_exports(directory: Path) -> list[Path]:
    """Every export below `directory`. Codebooks (a REDCap data dictionary) and the lock files
    office programs leave beside an open file are not exports."""
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file()
        and path.suffix.lower() in EXPORT_SUFFIXES
        and not path.name.startswith((".", "~$"))
        and not is_codebook(path)
    )


def _items_of(key: str, registry: Registry) -> list[Item]:
    """The items an [answers.<key>] table applies to: one item, or every item of an instrument."""
    return [item for item in registry.items if key in (item.id, item.instrument)]


def _mapping_problems(
    layout: Layout, mapping: SourceMapping, registry: Registry, canonical_ids: frozenset[str]
) -> list[str]:
    where = f"mapping {mapping.source!r}"
    problems = []
    named = (*mapping.columns, *mapping.free_text, *filter(None, [mapping.recorded_date]))
    missing = [key for key in named if key not in layout.column_ids]
    if missing:
        problems.append(f"{where} names columns the export lacks (renamed?): {', '.join(missing)}")
    unknown = [
        f"{key} -> {target}"
        for key, target in mapping.columns.items()
        if target not in canonical_ids
    ]
    if unknown:
        problems.append(f"{where} maps to ids no instrument defines: {', '.join(unknown)}")
    repeated = Counter(column.name for column in layout.columns)
    for key in named:
        if repeated[key] > 1:
            spelled = ", ".join([key, *(f"{key}.{n}" for n in range(1, repeated[key]))])
            problems.append(
                f"{where}: {repeated[key]} columns are named {key!r}; map them as {spelled}"
            )
    for key, table in mapping.answers.items():
        items = _items_of(key, registry)
        if not items:
            problems.append(f"{where}: [answers.{key}] names no instrument or item")
        invalid = sorted(
            {code for code in table.values() for item in items if code not in item.codes}
        )
        if invalid:
            problems.append(f"{where}: [answers.{key}] gives codes the items lack: {invalid}")
    return problems


def _wave_problem(
    path: Path,
    columns: tuple[PlannedColumn, ...],
    mapping: SourceMapping | None,
    rules: ReadingRules,
) -> str | None:
    """Why no response of the file can be given a wave, or None."""
    if any(column.role == "wave" for column in columns) or (mapping and mapping.wave):
        return None
    if mapping and mapping.wave_from_file:
        if mapping.file_wave(path) is None:
            return (
                f"the file name does not match the mapping's wave_from_file "
                f"{mapping.wave_from_file!r}"
            )
        return None
    if not rules.wave_windows:
        return (
            "no wave: map a column to 'wave', give the mapping a 'wave' or 'wave_from_file', "
            "or list the fieldwork windows (paths.waves, --waves)"
        )
    if not any(column.role == "recorded_at" for column in columns):
        return (
            "no recorded date to place responses in the fieldwork windows: map a column to "
            "'wave', or give the mapping a 'wave' or 'wave_from_file'"
        )
    return None


def _blocking_problems(
    layout: Layout,
    columns: tuple[PlannedColumn, ...],
    mapping: SourceMapping | None,
    registry: Registry,
    canonical_ids: frozenset[str],
    wave_problem: str | None,
) -> list[str]:
    problems = []
    if not layout.has_data:
        problems.append(f"no responses after the {layout.header_rows} header row(s)")
    if not any(column.role == "team" for column in columns):
        problems.append("no team column (map one to 'team')")
    if wave_problem:
        problems.append(wave_problem)
    if not any(column.role == "item" for column in columns):
        problems.append("no column maps to an instrument item")
    by_target: dict[str, list[PlannedColumn]] = {}
    for column in columns:
        if column.target and column.role != "unmapped":
            by_target.setdefault(column.target, []).append(column)
    for target, sharing in by_target.items():
        if len(sharing) > 1:
            where = ", ".join(f"{c.position + 1} ({c.column_id!r})" for c in sharing)
            problems.append(f"columns {where} all map to {target}")
    if mapping:
        problems += _mapping_problems(layout, mapping, registry, canonical_ids)
    return problems


def plan_export(
    path: Path,
    mappings: list[SourceMapping],
    registry: Registry,
    rules: ReadingRules | None = None,
    sha256: str | None = None,
) -> ExportPlan:
    """Recognise the file and give every column a role; `rules` say whether its responses can be
    placed in waves by date; `sha256`, the file's digest when the caller has it. Raises
    UnreadableExport."""
    rules = rules or ReadingRules()
    layout = detect_layout(path)
    if not layout.export_format.is_export:
        raise UnreadableExport(
            f"{path.name}: a REDCap data dictionary, not an export; put it beside the export it "
            "describes or name it in the mapping's 'dictionary'"
        )
    mapping = mapping_for(path, mappings)
    try:
        dictionary = (
            find_redcap_dictionary(path, layout, mapping)
            if layout.export_format.tool == "REDCap"
            else None
        )
    except UnreadableExport as error:
        raise UnreadableExport(
            f"{path.name}: its data dictionary is unreadable: {error}"
        ) from error
    canonical_ids = frozenset((*registry.item_ids, "team", "wave"))
    columns = []
    for header in layout.columns:
        role = column_role(header, layout.export_format, mapping, dictionary, canonical_ids)
        columns.append(
            PlannedColumn(header.position, header.column_id, role.role, role.target, role.reason)
        )
    problems = []
    if not any(column.role == "response_id" for column in columns):
        problems.append(
            "no response id column: responses are matched across exports by their recorded "
            "time and answers"
            if any(column.role == "recorded_at" for column in columns)
            else "no response id column: a re-export of the same responses cannot be matched"
        )
    return ExportPlan(
        path=path,
        sha256=sha256 or file_sha256(path),
        size_bytes=path.stat().st_size,
        layout=layout,
        source=mapping.source if mapping else layout.format,
        mapping=mapping,
        dictionary=dictionary.path if dictionary else None,
        columns=tuple(columns),
        problems=tuple(problems),
        blocking_problems=tuple(
            _blocking_problems(
                layout,
                tuple(columns),
                mapping,
                registry,
                canonical_ids,
                _wave_problem(path, tuple(columns), mapping, rules),
            )
        ),
        file_wave=mapping.file_wave(path) if mapping else None,
    )


def _position(plan: ExportPlan, role: Role) -> int | None:
    found = plan.with_role(role)
    return found[0].position if found else None


def archive_export(
    con: duckdb.DuckDBPyConnection,
    plan: ExportPlan,
    archive_path: Path,
    record: ArchiveRecord | None = None,
) -> None:
    """Write the export's kept columns, re-keyed and without time of day, to `archive_path`,
    with `record` in its metadata (scratch archives, which nothing loads again, keep none).

    The caller sets the `response_key_salt` variable on `con` for the duration of the call.
    Raises UnreadableRows saying where the file could not be read.
    """
    layout = plan.layout
    if layout is None:
        raise ValueError(f"{plan.path.name}: loaded again from its archive, it is not read again")
    response_id = _position(plan, "response_id")
    read_positions = sorted({c.position for c in [*plan.kept, *plan.with_role("response_id")]})
    archive_path.parent.mkdir(parents=True, exist_ok=True)
    partial = archive_path.with_suffix(".partial")
    try:
        with export_rows(con, plan.path, layout, read_positions) as rows:
            [(written,)] = con.execute(
                render_sql(
                    "ingest/archive_export.sql.j2",
                    rows=rows,
                    archive_path=str(partial),
                    file_sha256=plan.sha256,
                    source=plan.source,
                    header_rows=layout.header_rows,
                    column_count=len(layout.columns),
                    max_record_bytes=MAX_RECORD_BYTES,
                    response_id=response_id,
                    recorded_at=_position(plan, "recorded_at"),
                    read_positions=read_positions,
                    kept=plan.kept,
                    date_formats=DATE_FORMATS,
                    record=record.as_metadata() if record else None,
                )
            ).fetchall()
        if written == 0 and layout.has_data:
            raise UnreadableRows(
                "no responses could be read although records follow the header "
                "(only blank rows, or mixed line breaks)"
            )
    except UnreadableRows:
        partial.unlink(missing_ok=True)
        raise
    except duckdb.Error as error:
        partial.unlink(missing_ok=True)
        raise UnreadableRows(describe_read_error(error, layout.header_rows)) from error
    partial.replace(archive_path)


# Answers match case- and whitespace-insensitively, as team cells do.
answer_key = match_key


@dataclass(frozen=True)
class _BatchItem:
    id: str
    answer_keys: tuple[tuple[str, str], ...]
    missing_keys: tuple[str, ...]
    """Answers that mean "not answered": staged as no answer, and counted."""
    recoded: bool
    """The mapping gives this item's answer values; plain codes are not accepted."""


def _batch_items(plan: ExportPlan, registry: Registry) -> list[_BatchItem]:
    present = {column.target for column in plan.with_role("item")}
    recodes = plan.mapping.answers if plan.mapping else {}
    source_missing = plan.mapping.missing_answers if plan.mapping else ()
    items = []
    for item in registry.items:
        if item.id not in present:
            continue
        table = recodes.get(item.id) or recodes.get(item.instrument) or {}
        keys = {} if table else {str(code): str(code) for code in item.codes}
        for option in item.options:
            for spelling in option.spellings:
                keys.setdefault(answer_key(spelling), str(option.code))
        keys.update({answer_key(value): str(code) for value, code in table.items()})
        # An answer option of the item is an answer, whatever the missing-answer lists say.
        missing = {answer_key(a) for a in (*item.missing_answers, *source_missing)} - set(keys)
        items.append(
            _BatchItem(
                item.id, tuple(keys.items()), tuple(sorted(missing - {""})), recoded=bool(table)
            )
        )
    return items


def stage_batch(
    con: duckdb.DuckDBPyConnection,
    plan: ExportPlan,
    archive_path: Path,
    registry: Registry,
    compare_answers: bool = True,
    rules: ReadingRules | None = None,
) -> int:
    """Append the archived rows of one export to `ingest_batch`, answers as codes, but for
    previews, tests, spam and responses already in `raw_responses`; return how many it staged.
    With `compare_answers`, a stored response is left out only when its team, wave and every
    answer of this export are the same: one that differs is staged as a new version.

    A team cell may spell a team as the roster's id, name or alias (`rules.team_keys`); without a
    wave column or a wave from the mapping, a response's wave is the window holding its recorded
    date, and a response in no window keeps its date in `date_in_no_wave`. Answers that mean "not
    answered" are staged as no answer and counted per item in `batch_unanswered`."""
    rules = rules or ReadingRules()
    texts = [column.target for column in plan.with_role("text") if column.target]
    items = _batch_items(plan, registry)
    # Free text a mapping allows has a column of its own; the load step copies the batch into
    # raw_responses by name, so both tables need it.
    for table in ("ingest_batch", "raw_responses"):
        for text in texts:
            con.execute(
                f"alter table {table} add column if not exists {quote_identifier(text)} varchar"
            )
    items = _batch_items(plan, registry)
    [(staged,)] = con.execute(
        render_sql(
            "ingest/ingest_batch.sql.j2",
            file_sha256=plan.sha256,
            archive_path=str(archive_path),
            present={column.name for column in plan.kept},
            items=items,
            texts=texts,
            dropped_statuses=DROPPED_STATUSES,
            compare_answers=compare_answers,
            compared=["team", "wave", *(item.id for item in items), *texts],
            team_keys=sorted(rules.team_keys.items()),
            file_wave=plan.file_wave,
            wave_windows=sorted(rules.wave_windows.items()) if plan.waves_from_dates else None,
        )
    ).fetchall()
    if items:
        con.execute(
            render_sql(
                "ingest/unanswered_counts.sql.j2",
                file_sha256=plan.sha256,
                archive_path=str(archive_path),
                items=items,
            )
        )
    return staged


@dataclass(frozen=True)
class ExportVersion:
    """An export as one version of its survey: loaded before, or staged in this batch."""

    file_sha256: str
    file_name: str
    source: str
    format: str
    modified_ns: int | None
    """None for files loaded before modification times were recorded: older than any since."""

    @property
    def survey(self) -> tuple[str, str]:
        """Exports are versions of one survey when they have the same source and the same name
        once the tool's download stamp is removed."""
        return self.source, survey_name(self.file_name, self.format)

    def is_older_than(self, other: ExportVersion) -> bool:
        if other.modified_ns is None:
            return False
        return self.modified_ns is None or self.modified_ns < other.modified_ns


@dataclass
class SurveyVersions:
    """What the newest-wins rule makes of a staged batch."""

    replaced: dict[str, list[str]] = field(default_factory=dict)
    """By an export's SHA-256, the SHA-256 of the earlier versions of its survey it replaces."""
    superseded: dict[str, tuple[list[str], int]] = field(default_factory=dict)
    """By an export's SHA-256, the names of the loaded newer versions of its survey that make it
    add nothing, and the rows it had staged (taken out of the batch)."""


def _sharing_versions(
    con: duckdb.DuckDBPyConnection,
    export: ExportVersion,
    others: list[ExportVersion],
    archive_dir: Path,
) -> list[ExportVersion]:
    """Of `others`, the versions that share at least one response with `export`."""
    if not others:
        return []
    by_archive = {str(archive_file(archive_dir, other.file_sha256)): other for other in others}
    sharing = {
        path
        for (path,) in con.execute(
            render_sql(
                "ingest/shared_versions.sql.j2",
                archive_path=str(archive_file(archive_dir, export.file_sha256)),
                other_archives=list(by_archive),
            )
        ).fetchall()
    }
    return [other for path, other in by_archive.items() if path in sharing]


def resolve_survey_versions(
    con: duckdb.DuckDBPyConnection, batch: Sequence[ExportVersion], archive_dir: Path
) -> SurveyVersions:
    """Apply the newest-wins rule to the staged `batch`: two exports are versions of one survey
    when they have the same survey (source and name without download stamp) and share at least
    one response, so that a filtered or per-team download is no version of a complete one.

    An export older (by modification time) than a loaded version of its survey adds nothing: its
    rows leave `ingest_batch` (and its "not answered" counts `batch_unanswered`). Any other
    export replaces the older versions of its survey, loaded before or in the batch, that no
    version between them replaced: the responses they held that it lacks are added to
    `batch_deletions`."""
    loaded = [
        ExportVersion(*row) for row in con.execute(read_sql("runs/loaded_versions.sql")).fetchall()
    ]
    found = SurveyVersions()
    for export in batch:
        newer = _sharing_versions(
            con,
            export,
            [v for v in loaded if v.survey == export.survey and export.is_older_than(v)],
            archive_dir,
        )
        if newer:
            taken_out = con.execute(
                "delete from ingest_batch where file_sha256 = $file_sha256 returning source_row",
                {"file_sha256": export.file_sha256},
            ).fetchall()
            con.execute(
                "delete from batch_unanswered where file_sha256 = $file_sha256",
                {"file_sha256": export.file_sha256},
            )
            found.superseded[export.file_sha256] = (
                [v.file_name for v in newer],
                len(taken_out),
            )
    # Oldest first, so that each export replaces only the versions no export between them has
    # replaced, as a version loaded on an earlier night is only replaced by the next.
    replaced_already: set[str] = set()
    for export in sorted(batch, key=lambda version: version.modified_ns or 0):
        if export.file_sha256 in found.superseded:
            continue
        earlier = _sharing_versions(
            con,
            export,
            [
                version
                for version in [*loaded, *batch]
                if version.file_sha256 != export.file_sha256
                and version.file_sha256 not in replaced_already
                and version.survey == export.survey
                and version.is_older_than(export)
            ],
            archive_dir,
        )
        if not earlier:
            continue
        found.replaced[export.file_sha256] = [version.file_sha256 for version in earlier]
        replaced_already.update(found.replaced[export.file_sha256])
        con.execute(
            render_sql(
                "ingest/dropped_responses.sql.j2",
                file_sha256=export.file_sha256,
                archive_path=str(archive_file(archive_dir, export.file_sha256)),
                earlier_archives=[
                    str(archive_file(archive_dir, version.file_sha256)) for version in earlier
                ],
            )
        )
    return found


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
    "ArchiveRecord",
    "ExportPlan",
    "ExportVersion",
    "PlannedColumn",
    "SurveyVersions",
    "UnreadableExport",
    "UnreadableRows",
    "archive_export",
    "archive_file",
    "count_statuses",
    "file_sha256",
    "list_exports",
    "plan_export",
    "read_archive_record",
    "resolve_survey_versions",
    "stage_batch",
]
