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
# How many stranded teams a message names before it says "and N more".
NAMED_TEAMS = 5


class RosterIntegrityError(RuntimeError):
    """The roster and the loaded responses disagree: nothing is published."""


def moves_path(roster: Path) -> Path:
    """The roster's moves table: where the responses of a team that left the roster for a wave
    are counted instead (wave, from_team, to_team), beside the roster."""
    return roster.with_name(MOVES_FILE)


def read_team_moves(roster: Path | None) -> pd.DataFrame:
    """The roster's moves table as written (all text), or an empty one when there is none."""
    path = moves_path(roster) if roster is not None else None
    if path is None or not path.exists():
        return pd.DataFrame({column: pd.Series(dtype="string") for column in MOVES_COLUMNS})
    moves = pd.read_csv(path, dtype="string", skipinitialspace=True)
    missing = [column for column in MOVES_COLUMNS if column not in moves.columns]
    if missing:
        raise ValueError(f"{path}: the moves table lacks the column(s) {', '.join(missing)}")
    moves = moves[list(MOVES_COLUMNS)].apply(lambda column: column.str.strip())
    incomplete = moves.index[moves.isna().any(axis=1)]
    if len(incomplete):
        raise ValueError(f"{path}: line {incomplete[0] + 2} lacks a wave, from_team or to_team")
    repeated = moves.index[moves.duplicated(["wave", "from_team"])]
    if len(repeated):
        raise ValueError(
            f"{path}: line {repeated[0] + 2} moves a team a second time in the same wave"
        )
    return moves


def check_roster(con: duckdb.DuckDBPyConnection, roster: Path) -> None:
    """Raise RosterIntegrityError with the first problem found, its counts and the fix."""
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
            "from_team, to_team); nothing was published"
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
