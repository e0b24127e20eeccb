"""Integrity of what a run keeps: a missing or changed archive fails the run before it reads an
export, and `resilience verify` lists it; a missing warehouse while releases exist stops the run
instead of starting a new, empty one; an export that changes while it is read waits for the next
run rather than being recorded with one checksum and loaded from other bytes."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from resilience import cli, pipeline
from resilience.instruments import Registry
from resilience.integrity import ArchiveDamaged, WarehouseMissing
from resilience.status import read_published
from tests.conftest import run_stages
from tests.worlds import make_small_world, published_tables


def test_a_damaged_archive_or_a_missing_warehouse_stops_the_run_and_verify_lists_them(
    tmp_path: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_small_world(tmp_path)
    config = str(tmp_path / "resilience.toml")
    report = run_stages(settings, registry)
    release, tables = read_published(settings).release, published_tables(settings)
    loaded = report.with_status("loaded")
    assert cli.main(["verify", "--config", config]) == cli.EXIT_OK
    assert f"{len(loaded)} of {len(loaded)} archives intact" in capsys.readouterr().out

    first, second = (Path(f.archive_path) for f in loaded[:2])
    kept = shutil.copy2(first, tmp_path / "kept.parquet")
    first.unlink()
    with second.open("ab") as archive:
        archive.write(b"\0")

    with pytest.raises(ArchiveDamaged) as damaged:
        run_stages(settings, registry)
    reason = str(damaged.value)
    assert reason.startswith(f"2 archive(s) missing or changed, first {loaded[0].file_name}: ")
    assert "restore" in reason and "resilience verify" in reason
    assert cli.main(["verify", "--config", config]) == cli.EXIT_FAILED
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith(f"{loaded[0].file_name}: its archive is missing")
    assert printed[1].startswith(f"{loaded[1].file_name}: its archive ")
    assert printed[1].endswith("does not match the checksum recorded when it was written")
    assert read_published(settings).release == release

    shutil.copy2(kept, first)
    with second.open("r+b") as archive:
        archive.truncate(second.stat().st_size - 1)
    assert cli.main(["verify", "--config", config]) == cli.EXIT_OK

    settings.warehouse_path.rename(tmp_path / "moved-aside.duckdb")
    with pytest.raises(WarehouseMissing, match=r"is missing while releases are published"):
        run_stages(settings, registry)
    assert not settings.warehouse_path.exists()  # no new, empty one in its place
    assert read_published(settings).release == release
    assert published_tables(settings) == tables


def append_last_row(export: Path) -> None:
    """What a survey tool still writing the export does."""
    last_row = export.read_bytes().splitlines(keepends=True)[-1]
    with export.open("ab") as handle:
        handle.write(last_row)


def rewrite_in_place(export: Path) -> None:
    """A same-size rewrite that keeps the modification time (as a sync tool restoring it does):
    the file's last digit changed."""
    before = export.stat()
    content = bytearray(export.read_bytes())
    last_digit = max(content.rfind(digit) for digit in b"12345")
    content[last_digit] = b"1"[0] if content[last_digit] != b"1"[0] else b"2"[0]
    export.write_bytes(bytes(content))
    os.utime(export, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert export.stat().st_size == before.st_size


@pytest.mark.parametrize(
    "change", [append_last_row, rewrite_in_place], ids=["appended", "rewritten"]
)
def test_an_export_changed_while_it_is_read_waits_for_the_next_run(
    change: Callable[[Path], None],
    tmp_path: Path,
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_small_world(tmp_path)
    growing = sorted(settings.paths.exports.iterdir())[-1]
    archive_as_the_pipeline_does = pipeline._archive_file

    def archive_while_the_export_changes(con, file_report, plan, archive_dir, keying):
        if plan.path == growing:
            change(growing)
        return archive_as_the_pipeline_does(con, file_report, plan, archive_dir, keying)

    monkeypatch.setattr(pipeline, "_archive_file", archive_while_the_export_changes)
    report = pipeline.ingest_exports(settings, pipeline.new_run(), registry)

    by_name = {f.file_name: f for f in report.files}
    waiting = by_name[growing.name]
    assert waiting.status == "waiting"
    assert waiting.reason == f"{growing.name}: changed while it was read, left for the next run"
    assert not (settings.archive_dir / f"{waiting.file_sha256}.parquet").exists()
    assert all(f.status == "staged" for name, f in by_name.items() if name != growing.name)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        staged = con.execute(
            "select count(*) from ingest_batch where file_sha256 = ?", [waiting.file_sha256]
        ).fetchall()
    assert staged == [(0,)]
