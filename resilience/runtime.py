"""Process-wide environment: Prefect's, set before Prefect is first imported, and the crash points
that the crash-safety tests use."""

from __future__ import annotations

import os
import signal

from resilience.settings import Settings

# Names a step at which the process kills itself with SIGKILL, as a power cut or the OOM killer
# would: no exception handler, `finally` or DuckDB rollback runs. Only tests set it.
CRASH_POINT_VARIABLE = "RESILIENCE_CRASH_AT"
CRASH_POINTS = ("ingest", "load", "render", "publish")


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


def crash_point(name: str) -> None:
    """Die here when RESILIENCE_CRASH_AT names this point; do nothing otherwise."""
    if os.environ.get(CRASH_POINT_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
