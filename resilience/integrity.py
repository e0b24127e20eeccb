"""Integrity of what a run keeps: the warehouse is there whenever releases are, and every loaded
export's archive is there with the bytes it was written with. A run checks both before it reads
an export; `resilience verify` checks the archives on demand."""

from __future__ import annotations

import duckdb

from resilience.ingest import archive_file, file_sha256
from resilience.settings import Settings, display_path
from resilience.sqlfiles import read_sql


class WarehouseMissing(RuntimeError):
    """Releases are published but the warehouse they were built from is gone."""


class ArchiveDamaged(RuntimeError):
    """A loaded export's archive is missing or no longer holds the bytes it was written with."""


def require_warehouse(settings: Settings) -> None:
    """Raise WarehouseMissing when releases exist without a warehouse: a new, empty one would
    lose the run history and count only the exports still in the folder."""
    if settings.warehouse_path.exists() or not settings.releases_dir.is_dir():
        return
    if any(settings.releases_dir.iterdir()):
        raise WarehouseMissing(
            f"the warehouse {display_path(settings.warehouse_path)} is missing while releases "
            f"are published in {display_path(settings.releases_dir)}: restore it from the "
            "backup, or rebuild it from the archives with 'resilience run "
            "--rebuild-from-archive' (a new, empty one would count only the exports still in "
            "the folder)"
        )


def archive_problems(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[str]:
    """One line per loaded export whose archive is missing or differs from its checksum."""
    problems = []
    for file_name, export_sha256, archive_sha256 in con.execute(
        read_sql("runs/loaded_archives.sql")
    ).fetchall():
        archive = archive_file(settings.archive_dir, export_sha256)
        if not archive.is_file():
            problems.append(f"{file_name}: its archive is missing ({display_path(archive)})")
        elif archive_sha256 is not None and file_sha256(archive) != archive_sha256:
            problems.append(
                f"{file_name}: its archive {display_path(archive)} does not match the checksum "
                "recorded when it was written"
            )
    return problems


def require_intact_archives(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Raise ArchiveDamaged naming the first damaged archive and how many there are."""
    problems = archive_problems(con, settings)
    if problems:
        raise ArchiveDamaged(
            f"{len(problems)} archive(s) missing or changed, first {problems[0]}: restore "
            f"{display_path(settings.archive_dir)} from the backup ('resilience verify' lists "
            "them all)"
        )
