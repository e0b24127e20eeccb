"""Whether a run is in progress, what the last runs did, and what readers see now.

A run holds an exclusive lock on `run.lock` in the output folder for its whole length, so a second
run (a manual one while the scheduled one is going) cannot interleave its stages with the first.
`resilience status` takes the same lock shared while it reads the warehouse: DuckDB lets no other
process open a file that one process has open for writing, read-only included, so reading
between two stages of a run would make the run's next stage fail. The kernel drops the lock when
its process dies, SIGKILL included, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import duckdb
import pydantic

from resilience.rules import ATTENTION_STATUSES, attention_fix
from resilience.settings import Settings, display_path
from resilience.sqlfiles import quote_identifier, read_sql

NO_SPACE = "No space left on device"
# How DuckDB names the file it could not write (quotes escaped inside JSON in some messages).
WRITTEN_FILE = re.compile(r'Could not write file \\?"([^"\\]+)\\?"')
# Long enough to wait out `resilience status` (it holds the lock for a fraction of a second),
# short enough that an overlapping run gives up quickly.
LOCK_WAIT_SECONDS = 30.0


class RunInProgress(RuntimeError):
    """Another run holds the output folder."""


class ExportsNotReady(RuntimeError):
    """The exports folder cannot be read right now (a network share that is not mounted, a file
    replaced while it was read): trying again shortly can help."""


@dataclass(frozen=True)
class LockHolder:
    run_id: str
    pid: int
    started_at: str


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    files_seen: int | None
    rows_read: int | None
    rows_loaded: int | None
    rows_quarantined: int | None
    message: str | None
    published_release: str | None


@dataclass(frozen=True)
class PublishedRelease:
    analytics_file: str
    release: str | None
    modified_at: datetime
    tables: dict[str, int]
    pages: list[str]


@dataclass(frozen=True)
class FileNeedingAttention:
    """An export set aside whole (held back or unreadable) the last time it was read."""

    file_name: str
    status: str
    reason: str
    fix: str


@dataclass(frozen=True)
class Replacement:
    """A newer export of a survey that replaced earlier versions of it (the newest export wins)."""

    file_name: str
    replaces: list[str]
    rows_deleted: int
    """The responses it removed: the earlier versions held them, it no longer does."""


@dataclass
class Status:
    running: LockHolder | None = None
    runs: list[RunRecord] = field(default_factory=list)
    runs_unavailable: str | None = None
    needs_attention: list[FileNeedingAttention] = field(default_factory=list)
    published: PublishedRelease | None = None
    published_unavailable: str | None = None
    # Loaded exports no longer in the exports folder (their responses stay in the warehouse).
    removed_exports: list[str] = field(default_factory=list)
    # The exports that replaced earlier versions of their survey in the last run that replaced any.
    replacements: list[Replacement] = field(default_factory=list)

    @property
    def last_run_failed(self) -> bool:
        return bool(self.runs) and self.runs[0].outcome in ("failed", "interrupted")


def one_line(error: BaseException) -> str:
    """The first line of an error's message: what a scheduler shows and the run record keeps.
    A full disk anywhere in the error's chain is the first cause, whatever it led to: "No space
    left on device (path)"."""
    if (full := disk_full(error)) is not None:
        return full
    if isinstance(error, pydantic.ValidationError) and error.errors():
        first = error.errors()[0]
        return f"invalid setting {'.'.join(map(str, first['loc']))}: {first['msg']}"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def disk_full(error: BaseException) -> str | None:
    """ "No space left on device (path)" when a full disk is behind `error` (itself, its causes
    and contexts, or their notes); None otherwise."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            where = f" ({display_path(current.filename)})" if current.filename else ""
            return f"No space left on device{where}"
        for text in [str(current), *getattr(current, "__notes__", [])]:
            if NO_SPACE in text:
                written = WRITTEN_FILE.search(text)
                where = f" ({display_path(written.group(1))})" if written else ""
                return f"No space left on device{where}"
        current = current.__cause__ or current.__context__
    return None


def _read_holder(handle: IO[str]) -> LockHolder | None:
    handle.seek(0)
    try:
        return LockHolder(**json.loads(handle.read()))
    except (ValueError, TypeError):
        return None


def _describe(holder: LockHolder | None) -> str:
    if holder is None:
        return "another run is in progress"
    return f"run {holder.run_id} (pid {holder.pid}, since {holder.started_at}) is in progress"


@contextmanager
def hold_run_lock(
    path: Path, run_id: str, wait_seconds: float = LOCK_WAIT_SECONDS
) -> Iterator[None]:
    """Hold the output folder for one run; raise RunInProgress if another run keeps it longer
    than `wait_seconds`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as handle:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunInProgress(_describe(_read_holder(handle))) from None
                time.sleep(0.2)
        holder = LockHolder(run_id, os.getpid(), datetime.now(UTC).isoformat(timespec="seconds"))
        handle.truncate(0)
        # Unbuffered, and only a courtesy to `resilience status`: on a full volume the run goes
        # on without its name in the lock, and fails where its work needs the space.
        with contextlib.suppress(OSError):
            os.pwrite(handle.fileno(), json.dumps(asdict(holder)).encode(), 0)
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def shared_run_lock(path: Path) -> Iterator[LockHolder | None]:
    """Keep runs from starting for the duration; yields the running run's holder instead when a
    run holds the folder (then nothing may open the warehouse)."""
    if not path.exists():
        yield None
        return
    with path.open("r", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            yield _read_holder(handle) or LockHolder("unknown", 0, "unknown")
            return
        try:
            yield None
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_runs(warehouse_path: Path, limit: int) -> list[RunRecord]:
    """The last `limit` runs, newest first. Raises duckdb.Error when the warehouse cannot be
    opened read-only (missing, or held by a process that is writing it)."""
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        rows = con.execute(read_sql("runs/last_runs.sql"), {"limit": limit}).fetchall()
    return [RunRecord(*row) for row in rows]


def read_files_needing_attention(warehouse_path: Path) -> list[FileNeedingAttention]:
    """The exports set aside whole when last read, each with its one-line fix. Raises
    duckdb.Error as `read_runs` does."""
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        rows = con.execute(
            "select file_name, status, coalesce(reason, '') from raw_files "
            "where list_contains($statuses, status) order by file_name",
            {"statuses": list(ATTENTION_STATUSES)},
        ).fetchall()
    return [FileNeedingAttention(name, kind, why, attention_fix(why)) for name, kind, why in rows]


def read_replacements(warehouse_path: Path) -> list[Replacement]:
    """The exports that replaced earlier versions of their survey in the last run that replaced
    any. Raises duckdb.Error as `read_runs` does."""
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        rows = con.execute(read_sql("runs/last_replacements.sql")).fetchall()
    return [Replacement(name, list(earlier), int(deleted or 0)) for name, earlier, deleted in rows]


def removed_exports(warehouse_path: Path, exports: Path) -> list[str]:
    """The names of loaded exports that are no longer anywhere below the `exports` folder; none
    when the folder cannot be read (a share not mounted is not a removal)."""
    if not exports.is_dir():
        return []
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        loaded = [
            name for (name,) in con.execute(read_sql("runs/loaded_file_names.sql")).fetchall()
        ]
    present = {path.name for path in exports.rglob("*") if path.is_file()}
    return [name for name in loaded if name not in present]


def read_published(settings: Settings) -> PublishedRelease:
    """Tables and row counts of the analytics file readers open, and the dashboard pages.
    Raises OSError or duckdb.Error when nothing is published."""
    analytics = settings.analytics_path
    modified = datetime.fromtimestamp(analytics.stat().st_mtime, UTC)
    with duckdb.connect(str(analytics), read_only=True) as con:
        names = [
            name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()
        ]
        tables = {
            name: con.execute(f"select count(*) from {quote_identifier(name)}").fetchall()[0][0]
            for name in sorted(names)
        }
    current = settings.current_release
    return PublishedRelease(
        analytics_file=str(analytics),
        release=Path(os.readlink(current)).name if current.is_symlink() else None,
        modified_at=modified,
        tables=tables,
        pages=sorted(path.name for path in settings.dashboards_dir.glob("*.html")),
    )


def read_status(settings: Settings, limit: int = 10) -> Status:
    status = Status()
    with shared_run_lock(settings.run_lock_path) as holder:
        status.running = holder
        if holder is not None:
            status.runs_unavailable = f"{_describe(holder)}: run records are read after it ends"
        elif not settings.warehouse_path.exists():
            status.runs_unavailable = (
                f"no run yet (no warehouse at {display_path(settings.warehouse_path)})"
            )
        else:
            try:
                status.runs = read_runs(settings.warehouse_path, limit)
                status.needs_attention = read_files_needing_attention(settings.warehouse_path)
                status.removed_exports = removed_exports(
                    settings.warehouse_path, settings.paths.exports
                )
                status.replacements = read_replacements(settings.warehouse_path)
            except duckdb.Error as error:
                status.runs_unavailable = one_line(error)
    if not settings.analytics_path.exists():
        status.published_unavailable = (
            f"no analytics file at {display_path(settings.analytics_path)}: no run has published"
        )
        return status
    try:
        status.published = read_published(settings)
    except (OSError, duckdb.Error) as error:
        status.published_unavailable = one_line(error)
    return status


__all__ = [
    "LOCK_WAIT_SECONDS",
    "ExportsNotReady",
    "LockHolder",
    "PublishedRelease",
    "Replacement",
    "RunInProgress",
    "RunRecord",
    "Status",
    "disk_full",
    "hold_run_lock",
    "one_line",
    "read_published",
    "read_replacements",
    "read_runs",
    "read_status",
    "removed_exports",
    "shared_run_lock",
]
