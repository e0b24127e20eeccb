"""The nightly schedule on a real Prefect server: `resilience schedule` registers the deployment
with the configured cron and time zone, a run triggered through the server completes and
publishes, stopping the schedule pauses it; `prefect.yaml` deploys to a process work pool."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.responses import DeploymentResponse
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL, temporary_settings

from resilience.settings import DEFAULT_CONFIG, PROJECT_ROOT, load_settings
from tests.conftest import environment_without_prefect, make_project, wait_until

pytestmark = [pytest.mark.server, pytest.mark.timeout(600)]

SITE_SCHEDULE = (
    '[schedule]\ndeployment = "north"\ncron = "15 3 * * *"\ntimezone = "America/Chicago"\n'
)


def stop(process: subprocess.Popen, grace_seconds: float = 60) -> None:
    """SIGTERM the process, then SIGKILL whatever is left of its process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_seconds)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def read_deployment(api_url: str, name: str) -> DeploymentResponse | None:
    async def read() -> DeploymentResponse | None:
        async with get_client() as client:
            try:
                return await client.read_deployment_by_name(name)
            except ObjectNotFound:
                return None

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        return asyncio.run(read())


def test_schedule_serves_the_nightly_deployment_and_its_runs_complete(
    prefect_server: str, tmp_path: Path
) -> None:
    config = make_project(tmp_path)
    config.write_text(config.read_text(encoding="utf-8") + SITE_SCHEDULE, encoding="utf-8")
    settings = load_settings(config)
    log = (tmp_path / "schedule.log").open("w")
    serving = subprocess.Popen(
        [sys.executable, "-m", "resilience", "schedule", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**environment_without_prefect(), "PREFECT_API_URL": prefect_server},
    )
    try:

        def registered() -> DeploymentResponse | None:
            assert serving.poll() is None, (tmp_path / "schedule.log").read_text()
            return read_deployment(prefect_server, "nightly/north")

        deployment = wait_until(registered, timeout=180, what="the deployment")
        [schedule] = deployment.schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone) == (
            "15 3 * * *",
            "America/Chicago",
        )
        assert schedule.active and not deployment.paused
        assert deployment.parameters == {"config": str(config)}
        assert deployment.entrypoint == "flows.nightly.nightly"

        with temporary_settings(updates={PREFECT_API_URL: prefect_server}):
            flow_run = run_deployment("nightly/north", timeout=420, poll_interval=2)

            async def summaries() -> list:
                async with get_client() as client:
                    return await client.read_artifacts(
                        artifact_filter=ArtifactFilter(
                            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id])
                        )
                    )

            artifacts = asyncio.run(summaries())
        assert flow_run.state is not None and flow_run.state.is_completed(), flow_run.state
        [summary] = [a for a in artifacts if a.key == "nightly-run-summary"]
        assert "# Nightly run" in summary.data

        with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
            [(teams,)] = con.execute(
                "select count(distinct team_id) from team_indicators"
            ).fetchall()
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            runs = con.execute("select outcome, rows_loaded from runs").fetchall()
        assert teams == 40
        assert runs == [("succeeded", 3000)]
    finally:
        stop(serving)
        log.close()
    # `serve` pauses its deployment when it is stopped: no runs pile up while nothing serves.
    assert read_deployment(prefect_server, "nightly/north").paused


def test_prefect_yaml_deploys_the_default_site_to_a_process_work_pool(prefect_server: str) -> None:
    environment = {**environment_without_prefect(), "PREFECT_API_URL": prefect_server}
    for command in (
        ["work-pool", "create", "staff-resilience", "--type", "process"],
        ["--no-prompt", "deploy", "--all"],
    ):
        completed = subprocess.run(
            [sys.executable, "-m", "prefect", *command],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=180,
            env=environment,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
    schedule = load_settings(DEFAULT_CONFIG).schedule
    deployment = read_deployment(prefect_server, f"nightly/{schedule.deployment}")
    assert deployment is not None
    [registered] = deployment.schedules
    assert (registered.schedule.cron, registered.schedule.timezone) == (
        schedule.cron,
        schedule.timezone,
    )
    assert deployment.work_pool_name == "staff-resilience"
    assert deployment.parameters == {"config": "resilience.toml"}
    assert deployment.global_concurrency_limit.limit == 1
