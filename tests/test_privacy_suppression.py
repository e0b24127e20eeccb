"""Complementary suppression on hand-made teams through the real SQL models: which cells hide,
worked out by hand from the rule in int_indicators__suppressed."""

from __future__ import annotations

from pathlib import Path

import pytest

from resilience.settings import PrivacySettings
from tests.test_indicators import add_mini_z, build, rows, write_roster
from tests.test_privacy_attacker import Cell, Published, recoveries

# North splits into A (3 responses), B (6) and C (12), each its own service line; South holds D (7)
# and E (8), one service line between them. The organization has 36.
TEAMS = {
    "A": ("Line A", "North", 3),
    "B": ("Line B", "North", 6),
    "C": ("Line C", "North", 12),
    "D": ("Line S", "South", 7),
    "E": ("Line S", "South", 8),
}


@pytest.fixture
def teams_roster(tmp_path: Path) -> Path:
    return write_roster(
        tmp_path / "roster.csv",
        [
            (team, line, unit, wave, 20)
            for wave in ("W1", "W2")
            for team, (line, unit, _) in TEAMS.items()
        ],
    )


def shown_cells(con, table_query: str) -> dict[str, int | None]:
    return dict(rows(con, table_query))


def test_the_next_smallest_sibling_and_a_cut_equal_to_it_are_hidden(
    warehouse, teams_roster
) -> None:
    for team, (_, _, size) in TEAMS.items():
        add_mini_z(warehouse, team, "W1", [1 + i % 5 for i in range(size)])
    build(warehouse, teams_roster)
    teams = shown_cells(
        warehouse,
        "select team_id, n from team_indicators where indicator = 'miniz_burnout'",
    )
    # A is too small; North (21) minus C would then give A and B together (9), but North minus B
    # and C would give A alone: B, the next smallest, is hidden too.
    assert teams == {"A": None, "B": None, "C": 12, "D": 7, "E": 8}
    groups = shown_cells(
        warehouse,
        "select group_type || ':' || group_id, n from group_indicators "
        "where indicator = 'miniz_burnout'",
    )
    # Line B is exactly team B: shown, it would open B again (North minus Line B minus C = A).
    assert groups == {
        "parent_unit:North": 21,
        "parent_unit:South": 15,
        "service_line:Line A": None,
        "service_line:Line B": None,
        "service_line:Line C": 12,
        "service_line:Line S": 15,
    }
    respondents = shown_cells(
        warehouse,
        "select group_type || ':' || group_id, respondents from response_rates "
        "where group_type = 'team' and wave = 'W1'",
    )
    assert respondents == {"team:A": None, "team:B": None, "team:C": 12, "team:D": 7, "team:E": 8}
    # The roster's W2 has no response yet: every team shows 0 respondents, which describes no one.
    waiting = shown_cells(
        warehouse,
        "select group_id, respondents from response_rates "
        "where group_type = 'team' and wave = 'W2'",
    )
    assert waiting == dict.fromkeys(TEAMS, 0)


def test_suppression_is_decided_per_wave_and_a_change_needs_both_waves_shown(
    warehouse, teams_roster
) -> None:
    for team, (_, _, size) in TEAMS.items():
        add_mini_z(warehouse, team, "W1", [1 + i % 5 for i in range(size)])
        add_mini_z(warehouse, team, "W2", [1 + i % 5 for i in range(max(size, 6))])
    build(warehouse, teams_roster)
    found = {
        (team, wave): (n, change)
        for team, wave, n, change in rows(
            warehouse,
            "select team_id, wave, n, change from team_indicators "
            "where indicator = 'miniz_burnout'",
        )
    }
    # In W2 every team has at least six: nothing is hidden, but A and B have no change to show.
    assert {team: found[(team, "W2")][0] for team in TEAMS} == {
        "A": 6,
        "B": 6,
        "C": 12,
        "D": 7,
        "E": 8,
    }
    assert found[("A", "W2")][1] is None and found[("B", "W2")][1] is None
    assert found[("C", "W2")][1] is not None


@pytest.mark.parametrize("min_group_size", [3, 7])
def test_the_threshold_is_the_configured_one(warehouse, teams_roster, min_group_size) -> None:
    for team, (_, _, size) in TEAMS.items():
        add_mini_z(warehouse, team, "W1", [1 + i % 5 for i in range(size)])
    build(warehouse, teams_roster, min_group_size)
    teams = shown_cells(
        warehouse,
        "select team_id, n from team_indicators where indicator = 'miniz_burnout'",
    )
    expected = {
        # Three is enough for everyone.
        3: {"A": 3, "B": 6, "C": 12, "D": 7, "E": 8},
        # Seven hides A and B on their own; together they are nine, so C can stay.
        7: {"A": None, "B": None, "C": 12, "D": 7, "E": 8},
    }
    assert teams == expected[min_group_size]


def test_the_threshold_cannot_be_set_below_three() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 3"):
        PrivacySettings(min_group_size=2)


def test_the_attacker_recovers_a_team_hidden_alone() -> None:
    """The attacker of test_privacy_attacker finds what the minimum-size rule alone leaves open."""
    north, a, b, c = ("parent_unit", "North"), ("team", "A"), ("team", "B"), ("team", "C")
    published = Published(
        shown={
            ("W1", "miniz_burnout"): {north: Cell(21, 63.0), b: Cell(6, 18.0), c: Cell(12, 36.0)}
        },
        hidden={("W1", "miniz_burnout"): {a}},
        containers={a: {north}, b: {north}, c: {north}, north: set()},
        min_group_size=5,
    )
    [recovered] = [r for r in recoveries(published) if "shown ('team',)" in r.attack]
    assert (recovered.n, recovered.mean) == (3, 3.0)
