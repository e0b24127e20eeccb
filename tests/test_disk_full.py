"""A full disk under the output folder (a small tmpfs, mounted by the test as root), at each stage
of the nightly job: the run fails with the first cause, "No space left on device (path)", and is
recorded as failed with it (by the next run, from the run's journal, when the full volume cannot
take the record); readers keep the last release whole, and the next run after space is freed
ends equal to a clean run on the same inputs.

The volume fills up for real: a file takes its free space just before the stage runs, then the
real stage runs on it. One project, whose earlier night is run once and kept aside, serves every
case: each starts from a copy of that night on the emptied volume."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from resilience import pipeline
from resilience.instruments import Registry
from resilience.run_journal import journaled_failure
from resilience.settings import Settings, load_settings
from resilience.status import one_line, read_published
from tests.conftest import run_recorded_stages, run_stages
from tests.worlds import LONG_AGO, folder_digest, make_small_world, published_tables

# Large enough for the small sample's warehouse, archive and two releases.
VOLUME_SIZE = "96m"
NEEDS_ROOT = "mounting a small tmpfs needs root"
# The stages of a night, as `run_stages` calls them (attributes of resilience.pipeline).
STAGES = ("ingest_exports", "validate", "load", "transform", "render", "publish")


@dataclass(frozen=True)
class EarlierNight:
    """A project whose output folder is the small volume, and a copy of that folder after a
    night that published every wave but the last (which is back in the exports folder)."""

    settings: Settings
    volume: Path
    saved: Path
    release: str


@pytest.fixture(scope="module")
def small_volume(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A tmpfs of VOLUME_SIZE, unmounted afterwards; skipped when it cannot be mounted (not
    root, or no mount in this sandbox)."""
    if os.geteuid() != 0:
        pytest.skip(NEEDS_ROOT)
    volume = tmp_path_factory.mktemp("volume")
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


def small_world_with_a_bad_answer(directory: Path) -> Settings:
    """The small world, with an answer out of its scale in the last wave's export: validate has a
    failing row to record (a night with none writes nothing there)."""
    settings = make_small_world(directory)
    last = sorted(settings.paths.exports.iterdir())[-1]
    with last.open(encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle))
    columns = records[0]
    genuine = next(row for row in records[3:] if row[columns.index("Status")] == "0")
    genuine[columns.index("Q1_1")] = "9"
    with last.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(records)
    os.utime(last, (LONG_AGO, LONG_AGO))
    return settings


@pytest.fixture(scope="module")
def clean_tables(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> dict:
    """What a clean run on the small sample, every wave delivered, publishes."""
    if os.geteuid() != 0:
        pytest.skip(NEEDS_ROOT)
    settings = small_world_with_a_bad_answer(tmp_path_factory.mktemp("clean"))
    assert run_stages(settings, registry).total("rows_quarantined") == 1
    return published_tables(settings)


@pytest.fixture(scope="module")
def earlier_night(
    tmp_path_factory: pytest.TempPathFactory, small_volume: Path, registry: Registry
) -> EarlierNight:
    project = tmp_path_factory.mktemp("site")
    small_world_with_a_bad_answer(project)
    config = project / "resilience.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace('out = "build"', f'out = "{small_volume}"'),
        encoding="utf-8",
    )
    settings = load_settings(config)
    last = sorted(settings.paths.exports.iterdir())[-1]
    held_back = shutil.move(last, project / last.name)
    run_recorded_stages(settings, registry)
    shutil.move(held_back, last)
    saved = project / "earlier-night"
    shutil.copytree(small_volume, saved, symlinks=True)
    return EarlierNight(settings, small_volume, saved, read_published(settings).release)


@pytest.fixture
def night_before(earlier_night: EarlierNight) -> EarlierNight:
    """The volume as the earlier night left it."""
    for path in earlier_night.volume.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    shutil.copytree(earlier_night.saved, earlier_night.volume, symlinks=True, dirs_exist_ok=True)
    return earlier_night


def reader_links(settings: Settings) -> dict[str, str | None]:
    """Where the links readers go through point: `current`, `previous` and those through them."""
    links = (
        settings.current_release,
        settings.paths.out / "previous",
        settings.analytics_path,
        settings.dashboards_dir,
        settings.tables_dir,
    )
    return {link.name: os.readlink(link) if link.is_symlink() else None for link in links}


def fill(volume: Path, leave_bytes: int) -> Path:
    """A file that takes all of `volume`'s free space but `leave_bytes`."""
    stats = os.statvfs(volume)
    filler = volume / "filler"
    with filler.open("wb") as handle:
        remaining = max(0, stats.f_bavail * stats.f_frsize - leave_bytes)
        block = b"\0" * (1 << 20)
        while remaining > 0:
            written = handle.write(block[: min(len(block), remaining)])
            remaining -= written
    return filler


def filling_before(stage: Callable, volume: Path, leave_bytes: int) -> Callable:
    """`stage`, run after the volume is filled up to `leave_bytes` of free space."""

    def filled_then_run(*args, **kwargs):
        fill(volume, leave_bytes)
        return stage(*args, **kwargs)

    return filled_then_run


@pytest.mark.parametrize(
    ("stage", "leave_mb"),
    [*((stage, 0) for stage in STAGES), ("ingest_exports", 3)],
    ids=[*STAGES, "nearly-full"],
)
def test_a_full_disk_at_any_stage_fails_with_its_first_cause_and_the_next_run_recovers(
    stage: str,
    leave_mb: int,
    night_before: EarlierNight,
    registry: Registry,
    clean_tables: dict[str, list[tuple]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, volume, release = night_before.settings, night_before.volume, night_before.release
    release_digest = folder_digest(settings.releases_dir / release)
    links = reader_links(settings)

    real_stage = getattr(pipeline, stage)
    monkeypatch.setattr(pipeline, stage, filling_before(real_stage, volume, leave_mb << 20))
    with pytest.raises(Exception) as failed:
        run_recorded_stages(settings, registry)
    reason = one_line(failed.value)
    assert reason.startswith(f"No space left on device ({volume}"), reason
    assert read_published(settings).release == release
    assert reader_links(settings) == links
    assert folder_digest(settings.releases_dir / release) == release_digest
    journaled = journaled_failure(settings.paths.out / pipeline.RUN_JOURNAL)
    if leave_mb == 0:
        # The stage itself failed (not a later one), and the warehouse could not take the
        # record: the journal kept it.
        assert any(entry.frame.code.raw is real_stage.__code__ for entry in failed.traceback)
        assert journaled is not None and journaled.message == reason
    else:
        assert journaled is None or journaled.message == reason

    monkeypatch.undo()
    (volume / "filler").unlink()
    run_recorded_stages(settings, registry)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        runs = con.execute("select outcome, message from runs order by started_at").fetchall()
    assert runs == [("succeeded", None), ("failed", reason), ("succeeded", None)]
    assert published_tables(settings) == clean_tables
