"""What a site tells the reader beyond its exports: which team a team cell names (the roster's ids,
names and aliases) and which fieldwork window a response's date falls in (the waves file and
`[quality.waves]`).

Both are read with the standard library only, so that `inspect`, `map` and `validate` read them
exactly as a run does, without the pipeline's heavy imports.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise
from pathlib import Path

from resilience.settings import Settings, UsageError, WaveWindow, display_path

ROSTER_KEY_COLUMNS = ("team_id", "team_name", "aliases")
WAVES_COLUMNS = ("wave", "opens", "closes")
ALIAS_SEPARATOR = ";"
WHITESPACE = re.compile(r"[\t\n\f\r ]+")


def match_key(text: str) -> str:
    """Text as team cells and answers are compared: whitespace runs as one space, trimmed, lower
    case (the SQL that stages a batch compares the same way)."""
    return WHITESPACE.sub(" ", text).strip(" ").lower()


@dataclass(frozen=True)
class ReadingRules:
    """The site's rules for reading a team cell and placing a response in a wave."""

    team_keys: Mapping[str, str] = field(default_factory=dict)
    """`match_key` of a roster id, name or alias -> the team id."""
    wave_windows: Mapping[str, WaveWindow] = field(default_factory=dict)

    def team_id(self, value: str) -> str | None:
        return self.team_keys.get(match_key(value))

    def wave_of(self, day: date | None) -> str | None:
        if day is None:
            return None
        return next((w for w, window in self.wave_windows.items() if window.holds(day)), None)


def _csv_rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """The rows of a small CSV, each with its line number (the header is line 1)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise UsageError(f"{display_path(path)}: no {', '.join(missing)} column")
            return [(reader.line_num, dict(row)) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UsageError(f"{display_path(path)}: cannot be read ({error})") from error


def read_team_keys(roster: Path) -> dict[str, str]:
    """Every spelling a team cell may use for a team: its id, its name and its aliases (an
    optional `aliases` column, separated by ';'). Raises UsageError naming the row and column of
    a spelling that two teams share."""
    keys: dict[str, str] = {}
    for line, row in _csv_rows(roster, ("team_id", "team_name")):
        team_id = (row.get("team_id") or "").strip()
        if not team_id:
            continue
        spellings = [
            ("team_id", team_id),
            ("team_name", row.get("team_name") or ""),
            *(("aliases", alias) for alias in (row.get("aliases") or "").split(ALIAS_SEPARATOR)),
        ]
        for column, spelling in spellings:
            key = match_key(spelling)
            if not key:
                continue
            if keys.setdefault(key, team_id) != team_id:
                raise UsageError(
                    f"{display_path(roster)} row {line}, column {column}: {spelling.strip()!r} "
                    f"names both {keys[key]} and {team_id}; give each team its own names"
                )
    return keys


def read_wave_file(path: Path) -> dict[str, tuple[int, WaveWindow]]:
    """The windows of a `wave,opens,closes` CSV, each with its line. Raises UsageError naming the
    row and column of a bad date."""
    windows: dict[str, tuple[int, WaveWindow]] = {}
    for line, row in _csv_rows(path, WAVES_COLUMNS):
        wave = (row["wave"] or "").strip()
        if not wave:
            continue
        dates = {}
        for column in ("opens", "closes"):
            try:
                dates[column] = date.fromisoformat((row[column] or "").strip())
            except ValueError:
                raise UsageError(
                    f"{display_path(path)} row {line}, column {column}: {row[column]!r} is not a "
                    "date (YYYY-MM-DD)"
                ) from None
        if dates["closes"] < dates["opens"]:
            raise UsageError(f"{display_path(path)} row {line}: wave {wave} closes before it opens")
        if wave in windows:
            raise UsageError(f"{display_path(path)} row {line}: wave {wave} is given twice")
        windows[wave] = (line, WaveWindow(start=dates["opens"], end=dates["closes"]))
    return windows


def wave_windows(settings: Settings) -> dict[str, WaveWindow]:
    """Every fieldwork window: the waves file's and `[quality.waves]`. Raises UsageError naming
    where two windows overlap."""
    placed: dict[str, tuple[str, WaveWindow]] = {
        wave: ("[quality.waves]", window) for wave, window in settings.quality.waves.items()
    }
    if settings.paths.waves is not None:
        for wave, (line, window) in read_wave_file(settings.paths.waves).items():
            where = f"{display_path(settings.paths.waves)} row {line}"
            if wave in placed and placed[wave][1] != window:
                raise UsageError(f"{where}: wave {wave} has other dates in {placed[wave][0]}")
            placed[wave] = (where, window)
    ordered = sorted(placed.items(), key=lambda item: item[1][1].start)
    for (wave, (where, window)), (next_wave, (next_where, next_window)) in pairwise(ordered):
        if next_window.start <= window.end:
            raise UsageError(
                f"{next_where}: wave {next_wave} ({next_window.start} to {next_window.end}) "
                f"overlaps wave {wave} ({window.start} to {window.end}, {where})"
            )
    return {wave: window for wave, (_, window) in ordered}


def reading_rules(settings: Settings) -> ReadingRules:
    """The site's reading rules: the roster's team spellings (when the roster exists) and every
    wave window."""
    roster = settings.paths.roster
    return ReadingRules(
        team_keys=read_team_keys(roster) if roster.is_file() else {},
        wave_windows=wave_windows(settings),
    )


def actions_off_roster(actions: Path | None, team_ids: Collection[str]) -> dict[str, int]:
    """The action log's teams that are not on the roster, with their actions: the run reports
    them and does not publish them."""
    if actions is None or not actions.is_file():
        return {}
    teams = Counter(
        (row.get("team_id") or "").strip() for _, row in _csv_rows(actions, ("team_id",))
    )
    return {team: count for team, count in sorted(teams.items()) if team not in team_ids}
