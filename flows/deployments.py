"""When and where the `nightly` flow runs, kept apart from the flow itself.

`resilience schedule` serves one site's deployment from the machine it runs on. `prefect.yaml`
describes the same deployment for `prefect deploy` and a process worker (docs/operations.md).
"""

from __future__ import annotations

from pathlib import Path

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType

from flows.nightly import nightly
from resilience.settings import Settings

DEPLOYMENT_TAGS = ["staff-resilience"]


def nightly_deployment(settings: Settings, config: Path) -> RunnerDeployment:
    """The nightly flow of one site: the schedule from its settings, its configuration file as
    the runs' parameter (so every run reads the site's current configuration)."""
    return nightly.to_deployment(
        name=settings.schedule.deployment,
        schedules=[Cron(settings.schedule.cron, timezone=settings.schedule.timezone)],
        parameters={"config": str(config.resolve())},
        tags=DEPLOYMENT_TAGS,
        # Loaded by module path, so the runs do not depend on the serving process's folder.
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def serve_nightly(settings: Settings, config: Path) -> None:
    """Register the deployment and run its scheduled runs from this process, one at a time,
    until the process is stopped; stopping pauses the schedule."""
    serve(nightly_deployment(settings, config), limit=1, print_starting_message=False)
