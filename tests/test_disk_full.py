"""A full disk under the output folder (a small tmpfs, mounted by the test as root): the run fails
with the first cause, "No space left on device (path)", and is recorded as failed with it (by the
next run, from the run's journal, when the full volume cannot take the record); readers keep the
last release whole, and the next run after space is freed ends equal to a clean run on the same
inputs."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from resilience import pipeline
from resilience.instruments import Registry
from resilience.run_journal import journaled_failure
from resilience.settings import Settings, load_settings
from resilience.status import one_line, read_published
from tests.conftest import run_stages
from tests.worlds import folder_digest, make_small_world, published_tables

# Large enough for the small sample's warehouse, archive and two releases.
VOLUME_SIZE = "96m"
NEEDS_ROOT = "mounting a small tmpfs needs root"


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of VOLUME_SIZE at tmp_path/out, unmounted afterwards; skipped when it cannot be
    mounted (not root, or no mount in this sandbox)."""
    volume = tmp_path / "out"
    volume.mkdir()
    if os.geteuid() != 0:
        pytest.skip(NEEDS_ROOT)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={VOLUME_SIZE}", "tmpfs", str(volume)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield volume
    finally:
        subprocess.run(["umount", "-l", str(volume)], check=False)


@pytest.fixture(scope="module")
def clean_tables(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> dict:
    """What a clean run on the small sample, every wave delivered, publishes."""
    if os.geteuid() != 0:
        pytest.skip(NEEDS_ROOT)
    settings = make_small_world(tmp_path_factory.mktemp("clean"))
    run_stages(settings, registry)
    return published_tables(settings)


def recorded_stages(settings: Settings, registry: Registry) -> None:
    with pipeline.recorded_run(settings, registry) as report:
        run_stages(settings, registry, report)


def fill(volume: Path, leave_bytes: int) -> Path:
    """A file that takes all of `volume`'s free space but `leave_bytes`."""
    stats = os.statvfs(volume)
    filler = volume / "filler"
    with filler.open("wb") as handle:
        handle.truncate(0)
        remaining = max(0, stats.f_bavail * stats.f_frsize - leave_bytes)
        block = b"\0" * (1 << 20)
        while remaining > 0:
            written = handle.write(block[: min(len(block), remaining)])
            remaining -= written
    return filler


@pytest.mark.parametrize("leave_mb", [0, 3], ids=["full", "nearly-full"])
def test_a_full_disk_fails_with_its_first_cause_and_the_next_run_recovers(
    leave_mb: int,
    tmp_path: Path,
    small_volume: Path,
    registry: Registry,
    clean_tables: dict[str, list[tuple]],
) -> None:
    project = tmp_path / "site"
    make_small_world(project)
    config = project / "resilience.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace('out = "build"', f'out = "{small_volume}"'),
        encoding="utf-8",
    )
    settings = load_settings(config)
    last = sorted(settings.paths.exports.iterdir())[-1]
    held_back = shutil.move(last, tmp_path / last.name)
    recorded_stages(settings, registry)
    release = read_published(settings).release
    release_digest = folder_digest(settings.releases_dir / release)

    shutil.move(held_back, last)
    filler = fill(small_volume, leave_mb << 20)
    with pytest.raises(Exception) as failed:
        recorded_stages(settings, registry)
    reason = one_line(failed.value)
    assert reason.startswith(f"No space left on device ({small_volume}"), reason
    assert read_published(settings).release == release
    assert folder_digest(settings.releases_dir / release) == release_digest
    if leave_mb == 0:  # the warehouse could not take the record: the journal kept it
        journaled = journaled_failure(settings.paths.out / pipeline.RUN_JOURNAL)
        assert journaled is not None and journaled.message == reason

    filler.unlink()
    recorded_stages(settings, registry)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        runs = con.execute("select outcome, message from runs order by started_at").fetchall()
    assert [outcome for outcome, _ in runs] == ["succeeded", "failed", "succeeded"]
    assert runs[1][1] == reason
    assert published_tables(settings) == clean_tables
