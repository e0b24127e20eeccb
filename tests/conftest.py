"""Shared fixtures. Prefect's environment is set here, before any test imports Prefect.

The suite runs on parallel workers (pytest-xdist, one per core, a test module per worker at a
time). What is costly and only read is made once per session for every worker, in a folder the
first process makes (`SESSION_FOLDER`), under a lock: a real Prefect server, and a published run
of the committed sample.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import Browser, sync_playwright

from resilience import pipeline
from resilience.instruments import Registry, load_registry
from resilience.runtime import configure_prefect
from resilience.runtime import free_loopback_port as free_port
from resilience.settings import PROJECT_ROOT, Settings, load_settings
from resilience.sqlfiles import create_macros, quote_identifier, read_sql, set_variables
from resilience.warehouse import ensure_schema, load_seeds
from tests.browsing import CHROMIUM, CHROMIUM_ARGS

configure_prefect(load_settings())

SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"
SHARED_DIR = PROJECT_ROOT.parent / "shared"
REAL_EXPORTS = SHARED_DIR / "fixtures" / "real-exports"
# Named in the environment by the first pytest process, which the workers inherit.
SESSION_FOLDER = "RESILIENCE_TEST_SESSION_FOLDER"
PREFECT_SERVER_START = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
NO_BROWSER = f"browser tests need Debian's Chromium at {CHROMIUM} (make test installs it)"


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the first process: the only one, or xdist's
        os.environ[SESSION_FOLDER] = tempfile.mkdtemp(prefix="resilience-tests-")


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and SESSION_FOLDER in os.environ:
        folder = Path(os.environ.pop(SESSION_FOLDER))
        stop_shared_prefect_server(folder)
        shutil.rmtree(folder, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """One rule for every test that needs Chromium: without it, each is skipped with the same
    reason. Whole-run modules go first, so that the workers share out the long ones early."""
    if not CHROMIUM.exists():
        for item in items:
            if item.get_closest_marker("browser"):
                item.add_marker(pytest.mark.skip(reason=NO_BROWSER))
    slow_modules = {item.module.__name__ for item in items if item.get_closest_marker("e2e")}
    items.sort(key=lambda item: item.module.__name__ not in slow_modules)


def session_folder() -> Path:
    return Path(os.environ[SESSION_FOLDER])


@contextlib.contextmanager
def session_lock(name: str) -> Iterator[Path]:
    """Hold the session-wide lock `name` (across workers); yields the session folder."""
    folder = session_folder()
    with (folder / f"{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield folder


def environment_without_prefect() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")}


def wait_until(condition, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (result := condition()) is not None:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def start_prefect_server(home: Path) -> tuple[int, str]:
    """`prefect server start` on a free local port with a fresh PREFECT_HOME, in a session of
    its own (a test that stops a run's process group leaves it running); its pid and API URL."""
    home.mkdir(parents=True)
    port = free_port()
    with (home / "server.log").open("w") as log:
        server = subprocess.Popen(
            [*PREFECT_SERVER_START, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={
                **environment_without_prefect(),
                "PREFECT_HOME": str(home),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "DO_NOT_TRACK": "1",
                "PREFECT_UI_ENABLED": "false",
            },
        )

    def healthy() -> bool | None:
        assert server.poll() is None, (home / "server.log").read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2):
                return True
        except OSError:
            return None

    wait_until(healthy, timeout=120, what="the Prefect server", interval=0.2)
    return server.pid, f"http://127.0.0.1:{port}/api"


def stop_shared_prefect_server(folder: Path) -> None:
    pid_file = folder / "prefect-server.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pid_file.read_text()), signal.SIGTERM)


@pytest.fixture(scope="session")
def prefect_server() -> str:
    """The API URL of one real Prefect server for the whole session, every worker included:
    command-line runs report to it rather than each starting a temporary one."""
    with session_lock("prefect-server") as folder:
        url_file = folder / "prefect-server.url"
        if not url_file.exists():
            pid, url = start_prefect_server(folder / "prefect-server")
            (folder / "prefect-server.pid").write_text(str(pid))
            url_file.write_text(url)
        return url_file.read_text()


def cli_environment(prefect_api_url: str | None, **extra: str) -> dict[str, str]:
    """The environment of a `resilience` command run by a test: Prefect's variables left to the
    command (PREFECT_HOME from its configuration), reporting to `prefect_api_url` when given."""
    api = {"PREFECT_API_URL": prefect_api_url} if prefect_api_url else {}
    return {**environment_without_prefect(), "COLUMNS": "200", **api, **extra}


def run_stages(
    settings: Settings, registry: Registry, report: pipeline.RunReport | None = None
) -> pipeline.RunReport:
    """Every stage of a run, as plain functions (no Prefect), for `report` (that of
    `pipeline.recorded_run`, to keep the run's record) or a new one."""
    report = report or pipeline.new_run()
    for stage in (pipeline.ingest_exports, pipeline.validate):
        report = stage(settings, report, registry)
    report = pipeline.load(settings, report)
    pipeline.transform(settings, registry)
    report = pipeline.render(settings, report)
    return pipeline.publish(settings, report)


def run_recorded_stages(settings: Settings, registry: Registry) -> pipeline.RunReport:
    """Every stage of a run as the nightly flow runs them, recorded in `runs`, without Prefect."""
    with pipeline.recorded_run(settings, registry) as report:
        return run_stages(settings, registry, report)


@dataclass(frozen=True)
class SampleRun:
    settings: Settings
    report: pipeline.RunReport


@pytest.fixture(scope="session")
def sample_run(registry: Registry) -> SampleRun:
    """The committed sample through every stage once per session, for tests that only read
    what it wrote (a test that changes anything makes a run of its own)."""
    with session_lock("sample-run") as folder:
        project = folder / "sample-run"
        report_file = project / "report.pickle"
        if not report_file.exists():
            project.mkdir()
            report = run_stages(load_settings(make_project(project)), registry)
            report_file.write_bytes(pickle.dumps(report))
        return SampleRun(
            load_settings(project / "resilience.toml"), pickle.loads(report_file.read_bytes())
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (no browser download).

    One per test module: Playwright's sync API keeps an event loop running in the main thread
    while it is open, which would turn Prefect's and asyncio's calls in later modules async."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry()


@pytest.fixture
def warehouse(registry: Registry) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory warehouse with the raw tables and the instrument seeds."""
    con = duckdb.connect()
    ensure_schema(con, registry)
    load_seeds(con, registry)
    set_variables(con, load_settings().quality_variables())
    yield con
    con.close()


def materialize(con: duckdb.DuckDBPyConnection, *models: str) -> None:
    """Build the named models whole from their real SQL files, in the order given."""
    set_variables(con, {"first_new_response_row": 0})
    create_macros(con)
    for model in models:
        layer = model.split("_")[0]
        folder = {"stg": "staging", "int": "intermediate"}.get(layer, "marts")
        select = read_sql(f"{folder}/{model}.sql")
        con.execute(f"create or replace table {quote_identifier(model)} as {select}")


def use_min_group_size(con: duckdb.DuckDBPyConnection, size: int = 5) -> None:
    set_variables(con, {"min_group_size": size})


def make_project(directory: Path) -> Path:
    """Copy the sample inputs into `directory` and write a config pointing at them (the action
    log included, as in the project's own configuration)."""
    inputs = directory / "inputs"
    shutil.copytree(SAMPLE_DIR, inputs)
    config = directory / "resilience.toml"
    config.write_text(
        "[paths]\n"
        'exports = "inputs/exports"\n'
        'roster = "inputs/roster.csv"\n'
        'mappings = "inputs/mappings"\n'
        'out = "build"\n'
        'state = "state"\n'
        'actions = "inputs/actions.csv"\n'
        "[privacy]\n"
        "min_group_size = 5\n"
        'salt = "test-salt-not-secret"\n',
        encoding="utf-8",
    )
    return config


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The sample inputs in a scratch folder, with a config pointing at them."""
    return make_project(tmp_path)


@pytest.fixture
def project_settings(project_copy: Path) -> Settings:
    return load_settings(project_copy)
