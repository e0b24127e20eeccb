"""Pages written by helper processes: each team once, and a helper's failure reported with its
error (the pages themselves: tests/test_dashboard_pages.py)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from dashboards.page_workers import TeamClaims, TeamPageWorkerError, helpers_writing

HELPER_START_SECONDS = 60


@dataclass
class PidWriter:
    """Writes each team's page as the id of the process that wrote it; in the calling process,
    only once a helper has written something (so that a helper surely takes part). In a helper
    it fails instead when `fail_in_helpers`, after leaving a mark that it was handed the team."""

    out_dir: Path
    calling_pid: int
    fail_in_helpers: bool = False

    def write(self, team: tuple[str, str]) -> Path:
        page = self.out_dir / team[1]
        if os.getpid() != self.calling_pid:
            if self.fail_in_helpers:
                page.with_suffix(".handed").touch()
                raise RuntimeError(f"the disk refused {team[1]}")
        else:
            deadline = time.monotonic() + HELPER_START_SECONDS
            while not any(path.read_text() != str(self.calling_pid) for path in self._marks()):
                assert time.monotonic() < deadline, "no helper took part"
                time.sleep(0.02)
        page.write_text(str(os.getpid()))
        return page

    def _marks(self) -> list[Path]:
        return [*self.out_dir.glob("*.html"), *self.out_dir.glob("*.handed")]


def test_every_team_is_written_once_here_or_by_a_helper(tmp_path):
    teams = [(f"T{number}", f"T{number}.html") for number in range(12)]
    writer = PidWriter(tmp_path, os.getpid())

    with helpers_writing(writer, teams, helpers=1) as claims:
        while (team := claims.claim()) is not None:
            writer.write(team)

    writers = {path.name: int(path.read_text()) for path in tmp_path.glob("*.html")}
    assert sorted(writers) == sorted(page for _, page in teams)
    assert os.getpid() in writers.values()
    assert set(writers.values()) - {os.getpid()}, "the helper wrote no page"


def test_a_failing_helper_is_reported_with_its_error_and_page(tmp_path):
    teams = [(f"T{number}", f"T{number}.html") for number in range(4)]
    writer = PidWriter(tmp_path, os.getpid(), fail_in_helpers=True)

    with (
        pytest.raises(TeamPageWorkerError, match=r"stopped \(exit code 1") as failure,
        helpers_writing(writer, teams, helpers=1) as claims,
    ):
        while (team := claims.claim()) is not None:
            writer.write(team)

    [handed] = tmp_path.glob("*.handed")
    assert handed.with_suffix(".html").name in str(failure.value)
    assert f"RuntimeError: the disk refused {handed.with_suffix('.html').name}" in str(
        failure.value
    )
    # The calling process still wrote every page the helper was not handed.
    written = {path.name for path in tmp_path.glob("*.html")}
    assert written == {page for _, page in teams} - {handed.with_suffix(".html").name}


def test_claims_hand_out_each_team_once_and_nothing_once_closed():
    claims = TeamClaims([("A", "a.html"), ("B", "b.html"), ("C", "c.html")])

    assert claims.claim() == ("A", "a.html")
    assert claims.claim(claimant=0) == ("B", "b.html")
    assert claims.close() == {0}
    assert claims.claim(claimant=1) is None
    assert claims.claim() is None
