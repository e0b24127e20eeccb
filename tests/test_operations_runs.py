"""Nights through the command line: one with nothing new, one whose exports folder appears late,
one that fails; what `resilience status` then tells."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from resilience.instruments import Registry
from resilience.settings import load_settings
from tests.conftest import cli_environment, run_recorded_stages
from tests.test_crash_safety import deliver, make_small_project, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def status(config: Path) -> tuple[int, dict]:
    completed = subprocess.run(
        [sys.executable, "-m", "resilience", "status", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=cli_environment(None),
    )
    return completed.returncode, json.loads(completed.stdout)


def team_indicators_checksum(analytics: Path) -> list[tuple]:
    with duckdb.connect(str(analytics), read_only=True) as con:
        return con.execute(
            "select count(*), sum(hash(team_indicators)) from team_indicators"
        ).fetchall()


def test_a_night_without_new_exports_keeps_the_published_release(
    tmp_path: Path, prefect_server: str, registry: Registry
) -> None:
    config, held_back = make_small_project(tmp_path)
    settings = load_settings(config)
    deliver(held_back, settings)
    run_recorded_stages(settings, registry)  # last night's run
    published_file = settings.analytics_path.resolve()
    before = (published_file.stat().st_mtime_ns, team_indicators_checksum(published_file))
    page = settings.dashboards_dir.resolve() / "index.html"
    page_before = page.stat().st_mtime_ns

    assert run_cli(config, tmp_path / "second.log", prefect_server) == 0

    assert "(kept: nothing changed since it was built)" in (tmp_path / "second.log").read_text()
    assert settings.analytics_path.resolve() == published_file
    assert (published_file.stat().st_mtime_ns, team_indicators_checksum(published_file)) == before
    assert page.stat().st_mtime_ns == page_before
    assert [p.name for p in settings.releases_dir.iterdir()] == [published_file.parent.name]

    code, report = status(config)
    assert code == 0
    second, first = report["runs"]
    assert (first["outcome"], first["message"]) == ("succeeded", None) and first["rows_loaded"] > 0
    assert (second["outcome"], second["rows_loaded"], second["message"]) == (
        "succeeded",
        0,
        "nothing changed: the published release was kept",
    )
    assert first["published_release"] == second["published_release"] == first["run_id"]
    assert report["published"]["release"] == first["run_id"]
    assert report["published"]["tables"]["team_indicators"] == before[1][0][0]
    assert {"index.html", "leadership.html"} <= set(report["published"]["pages"])


def test_a_scheduled_run_retries_ingest_until_the_exports_folder_appears(
    tmp_path: Path, prefect_server: str
) -> None:
    """The flow as a deployment runs it (no command line, whose missing folder is a usage
    error): an exports share mounted late is waited for."""
    config, _ = make_small_project(tmp_path)
    exports = load_settings(config).paths.exports
    later = exports.rename(exports.with_name("exports-not-mounted-yet"))
    run = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from flows.nightly import nightly; nightly(config={str(config)!r})",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=cli_environment(
            prefect_server,
            PREFECT_LOGGING_LEVEL="INFO",
            PREFECT_HOME=str(tmp_path / "state" / "prefect"),
        ),
    )
    retries = []
    for line in run.stdout:
        if "Retry " in line:
            retries.append(line)
            later.rename(exports)  # the share is mounted while the task waits to retry
    assert run.wait(timeout=60) == 0
    assert len(retries) == 1
    assert "exports folder not found" in retries[0] and "Retry 1/3" in retries[0]
    code, report = status(config)
    assert code == 0 and report["runs"][0]["rows_loaded"] > 0


def test_a_failed_night_is_reported_in_one_line_and_recorded(
    tmp_path: Path, prefect_server: str
) -> None:
    config, _ = make_small_project(tmp_path)
    settings = load_settings(config)
    for mapping in settings.paths.mappings.glob("*.toml"):
        mapping.write_text("columns = [not toml", encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, "-m", "resilience", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=600,
        env=cli_environment(prefect_server),
    )
    assert completed.returncode == 1
    last_line = completed.stderr.strip().splitlines()[-1]
    assert last_line.startswith("resilience run: failed: ")
    # Retrying cannot fix a broken mapping: no retry was made (Prefect would log this error).
    assert "Retries are exhausted" not in completed.stderr

    code, report = status(config)
    assert code == 1
    [failed] = report["runs"]
    assert failed["outcome"] == "failed"
    assert last_line == f"resilience run: failed: {failed['message']}"
    assert report["published"] is None
