"""The nightly flow end to end through Prefect from the CLI, with no server to start first: the
run starts a temporary one of its own. The sample carries the planted problems of the quality
tests (bad rows, a held-back file), so that the run's Prefect summary has something to say."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.browsing import PageVisitor
from tests.conftest import cli_environment
from tests.test_quality_pipeline import HELD_BACK, HELD_BACK_REASON, make_problem_project

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    project = tmp_path_factory.mktemp("project")
    config = make_problem_project(project)
    completed = subprocess.run(
        [sys.executable, "-m", "resilience", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        env=cli_environment(None),
    )
    return project, completed


def test_run_succeeds_and_prints_a_summary(cli_run) -> None:
    _, completed = cli_run
    assert completed.returncode == 0, completed.stderr
    for line in (
        "responses read",
        "responses loaded (new)",
        "responses quarantined",
        "teams reported",
        "teams suppressed",
        "leadership.html",
    ):
        assert line in completed.stdout


def test_run_publishes_the_analytics_file_and_dashboards(cli_run) -> None:
    project, _ = cli_run
    build = project / "build"
    assert (build / "dashboards" / "index.html").is_file()
    assert (build / "dashboards" / "leadership.html").is_file()
    assert not (build / "analytics.duckdb.next").exists()
    with duckdb.connect(str(build / "analytics.duckdb"), read_only=True) as con:
        [(teams, rows)] = con.execute(
            "select count(distinct team_id), count(*) from team_indicators"
        ).fetchall()
    assert teams == 40 and rows > 0


def test_the_flow_run_is_recorded_by_prefect(cli_run) -> None:
    """In the database of the run's temporary Prefect server, in the run's PREFECT_HOME. The
    server stopped with the run; its SQLite file is read directly rather than through a server
    started again for one query."""
    project, _ = cli_run
    with contextlib.closing(sqlite3.connect(project / "state" / "prefect" / "prefect.db")) as db:
        runs = db.execute(
            "select flow.name, flow_run.state_name from flow_run join flow on flow.id = flow_id"
        ).fetchall()
    assert runs == [("nightly", "Completed")]


def test_the_prefect_run_summary_carries_the_validation_of_each_file(cli_run) -> None:
    project, _ = cli_run
    with duckdb.connect(str(project / "build" / "warehouse.duckdb"), read_only=True) as con:
        [(run_id,)] = con.execute("select run_id from runs").fetchall()
    with contextlib.closing(sqlite3.connect(project / "state" / "prefect" / "prefect.db")) as db:
        [(summary,)] = db.execute(
            "select data from artifact where key = 'nightly-run-summary'"
        ).fetchall()
    assert run_id in summary
    assert "## Validation" in summary
    assert f"| {HELD_BACK} | held_back | 10 | 0 | 0 | 0 | 10 | 0 | 0 | {HELD_BACK_REASON} |" in (
        summary
    )
    assert "| staff_survey_2025-05.csv | loaded | 1006 | 3 | 0 | 3 | 5 | 995 |" in summary
    assert "Every row read is accounted for" in summary


@pytest.mark.browser
def test_published_leadership_page_draws_offline_without_errors(cli_run, browser) -> None:
    project, _ = cli_run
    page_path = project / "build" / "dashboards" / "leadership.html"
    with PageVisitor(browser) as visitor:
        visit = visitor.visit(page_path)
        plots = visit.page.locator(".js-plotly-plot")
        assert plots.count() == page_path.read_text(encoding="utf-8").count("plotly-graph-div")
        assert plots.count() >= 4
        for index in range(plots.count()):
            assert plots.nth(index).locator(".main-svg").count() > 0
    assert [url for url in visit.requests if not url.startswith("file://")] == []
    assert visit.console_errors == [] and visit.page_errors == []
