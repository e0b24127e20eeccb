"""The salt bound to the warehouse: a run with a lost or other salt is refused before it reads or
records anything, and a rotation re-keys every stored response so that the published numbers stay
the same and a later cumulative export is still counted once, as a clean run counts it."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from resilience import cli, pipeline
from resilience.ingest import read_archive_record
from resilience.instruments import Registry
from resilience.salt import SaltMismatch, check_salt_before_run, salt_fingerprint
from resilience.salt_rotation import rotate_salt
from resilience.settings import UsageError
from resilience.status import read_published
from tests.conftest import run_stages
from tests.worlds import copy_inputs, cumulative_export, make_small_world, published_tables


def runs_recorded(settings) -> int:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute("select count(*) from runs").fetchall()[0][0]


def stored_keys(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {row[0] for row in con.execute("select response_key from raw_responses").fetchall()}


def test_a_lost_salt_refuses_the_run_in_one_line_and_publishes_nothing_new(
    tmp_path: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_small_world(tmp_path, salt=None)
    run_stages(settings, registry)
    salt = settings.salt_file.read_text()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        [(fingerprint,)] = con.execute("select fingerprint from salt_fingerprint").fetchall()
    assert fingerprint == salt_fingerprint(salt) and salt not in fingerprint
    published = read_published(settings).release
    tables = published_tables(settings)
    runs = runs_recorded(settings)
    settings.salt_file.unlink()  # a machine move, a cleaned state folder

    with pytest.raises(SaltMismatch) as refused, pipeline.recorded_run(settings, registry):
        pytest.fail("a run with a lost salt started")
    with pytest.raises(SaltMismatch):
        run_stages(settings, registry)
    with pytest.raises(SaltMismatch):  # what `resilience run` checks before starting Prefect
        check_salt_before_run(settings)
    config = str(settings.paths.exports.parent.parent / "resilience.toml")
    assert cli.main(["run", "--config", config]) == cli.EXIT_USAGE
    [refusal] = capsys.readouterr().err.splitlines()
    assert refusal.startswith("resilience run: the salt that keyed the warehouse's responses is")

    reason = str(refused.value)
    assert "\n" not in reason
    assert "salt" in reason and "missing" in reason and "restore" in reason
    assert str(settings.salt_file.name) in reason
    assert not settings.salt_file.exists()  # no new salt was made in its place
    assert runs_recorded(settings) == runs  # the refused run is not recorded
    assert read_published(settings).release == published
    assert published_tables(settings) == tables

    settings.salt_file.write_text("another salt")  # a wrong backup
    with pytest.raises(SaltMismatch, match=r"not the one that keyed .* rotate-salt"):
        run_stages(settings, registry)

    settings.salt_file.write_text(salt)  # restored
    with pipeline.recorded_run(settings, registry):
        pass
    assert runs_recorded(settings) == runs + 1


def test_a_rotated_salt_publishes_every_number_as_before_and_counts_a_cumulative_export_once(
    tmp_path: Path, registry: Registry
) -> None:
    settings = make_small_world(tmp_path / "site", salt=None)
    *earlier, last = sorted(settings.paths.exports.iterdir())
    held_back = shutil.move(last, tmp_path / last.name)
    run_stages(settings, registry)
    before = published_tables(settings)
    old_salt = settings.salt_file.read_text()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        old_keys = stored_keys(con)

    # A response in no export of the folder cannot be re-keyed: the rotation changes nothing.
    first = shutil.move(earlier[0], tmp_path / earlier[0].name)
    with pytest.raises(UsageError, match=r"in no export of .*put the original exports back"):
        rotate_salt(settings, registry, new_salt_file=None)
    assert settings.salt_file.read_text() == old_salt
    shutil.move(first, earlier[0])

    rotation = rotate_salt(settings, registry, new_salt_file=None)

    new_salt = settings.salt_file.read_text()
    assert new_salt != old_salt and rotation.responses == len(old_keys)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        new_keys = stored_keys(con)
        [(fingerprint,)] = con.execute("select fingerprint from salt_fingerprint").fetchall()
        archived = {
            row[0]
            for row in con.execute(
                f"select response_key from read_parquet('{settings.archive_dir}/*.parquet')"
            ).fetchall()
        }
        # Each archive's record names the new salt, so a rebuild from them takes the new salt.
        recorded = {
            read_archive_record(con, archive).salt_fingerprint
            for archive in settings.archive_dir.glob("*.parquet")
        }
    assert fingerprint == salt_fingerprint(new_salt)
    assert recorded == {fingerprint}
    assert len(new_keys) == len(old_keys) and not new_keys & old_keys
    assert new_keys <= archived and not archived & old_keys
    run_stages(settings, registry)
    assert published_tables(settings) == before

    # Tonight's export repeats every earlier response: counted once, as a clean run counts it.
    cumulative_export([*earlier, Path(held_back)], settings.paths.exports / "staff_survey_all.csv")
    run_stages(settings, registry)
    clean = copy_inputs(settings, tmp_path / "clean")
    run_stages(clean, registry)
    assert published_tables(settings) == published_tables(clean)
