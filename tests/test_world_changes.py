"""What a run publishes when the world around the warehouse changes: a roster wave with no
responses yet, and an export removed after it was loaded."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from resilience import cli
from resilience.instruments import Registry
from resilience.status import read_status
from tests.conftest import run_stages
from tests.worlds import make_small_world

NEXT_WAVE = "2099-01"


def test_a_roster_wave_without_responses_shows_0_percent_and_a_removed_export_is_in_status(
    tmp_path: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_small_world(tmp_path)
    with settings.paths.roster.open(newline="", encoding="utf-8") as handle:
        roster = list(csv.DictReader(handle))
    last_wave = max(row["wave"] for row in roster)
    next_wave = [{**row, "wave": NEXT_WAVE} for row in roster if row["wave"] == last_wave]
    with settings.paths.roster.open("a", newline="", encoding="utf-8") as handle:
        csv.DictWriter(handle, list(roster[0]), lineterminator="\n").writerows(next_wave)

    run_stages(settings, registry)

    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        rates = con.execute(
            "select group_type, group_id, invited, respondents, response_rate, suppressed "
            "from response_rates where wave = ? order by group_type, group_id",
            [NEXT_WAVE],
        ).fetchall()
        latest_scored = con.execute("select max(wave) from team_indicators").fetchall()
    invited = sum(int(row["headcount"]) for row in next_wave)
    assert ("organization", "all", invited, 0, 0.0, False) in rates
    teams = {row[1]: row for row in rates if row[0] == "team"}
    assert set(teams) == {row["team_id"] for row in next_wave}
    for row in next_wave:
        shown = int(row["headcount"]) >= settings.privacy.min_group_size
        expected = (0, 0.0, False) if shown else (None, None, True)
        assert teams[row["team_id"]][3:] == expected, row
    assert latest_scored == [(last_wave,)]  # the dashboards still report on the last scored wave

    removed = sorted(settings.paths.exports.iterdir())[0]
    removed.unlink()
    assert read_status(settings).removed_exports == [removed.name]
    cli.main(["status", "--config", str(settings.paths.exports.parent.parent / "resilience.toml")])
    assert "no longer in the exports folder (their responses stay loaded" in " ".join(
        capsys.readouterr().out.split()
    )
