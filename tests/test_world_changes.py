"""What a run publishes when the world around the warehouse changes: a roster wave with no
responses yet, an export removed after it was loaded, and a roster edited after responses were
loaded (refused with counts until a move says where the responses go, then equal to a clean
run)."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from resilience import cli
from resilience.instruments import Registry
from resilience.roster_checks import RosterIntegrityError
from resilience.status import read_published, read_status
from tests.conftest import run_stages
from tests.worlds import copy_inputs, make_small_world, published_tables

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


def test_a_roster_edit_that_strands_loaded_responses_fails_until_a_move_says_where_they_go(
    tmp_path: Path, registry: Registry
) -> None:
    settings = make_small_world(tmp_path / "site")
    run_stages(settings, registry)
    release, tables = read_published(settings).release, published_tables(settings)

    # After the responses are loaded, a team of the last wave is split in two on the roster.
    with settings.paths.roster.open(newline="", encoding="utf-8") as handle:
        roster = list(csv.DictReader(handle))
    last_wave = max(row["wave"] for row in roster)
    split = next(row for row in roster if row["wave"] == last_wave)
    team = split["team_id"]
    halves = [  # the staff who answered stay together in the first half
        # Each half has its own name: a team cell may name a team, so two teams never share one.
        {**split, "team_id": f"{team}A", "team_name": f"{split['team_name']} (day)"},
        {
            **split,
            "team_id": f"{team}B",
            "team_name": f"{split['team_name']} (night)",
            "headcount": "6",
        },
    ]
    edited = [row for row in roster if row is not split] + halves
    with settings.paths.roster.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(roster[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(edited)

    with pytest.raises(RosterIntegrityError) as stranded:
        run_stages(settings, registry)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        [(responses,)] = con.execute(
            "select count(*) from stg_survey__responses where team_id = ? and wave = ?",
            [team, last_wave],
        ).fetchall()
    reason = str(stranded.value)
    assert reason.startswith(f"{responses} loaded responses belong to teams that are not on")
    assert f"{team} in {last_wave} ({responses})" in reason
    assert "moves.csv (columns wave, from_team, to_team)" in reason
    assert read_published(settings).release == release
    assert published_tables(settings) == tables

    settings.paths.roster.with_name("moves.csv").write_text(
        f"wave,from_team,to_team\n{last_wave},{team},{team}A\n", encoding="utf-8"
    )
    run_stages(settings, registry)
    clean = copy_inputs(settings, tmp_path / "clean")
    run_stages(clean, registry)
    assert published_tables(settings) == published_tables(clean)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        moved = con.execute(  # before suppression: where the responses are counted now
            "select group_id, respondents from int_groups "
            "where group_type = 'team' and wave = ? and starts_with(group_id, ?)",
            [last_wave, team],
        ).fetchall()
    assert sorted(moved) == [(f"{team}A", responses), (f"{team}B", 0)]
