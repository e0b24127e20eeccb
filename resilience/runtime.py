"""Process-wide environment: Prefect's, set before Prefect is first imported; the temporary
Prefect server a run starts for itself; and the crash points that the crash-safety tests use."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


class PrefectServerUnavailable(RuntimeError):
    """The run's temporary Prefect server did not answer in time."""


class TemporaryPrefectServer:
    """A Prefect API server on a free loopback port, started for one run and stopped with it.

    Prefect's own ephemeral mode imports its server application in the calling process (about
    7 s here) before it starts the server's process (about 8 s more), one after the other. This
    starts the server's process first, through Prefect's command line, so that it boots on
    another core while the run imports the pipeline: about 8 s before the first stage instead
    of 20. It is the same server, with the same database in PREFECT_HOME.
    """

    def __init__(self, log_path: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log_path = log_path
        with log_path.open("wb") as log:
            # In the run's own process group, so that whatever stops the group stops it too.
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "prefect", "server", "start"),
                    *("--host", "127.0.0.1", "--port", str(self.port)),
                    *("--no-services", "--no-ui", "--log-level", "ERROR"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def wait_until_ready(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PrefectServerUnavailable(
                    f"Prefect's temporary server exited with code {self.process.returncode}: "
                    f"{self._last_log_line()} (log: {self.log_path})"
                )
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise PrefectServerUnavailable(
            f"Prefect's temporary server did not answer within {timeout_seconds:.0f} s "
            f"(log: {self.log_path})"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _last_log_line(self) -> str:
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else "no output"


@contextmanager
def prefect_api(settings: Settings) -> Iterator[TemporaryPrefectServer | None]:
    """While the caller imports the flow: the server named by PREFECT_API_URL (a long-lived one;
    yields None), or a temporary server started now and stopped on leaving, whatever the reason.
    Call `ready` on what it yields before the flow runs."""
    if os.environ.get("PREFECT_API_URL"):
        yield None
        return
    server = TemporaryPrefectServer(settings.prefect_home / "temporary-server.log")
    try:
        yield server
    finally:
        server.stop()


def startup_timeout_seconds() -> float:
    return float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "60"))


def crash_point(name: str) -> None:
    """Die here when RESILIENCE_CRASH_AT names this point; do nothing otherwise."""
    if os.environ.get(CRASH_POINT_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
