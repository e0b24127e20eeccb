"""Integrity of what a run keeps: a missing or changed archive fails the run before it reads an
export, and `resilience verify` lists it; a missing warehouse while releases exist stops the run
instead of starting a new, empty one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from resilience import cli
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
