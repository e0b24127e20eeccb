"""A lost warehouse is rebuilt from the archives (`resilience run --rebuild-from-archive`), not
from the exports left in the folder: after a corrected re-export and with every export gone from
the folder, the rebuilt warehouse holds the same responses and the next run publishes the same
tables. A rebuild needs the salt that keyed the archives and never replaces a warehouse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from pydantic import SecretStr

from resilience import cli
from resilience.instruments import Registry
from resilience.integrity import WarehouseMissing
from resilience.rebuild import RebuildRefused, rebuild_warehouse
from resilience.settings import Settings
from tests.conftest import cli_environment, run_stages
from tests.test_ingest_reexports import nightly_load
from tests.test_reexports import EXPORT_NAME, export_rows, write_export
from tests.worlds import make_small_world, published_tables


def stored_responses(settings: Settings) -> list[tuple]:
    """Every stored response with its answers, as loaded (not which run loaded it)."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(
            "select * exclude (run_id) from raw_responses order by response_key"
        ).fetchall()


def loaded_files(settings: Settings) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(
            "select file_sha256, file_name, source, status, rows_read, rows_loaded, rows_deleted, "
            "archive_sha256 from raw_files order by file_sha256"
        ).fetchall()


def test_a_lost_warehouse_is_rebuilt_from_the_archives_not_from_the_exports_left(
    tmp_path: Path, registry: Registry, prefect_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_small_world(tmp_path)
    waves = sorted(settings.paths.exports.iterdir())
    header, _ = export_rows(waves[0])
    first, second = (export_rows(path)[1] for path in waves[:2])
    for path in waves[:2]:
        path.unlink()
    waves[2].rename(tmp_path / waves[2].name)
    export = settings.paths.exports / EXPORT_NAME
    write_export(export, header, [*first, *second], age=0)
    nightly_load(settings, registry)
    # The next night: the same survey exported again with the responses of a team's first rows
    # deleted at the source, and the latest wave in a file of its own.
    response_id = header[0].index("ResponseId")
    removed = {row[response_id] for row in first[:25]}
    write_export(export, header, [r for r in first + second if r[response_id] not in removed], 60)
    (tmp_path / waves[2].name).rename(waves[2])
    second_night = run_stages(settings, registry)
    assert second_night.total("rows_deleted") > 0
    responses, files, tables = (
        stored_responses(settings),
        loaded_files(settings),
        published_tables(settings),
    )

    for path in settings.paths.exports.iterdir():
        path.unlink()
    settings.warehouse_path.rename(tmp_path / "lost.duckdb")
    with pytest.raises(WarehouseMissing, match="resilience run --rebuild-from-archive"):
        run_stages(settings, registry)
    config = str(tmp_path / "resilience.toml")
    assert cli.main(["run", "--config", config]) == cli.EXIT_FAILED  # before Prefect starts
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("resilience run: failed: the warehouse ") and "is missing" in line

    other_salt = settings.privacy.model_copy(update={"salt": SecretStr("another salt")})
    with pytest.raises(RebuildRefused, match="the salt that keyed the archives is not the one"):
        rebuild_warehouse(settings.model_copy(update={"privacy": other_salt}), registry)
    assert not settings.warehouse_path.exists()

    # The command line rebuilds, then runs the night through Prefect as any night.
    completed = subprocess.run(
        [sys.executable, "-m", "resilience", "run", "--config", config, "--rebuild-from-archive"],
        capture_output=True,
        text=True,
        timeout=600,
        env=cli_environment(prefect_server),
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith(
        f"rebuilt {settings.warehouse_path}: {len(responses)} responses from 3 archived "
        "export(s) of 2 run(s)\n"
    )
    assert stored_responses(settings) == responses
    assert loaded_files(settings) == files
    assert published_tables(settings) == tables

    with pytest.raises(RebuildRefused, match="exists: --rebuild-from-archive only builds"):
        rebuild_warehouse(settings, registry)
    assert cli.main(["run", "--config", config, "--rebuild-from-archive"]) == cli.EXIT_USAGE
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("resilience run: the warehouse ")
