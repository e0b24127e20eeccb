"""Team pages written by helper processes beside the calling one.

The caller writes pages from the start, and each helper joins in once it is ready. A fresh
Python needs about 2 s to import pandas and plotly, which is about 150 team pages. So a helper
that is still starting when the pages run out is stopped, not waited for. Helpers are plain
`python -m dashboards.page_workers` processes rather than multiprocessing's: a spawned
multiprocessing child imports the caller's main module first, and for the nightly run that is
the whole pipeline (8 s).

The two sides exchange pickles over the helper's stdin and stdout. First the caller sends the
page writer. Then the helper says it is ready, the caller sends one team (or None: stop), and
so on until no team is left.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

READY = "ready"
Team = tuple[str, str]


class PageWriter(Protocol):
    def write(self, team: Team) -> Path: ...


class TeamPageWorkerError(RuntimeError):
    """A helper process stopped while it was writing team pages."""


class TeamClaims:
    """Hands out every team once, to whichever process asks first, and remembers which helpers
    were handed any."""

    def __init__(self, teams: Iterable[Team]) -> None:
        self._teams = iter(teams)
        self._lock = threading.Lock()
        self._closed = False
        self._claimants: set[int] = set()

    def claim(self, claimant: int | None = None) -> Team | None:
        """The next team to write, or None when every team is handed out or the claims are
        closed. `claimant`: the helper asking (None: the calling process)."""
        with self._lock:
            team = None if self._closed else next(self._teams, None)
            if team is not None and claimant is not None:
                self._claimants.add(claimant)
            return team

    def close(self) -> set[int]:
        """Hand out nothing more; return the helpers that were handed a team."""
        with self._lock:
            self._closed = True
            return set(self._claimants)


@dataclass
class _Helper:
    number: int
    process: subprocess.Popen[bytes]
    stderr: IO[bytes]
    feeder: threading.Thread | None = None
    failure: str | None = None
    teams: list[Team] = field(default_factory=list)


@contextmanager
def helpers_writing(writer: PageWriter, teams: list[Team], helpers: int) -> Iterator[TeamClaims]:
    """Start `helpers` helper processes writing pages of `teams` with `writer` (which must
    pickle), and yield the claims: the caller claims and writes pages too, while and after it does
    other work. Every team is written once. On leaving, waits for the helpers that were handed a
    team and stops the others; raises TeamPageWorkerError, with the helper's error output, when
    one did not finish."""
    claims = TeamClaims(teams)
    payload = pickle.dumps(writer) if helpers else b""
    started = [_start(number, payload, claims) for number in range(helpers)]
    try:
        yield claims
    finally:
        claimants = claims.close()
        for helper in started:
            if helper.number not in claimants:
                helper.process.kill()
        for helper in started:
            if helper.feeder is not None:
                helper.feeder.join()
            helper.process.wait()
            for pipe in (helper.process.stdin, helper.process.stdout):
                if pipe is not None:
                    pipe.close()
    failed = [
        helper
        for helper in started
        if helper.number in claimants and (helper.failure or helper.process.returncode != 0)
    ]
    try:
        if failed:
            raise TeamPageWorkerError("; ".join(_describe_failure(helper) for helper in failed))
    finally:
        for helper in started:
            helper.stderr.close()


def _start(number: int, payload: bytes, claims: TeamClaims) -> _Helper:
    # Error output goes to a file (closed by helpers_writing once the helper is done): a pipe
    # nobody reads could fill up and stall the helper.
    stderr = tempfile.TemporaryFile()  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboards.page_workers"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    helper = _Helper(number, process, stderr)
    helper.feeder = threading.Thread(
        target=_feed, args=(helper, payload, claims), name=f"team-page-helper-{number}", daemon=True
    )
    helper.feeder.start()
    return helper


def _feed(helper: _Helper, payload: bytes, claims: TeamClaims) -> None:
    """Hand `helper` teams as it asks for them, until none is left."""
    to_helper, from_helper = helper.process.stdin, helper.process.stdout
    assert to_helper is not None and from_helper is not None
    try:
        to_helper.write(payload)
        to_helper.flush()
        while pickle.load(from_helper) == READY:
            team = claims.claim(helper.number)
            pickle.dump(team, to_helper)
            to_helper.flush()
            if team is None:
                return
            helper.teams.append(team)
        helper.failure = "it sent something other than 'ready'"
    except (EOFError, OSError, pickle.UnpicklingError) as error:
        helper.failure = f"{type(error).__name__}: {error}"


def _describe_failure(helper: _Helper) -> str:
    helper.stderr.seek(0)
    output = helper.stderr.read().decode(errors="replace").strip()
    pages = ", ".join(page for _, page in helper.teams[-3:])
    return (
        f"team page helper {helper.number} stopped (exit code {helper.process.returncode},"
        f" {helper.failure or 'no error from its pipe'}) while writing {pages or 'no page'}"
        + (f":\n{output[-2000:]}" if output else "")
    )


def main() -> int:
    """A helper: write the pages the caller hands out, one at a time."""
    # The pipe to the caller is stdout; anything else printed goes to the error output.
    to_caller = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    from_caller = sys.stdin.buffer
    writer = pickle.load(from_caller)
    while True:
        pickle.dump(READY, to_caller)
        to_caller.flush()
        team = pickle.load(from_caller)
        if team is None:
            return 0
        writer.write(team)


if __name__ == "__main__":
    sys.exit(main())
