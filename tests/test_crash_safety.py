"""Runs killed with SIGKILL at each crash point, through the command line as cron would run them:
readers keep the last published release, whole, and the next run ends where an uninterrupted
run would have. Runs stopped by SIGTERM or SIGINT at random moments exit 143 or 130 within 5
seconds, leave no process behind, and never publish after the signal.

What was published before the killed runs is made in-process: only the runs that are killed or
signalled, the run that recovers after them and the uninterrupted run to compare with (whose
length sets the moments of the signals) need a command line of their own."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from resilience.instruments import Registry
from resilience.runtime import CRASH_POINT_VARIABLE, CRASH_POINTS
from resilience.sample import generate_sample
from resilience.settings import Settings, load_settings
from resilience.status import read_published
from tests.conftest import cli_environment, make_project, run_recorded_stages, wait_until
from tests.worlds import LONG_AGO, SMALL_SAMPLE, folder_digest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def make_small_project(directory: Path) -> tuple[Path, Path]:
    """A scratch project on a small generated sample whose last wave's export is held back
    (not yet delivered); the config and the held-back export."""
    config = make_project(directory)
    inputs = directory / "inputs"
    summary = generate_sample(inputs, **SMALL_SAMPLE)
    for path in (*summary.exports, summary.roster, summary.mapping):
        os.utime(path, (LONG_AGO, LONG_AGO))  # exports that finished copying long ago
    held_back = directory / summary.exports[-1].name
    summary.exports[-1].rename(held_back)
    return config, held_back


def deliver(held_back: Path, settings: Settings) -> None:
    shutil.copy2(held_back, settings.paths.exports / held_back.name)


def run_cli(config: Path, log: Path, prefect_api_url: str, **environment: str) -> int:
    """`resilience run` in its own process group, as a scheduler starts it, reporting to the
    session's Prefect server; its exit code."""
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "resilience", "run", "--config", str(config)],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=cli_environment(prefect_api_url, **environment),
        )
        try:
            return process.wait(timeout=600)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


@dataclass(frozen=True)
class Outcome:
    """What a run leaves that does not depend on run ids or times."""

    team_indicators: list[tuple]
    published_tables: dict[str, int]
    pages: list[str]
    files: list[tuple]
    responses: int
    quarantined: int


def published_rows(settings: Settings) -> list[tuple]:
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        return con.execute("select * from team_indicators order by all").fetchall()


def warehouse_rows(settings: Settings, query: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(query).fetchall()


def outcome(settings: Settings) -> Outcome:
    published = read_published(settings)
    return Outcome(
        team_indicators=published_rows(settings),
        published_tables=published.tables,
        pages=published.pages,
        files=warehouse_rows(settings, "select file_sha256, status from raw_files order by all"),
        responses=warehouse_rows(settings, "select count(*) from raw_responses")[0][0],
        quarantined=warehouse_rows(settings, "select count(*) from quarantine")[0][0],
    )


@dataclass(frozen=True)
class Baseline:
    project: Path
    held_back: Path
    prefect_api_url: str
    release: str
    team_indicators: list[tuple]
    index_page: bytes
    responses: int
    release_digest: str


@pytest.fixture(scope="module")
def baseline(
    tmp_path_factory: pytest.TempPathFactory, prefect_server: str, registry: Registry
) -> Baseline:
    """Two waves published by an uninterrupted run; the third wave's export not delivered yet."""
    project = tmp_path_factory.mktemp("crash") / "baseline"
    config, held_back = make_small_project(project)
    settings = load_settings(config)
    run_recorded_stages(settings, registry)
    published = read_published(settings)
    return Baseline(
        project=project,
        held_back=held_back,
        prefect_api_url=prefect_server,
        release=published.release,
        team_indicators=published_rows(settings),
        index_page=(settings.dashboards_dir / "index.html").read_bytes(),
        responses=warehouse_rows(settings, "select count(*) from raw_responses")[0][0],
        release_digest=folder_digest(settings.releases_dir / published.release),
    )


def copy_of(baseline: Baseline, directory: Path) -> tuple[Path, Settings]:
    shutil.copytree(baseline.project, directory, symlinks=True)
    config = directory / "resilience.toml"
    settings = load_settings(config)
    deliver(baseline.held_back, settings)
    return config, settings


@dataclass(frozen=True)
class Uninterrupted:
    outcome: Outcome
    seconds: float


@pytest.fixture(scope="module")
def uninterrupted_run(
    baseline: Baseline, tmp_path_factory: pytest.TempPathFactory
) -> Uninterrupted:
    """The third wave delivered and loaded by a run nobody kills, and how long it took."""
    directory = tmp_path_factory.mktemp("uninterrupted")
    config, settings = copy_of(baseline, directory / "project")
    started = time.monotonic()
    assert run_cli(config, directory / "run.log", baseline.prefect_api_url) == 0
    seconds = time.monotonic() - started
    result = outcome(settings)
    assert result.team_indicators != baseline.team_indicators  # the third wave is in
    return Uninterrupted(result, seconds)


@pytest.fixture(scope="module")
def uninterrupted(uninterrupted_run: Uninterrupted) -> Outcome:
    return uninterrupted_run.outcome


def test_runs_killed_at_every_crash_point_leave_the_published_release_and_the_next_run_recovers(
    baseline: Baseline, uninterrupted: Outcome, tmp_path: Path
) -> None:
    """One night after another, each run killed at the next crash point: every kill leaves the
    published release untouched, and the run after the last one ends where an uninterrupted run
    would have, whatever the killed runs left behind."""
    config, settings = copy_of(baseline, tmp_path / "project")
    killed_runs = []
    for point in CRASH_POINTS:
        log = tmp_path / f"killed-at-{point}.log"
        killed = run_cli(config, log, baseline.prefect_api_url, **{CRASH_POINT_VARIABLE: point})

        assert killed == -signal.SIGKILL, log.read_text()
        assert read_published(settings).release == baseline.release, point
        assert published_rows(settings) == baseline.team_indicators, point
        assert (settings.dashboards_dir / "index.html").read_bytes() == baseline.index_page, point
        [(killed_run,)] = warehouse_rows(
            settings, "select run_id from runs where outcome = 'running'"
        )
        killed_runs.append(killed_run)
        if point in ("ingest", "load"):
            # The load transaction never committed: not one of the third wave's rows is in.
            assert warehouse_rows(settings, "select count(*) from raw_responses") == [
                (baseline.responses,)
            ], point

    assert run_cli(config, tmp_path / "next.log", baseline.prefect_api_url) == 0

    assert outcome(settings) == uninterrupted
    runs = warehouse_rows(settings, "select run_id, outcome from runs order by started_at")
    assert [outcome for _, outcome in runs] == [
        "succeeded",
        *["interrupted"] * len(CRASH_POINTS),
        "succeeded",
    ]
    assert [run_id for run_id, _ in runs[1:-1]] == killed_runs
    # Only what readers see now and the release before it are kept.
    assert sorted(p.name for p in settings.releases_dir.iterdir()) == sorted(
        [baseline.release, runs[-1][0]]
    )


# Runs per signal: a few by default; the 20 each with RESILIENCE_SIGNAL_TRIALS=20.
SIGNAL_TRIALS = int(os.environ.get("RESILIENCE_SIGNAL_TRIALS", "1"))
STOP_WITHIN_SECONDS = 5.0


def handles(pid: int, signum: int) -> bool | None:
    """True once process `pid` has a handler for `signum` (the run's start), None before."""
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{pid}/status").read_text()
        caught = int(status.split("SigCgt:")[1].split()[0], 16)
        if caught >> (signum - 1) & 1:
            return True
    return None


def group_is_empty(pgid: int) -> bool | None:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return None


def signalled_run(
    config: Path, api_url: str | None, signum: signal.Signals, moment: float, log: Path
) -> int | None:
    """`resilience run` sent `signum` `moment` seconds after it started (installed its handler):
    its exit code, once it has stopped within STOP_WITHIN_SECONDS with every process of its group;
    None when it ended before the signal."""
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "resilience", "run", "--config", str(config)],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=cli_environment(api_url),
        )
        try:
            wait_until(lambda: handles(process.pid, signum), 60, "the run to start", 0.01)
            time.sleep(moment)
            if process.poll() is not None:
                return None
            process.send_signal(signum)
            signalled = time.monotonic()
            code = process.wait(timeout=STOP_WITHIN_SECONDS)
            wait_until(
                lambda: group_is_empty(process.pid),
                signalled + STOP_WITHIN_SECONDS - time.monotonic(),
                "every process of the run's group to end",
                0.05,
            )
            return code
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.parametrize("trial", range(SIGNAL_TRIALS))
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_run_within_seconds_and_nothing_is_published_after_it(
    signum: signal.Signals,
    trial: int,
    baseline: Baseline,
    uninterrupted_run: Uninterrupted,
    tmp_path: Path,
) -> None:
    moment = random.Random(f"{signum.name}-{trial}").uniform(0, 0.7 * uninterrupted_run.seconds)
    # Half the runs start Prefect's temporary server (the first SIGTERM run among them), half
    # report to the session's server.
    temporary_server = (trial + (signum == signal.SIGINT)) % 2 == 0
    api_url = None if temporary_server else baseline.prefect_api_url
    for attempt in range(3):
        config, settings = copy_of(baseline, tmp_path / f"attempt-{attempt}")
        log = tmp_path / f"attempt-{attempt}.log"
        code = signalled_run(config, api_url, signum, moment, log)
        if code is not None:
            break
        moment /= 2  # this run was quicker than the measured one: signal it earlier
    else:
        pytest.fail("three runs ended before their signal")

    where = f"{signum.name} at {moment:.1f} s (temporary server: {temporary_server})"
    output = log.read_text()
    release = read_published(settings).release
    if code == -signum:
        # The signal came as the process exited, after the run had ended and handed the signal
        # back to its default action: the process died of it (a shell reports 128 + n as well).
        # Only a run that had published may end so.
        assert "published release" in output and release != baseline.release, where
    else:
        assert code == 128 + signum, f"{where}: exit {code}\n{output}"
        assert output.strip().splitlines()[-1] == (
            f"resilience run: interrupted by {signum.name}: stopped, nothing published after it"
        )
    if release == baseline.release:
        assert folder_digest(settings.releases_dir / release) == baseline.release_digest, where
    else:  # published before the signal: the new release is whole
        assert published_rows(settings) == uninterrupted_run.outcome.team_indicators, where
        assert (settings.dashboards_dir / "index.html").is_file()
