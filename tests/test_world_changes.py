"""What a run publishes when the world around the warehouse changes: a roster wave with no
responses yet, an export removed after it was loaded, and a roster edited after responses were
loaded (refused with counts until a move or a split says where the responses go, then equal to
a clean run)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from resilience import cli
from resilience.instruments import Registry
from resilience.roster_checks import RosterIntegrityError, moves_path, read_team_moves
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
    assert "moves.csv (columns wave, from_team, to_team, and share on each line of a split)" in (
        reason
    )
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

    # Or a split: who went where is not known, so the responses stay with the old team, which
    # stands for the wave as it was before, with the people the new teams took from it invited.
    moves = settings.paths.roster.with_name("moves.csv")
    moves.write_text(  # a new team misspelt
        f"wave,from_team,to_team,share\n{last_wave},{team},{team}A,1\n"
        f"{last_wave},{team},{team}C,0.5\n",
        encoding="utf-8",
    )
    with pytest.raises(RosterIntegrityError, match=f"splits {team} in {last_wave}, but {team}C"):
        run_stages(settings, registry)
    moves.write_text(
        f"wave,from_team,to_team,share\n{last_wave},{team},{team}A,1\n"
        f"{last_wave},{team},{team}B,0.5\n",
        encoding="utf-8",
    )
    run_stages(settings, registry)
    earlier = max(
        (row for row in roster if row["team_id"] == team and row["wave"] < last_wave),
        key=lambda row: row["wave"],
    )
    as_it_stood = [  # what a roster that had never split the team lists for the wave
        {**earlier, "wave": last_wave, "headcount": str(int(split["headcount"]) + 3)},
        {**halves[1], "headcount": "3"},
    ]
    clean = copy_inputs(settings, tmp_path / "clean-split")
    clean.paths.roster.with_name("moves.csv").unlink()
    with clean.paths.roster.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(roster[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows([row for row in roster if row is not split] + as_it_stood)
    run_stages(clean, registry)
    assert published_tables(settings) == published_tables(clean)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        kept = con.execute(
            "select group_id, respondents from int_groups "
            "where group_type = 'team' and wave = ? and starts_with(group_id, ?)",
            [last_wave, team],
        ).fetchall()
    assert sorted(kept) == [(team, responses), (f"{team}B", 0)]


@pytest.mark.parametrize(
    ("lines", "fault"),
    [
        (["2026-01,T1,T1A,1.5"], "line 2: share '1.5' is not a number above 0 and at most 1"),
        (["2026-01,T1,T1A,half"], "line 2: share 'half' is not a number above 0"),
        (["2026-01,T1,T1A,0.5", "2026-01,T1,T9,"], "line 3 moves a team that other lines split"),
        (["2026-01,T1,T1A,", "2026-01,T1,T9,"], "line 3 moves a team a second time"),
        (["2026-01,T1,T1A,1", "2026-01,T1,T1A,0.5"], "line 3 moves a team a second time"),
    ],
)
def test_a_moves_table_that_cannot_be_applied_names_its_line(
    tmp_path: Path, lines: list[str], fault: str
) -> None:
    roster = tmp_path / "roster.csv"
    moves_path(roster).write_text(
        "\n".join(["wave,from_team,to_team,share", *lines]) + "\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match=re.escape(fault)):
        read_team_moves(roster)


def test_a_moves_table_without_shares_moves_and_one_with_shares_splits(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    moves_path(roster).write_text(
        "wave,from_team,to_team\n2026-01,T1,T2\n2026-01,T3,T4\n", encoding="utf-8"
    )
    assert read_team_moves(roster)["share"].isna().all()
    moves_path(roster).write_text(
        "wave,from_team,to_team,share\n2026-01,T1,T1A,1\n2026-01,T1,T1B, 0.25\n2026-01,T3,T4,\n",
        encoding="utf-8",
    )
    assert read_team_moves(roster)["share"].tolist() == [1.0, 0.25, pd.NA]
