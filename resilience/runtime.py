"""Process-wide environment: Prefect's, set before Prefect is first imported; the temporary
Prefect server a run starts for itself; stopping a run on SIGTERM and SIGINT; and the crash points
that the crash-safety tests use."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at the moment of asking."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
        self.port = free_loopback_port()
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
        """Stop the server and whatever it started."""
        stop_processes([self.process.pid, *descendants(self.process.pid)])
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


# A run stopped by a signal exits 128 + the signal's number, as a shell reports a process the
# signal killed: 130 for SIGINT (Ctrl-C), 143 for SIGTERM.
STOPPING_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How long a helper process gets to end on SIGTERM before it is killed.
HELPER_GRACE_SECONDS = 2.0
# How long a signal waits for a publish that already began (one rename and the links).
PUBLISH_WAIT_SECONDS = 2.0

_stopping = threading.Event()
_publishing = threading.Lock()


class RunStopped(RuntimeError):
    """A signal arrived before the run published: it publishes nothing."""


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`, children first (Linux: read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        state, parent = stat.rsplit(")", 1)[1].split()[:2]
        if state != "Z":
            children.setdefault(int(parent), []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        below = children.get(queue.pop(0), [])
        found += below
        queue += below
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path("/proc", str(pid), "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_processes(pids: list[int], grace_seconds: float = HELPER_GRACE_SECONDS) -> None:
    """SIGTERM each of `pids`, SIGKILL those still there after `grace_seconds`, and reap those
    that are this process's children."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):  # gone, or not ours
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError, ChildProcessError):  # gone, or not ours
                os.kill(pid, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ChildProcessError):  # gone, or not ours
            os.waitpid(pid, 0)


@contextmanager
def publishing() -> Iterator[None]:
    """Around the step that makes a release the one readers see: raises RunStopped when a signal
    came first, and holds back a signal that comes meanwhile until the step is done, so a run
    never publishes after a signal, nor half a release."""
    with _publishing:
        if _stopping.is_set():
            raise RunStopped("stopped by a signal before publishing")
        yield


@dataclass
class _SignalWatch:
    read_end: int
    write_end: int
    command: str

    def note(self, signum: int, _frame: object) -> None:
        """The Python-level handler: wakes the watcher (the C-level wakeup does it too, even
        while the main thread is inside DuckDB or Prefect)."""
        with contextlib.suppress(BlockingIOError):  # the watcher is woken already
            os.write(self.write_end, bytes([signum]))

    def watch(self) -> None:
        woken = os.read(self.read_end, 1)
        if not woken:
            return  # the run ended without a signal
        signum = woken[0]
        _stopping.set()
        # A publish already under way finishes (it takes a rename); none starts after this.
        held = _publishing.acquire(timeout=PUBLISH_WAIT_SECONDS)
        stop_processes(descendants(os.getpid()))
        name = signal.Signals(signum).name
        message = f"{self.command}: interrupted by {name}: stopped, nothing published after it\n"
        os.write(sys.stderr.fileno(), message.encode())
        if held:
            _publishing.release()
        # No Python clean-up runs: DuckDB's transactions end as after a kill, which the
        # warehouse survives (the next run marks this one interrupted).
        os._exit(128 + signum)


@contextmanager
def stop_on_signals(command: str) -> Iterator[None]:
    """Stop within seconds of SIGTERM or SIGINT, whatever the main thread is doing: a watcher
    thread stops every helper process (Prefect's temporary server, team page helpers), and the
    process exits 130 (SIGINT) or 143 (SIGTERM), never publishing after the signal.

    The main thread only sees the signal as a note; the watcher acts on it, woken by the
    interpreter's C-level wakeup file descriptor, which works while the main thread is inside
    DuckDB, Prefect or a subprocess wait, and whichever Python handler Prefect puts in place.
    """
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    watch = _SignalWatch(read_end, write_end, command)
    previous = {signum: signal.signal(signum, watch.note) for signum in STOPPING_SIGNALS}
    previous_wakeup = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    watcher = threading.Thread(target=watch.watch, name="signal-watcher", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        if _stopping.is_set():
            watcher.join()  # it ends the process
        signal.set_wakeup_fd(previous_wakeup)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.close(write_end)
        watcher.join()
        os.close(read_end)


def crash_point(name: str) -> None:
    """Die here when RESILIENCE_CRASH_AT names this point; do nothing otherwise."""
    if os.environ.get(CRASH_POINT_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
