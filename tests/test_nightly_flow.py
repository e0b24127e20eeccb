"""The nightly flow end to end through Prefect (ephemeral mode, no server), from the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.browsing import PageVisitor
from tests.conftest import make_project

pytestmark = pytest.mark.e2e


def environment_without_prefect_home() -> dict[str, str]:
    """The test process's environment, less PREFECT_HOME: the run takes it from its config."""
    return {name: value for name, value in os.environ.items() if name != "PREFECT_HOME"}


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    project = tmp_path_factory.mktemp("project")
    config = make_project(project)
    completed = subprocess.run(
        [sys.executable, "-m", "resilience", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**environment_without_prefect_home(), "COLUMNS": "200"},
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
    project, _ = cli_run
    code = (
        "import asyncio\n"
        "from prefect.client.orchestration import get_client\n"
        "async def main():\n"
        "    async with get_client() as client:\n"
        "        runs = await client.read_flow_runs()\n"
        "        print(sorted({r.state_name for r in runs}))\n"
        "asyncio.run(main())\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        env={
            **environment_without_prefect_home(),
            "PREFECT_HOME": str(project / "state" / "prefect"),
        },
    )
    assert completed.returncode == 0, completed.stderr
    assert "Completed" in completed.stdout


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
