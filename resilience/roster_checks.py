"""Roster integrity, checked after the models are built and before anything is published: every
scored response's team is on the roster for its wave, every group total is the sum of its parts,
and no response rate exceeds 1. A roster edited after responses were loaded fails the run with
counts and the fix, rather than publishing two levels that disagree."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from resilience.settings import display_path
from resilience.sqlfiles import read_sql

MOVES_FILE = "moves.csv"
MOVES_COLUMNS = ("wave", "from_team", "to_team")
# Optional: on a split's rows, the share of the new team's headcount that came from the old team.
SHARE_COLUMN = "share"
# How many stranded teams a message names before it says "and N more".
NAMED_TEAMS = 5


class RosterIntegrityError(RuntimeError):
    """The roster and the loaded responses disagree: nothing is published."""


def moves_path(roster: Path) -> Path:
    """The roster's moves table: where the responses of a team that left the roster for a wave
    are counted instead (wave, from_team, to_team), beside the roster."""
    return roster.with_name(MOVES_FILE)


def read_team_moves(roster: Path | None) -> pd.DataFrame:
    """The roster's moves table (wave, from_team, to_team as text; share as a number, missing on
    a move), or an empty one when there is none. Raises ValueError naming the line at fault.

    A row without a share moves the team's responses of the wave to `to_team` (a rename or a
    merge). Rows with a share split the team in that wave: its responses stay with it (who went
    where is not known), and each new team's share of its headcount is counted as invited by the
    old team for that wave (stg_roster__team_waves)."""
    empty = {column: pd.Series(dtype="string") for column in MOVES_COLUMNS}
    path = moves_path(roster) if roster is not None else None
    if path is None or not path.exists():
        return pd.DataFrame({**empty, SHARE_COLUMN: pd.Series(dtype="Float64")})
    moves = pd.read_csv(path, dtype="string", skipinitialspace=True)
    missing = [column for column in MOVES_COLUMNS if column not in moves.columns]
    if missing:
        raise ValueError(f"{path}: the moves table lacks the column(s) {', '.join(missing)}")
    if SHARE_COLUMN not in moves.columns:
        moves[SHARE_COLUMN] = pd.Series(pd.NA, index=moves.index, dtype="string")
    moves = moves[[*MOVES_COLUMNS, SHARE_COLUMN]].apply(lambda column: column.str.strip())
    incomplete = moves.index[moves[list(MOVES_COLUMNS)].isna().any(axis=1)]
    if len(incomplete):
        raise ValueError(f"{path}: line {incomplete[0] + 2} lacks a wave, from_team or to_team")
    share = pd.to_numeric(moves[SHARE_COLUMN], errors="coerce").astype("Float64")
    invalid = moves.index[moves[SHARE_COLUMN].notna() & ~((share > 0) & (share <= 1)).fillna(False)]
    if len(invalid):
        raise ValueError(
            f"{path}: line {invalid[0] + 2}: share {moves[SHARE_COLUMN][invalid[0]]!r} is not a "
            "number above 0 and at most 1 (the share of the new team's headcount that came from "
            "the old team)"
        )
    moves[SHARE_COLUMN] = share
    team_wave = ["wave", "from_team"]
    is_split = moves.groupby(team_wave)[SHARE_COLUMN].transform(lambda shares: shares.notna().any())
    mixed = moves.index[is_split & moves[SHARE_COLUMN].isna()]
    if len(mixed):
        raise ValueError(
            f"{path}: line {mixed[0] + 2} moves a team that other lines split in the same wave: "
            "give every line of a split its share"
        )
    repeated = moves.index[
        moves.duplicated([*team_wave, "to_team"]) | (~is_split & moves.duplicated(team_wave))
    ]
    if len(repeated):
        raise ValueError(
            f"{path}: line {repeated[0] + 2} moves a team a second time in the same wave"
        )
    return moves


def check_roster(con: duckdb.DuckDBPyConnection, roster: Path) -> None:
    """Raise RosterIntegrityError with the first problem found, its counts and the fix."""
    splits = con.execute(read_sql("checks/split_problems.sql")).fetchall()
    if splits:
        wave, team, problem = splits[0]
        raise RosterIntegrityError(
            f"{display_path(moves_path(roster))} splits {team} in {wave}, but {problem}; "
            "nothing was published"
        )
    stranded = con.execute(read_sql("checks/stranded_responses.sql")).fetchall()
    if stranded:
        total = sum(count for _, _, count in stranded)
        named = ", ".join(f"{team} in {wave} ({count})" for wave, team, count in stranded)
        if len(stranded) > NAMED_TEAMS:
            named = (
                ", ".join(
                    f"{team} in {wave} ({count})" for wave, team, count in stranded[:NAMED_TEAMS]
                )
                + f" and {len(stranded) - NAMED_TEAMS} more"
            )
        raise RosterIntegrityError(
            f"{total} loaded responses belong to teams that are not on the roster for their "
            f"wave: {named}. Put the team back on {display_path(roster)} for that wave, or say "
            f"where its responses go in {display_path(moves_path(roster))} (columns wave, "
            "from_team, to_team, and share on each line of a split); nothing was published"
        )
    unbalanced = con.execute(read_sql("checks/group_totals.sql")).fetchall()
    if unbalanced:
        wave, group_type, group_id, respondents, parts = unbalanced[0]
        raise RosterIntegrityError(
            f"{len(unbalanced)} group totals are not the sum of their teams, first "
            f"{group_type} {group_id} in {wave}: {respondents} respondents, its teams {parts}; "
            "nothing was published"
        )
    over = con.execute(read_sql("checks/response_rates_over_one.sql")).fetchall()
    if over:
        wave, group_type, group_id, respondents, invited = over[0]
        raise RosterIntegrityError(
            f"{len(over)} groups have more respondents than invited, first {group_type} "
            f"{group_id} in {wave}: {respondents} of {invited}: correct its headcount on "
            f"{display_path(roster)}; nothing was published"
        )
