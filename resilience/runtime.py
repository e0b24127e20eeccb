"""Process-wide environment for Prefect: set before Prefect is first imported."""

from __future__ import annotations

import os

from resilience.settings import Settings


def configure_prefect(settings: Settings) -> None:
    """Run Prefect offline and quietly, with its state in the project's private state folder.

    Values already in the environment win, so an operator can point the flow at a real server
    with PREFECT_API_URL or turn logging up with PREFECT_LOGGING_LEVEL.
    """
    defaults = {
        "PREFECT_HOME": str(settings.prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "60",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "GX_ANALYTICS_ENABLED": "False",
    }
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
