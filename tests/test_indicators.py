"""Golden indicator tests: a few hand-made responses through the real SQL models, every number
worked out by hand (or, for p-values, by scipy)."""

from __future__ import annotations

import itertools
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy import stats

from resilience.instruments import DEFINITIONS_DIR, DefinitionError, Registry, load_registry
from resilience.settings import Settings
from resilience.sqlfiles import quote_identifier, set_variables
from resilience.validation import build_batch_suite
from resilience.warehouse import ensure_schema, load_seeds, read_action_log, run_transform

ROSTER_HEADER = "team_id,team_name,service_line,parent_unit,wave,headcount\n"
WAVES = {"W1": "2025-05-10", "W2": "2025-09-10"}
_keys = itertools.count(1)


def add_response(
    con: duckdb.DuckDBPyConnection, team: str, wave: str, answers: dict[str, int]
) -> None:
    """One response of `team` in `wave`, recorded on the wave's day."""
    columns = [
        "response_key",
        "file_sha256",
        "source_row",
        "team",
        "wave",
        "recorded_date",
        "run_id",
        *answers,
    ]
    key = f"r{next(_keys)}"
    values = [key, "f", 1, team, wave, WAVES[wave], "r", *(str(v) for v in answers.values())]
    con.execute(
        f"insert into raw_responses ({', '.join(map(quote_identifier, columns))}) "
        f"values ({', '.join('?' for _ in values)})",
        values,
    )


def add_mini_z(con: duckdb.DuckDBPyConnection, team: str, wave: str, codes: list[int]) -> None:
    for code in codes:
        add_response(con, team, wave, {"miniz_1": code})


def write_roster(path: Path, rows: list[tuple[str, str, str, str, int]]) -> Path:
    """Roster rows (team, service line, parent unit, wave, headcount)."""
    lines = [
        f"{team},{team} name,{line},{unit},{wave},{headcount}\n"
        for team, line, unit, wave, headcount in rows
    ]
    path.write_text(ROSTER_HEADER + "".join(lines), encoding="utf-8")
    return path


def build(
    con: duckdb.DuckDBPyConnection, roster: Path, min_group_size: int = 5, **variables: object
) -> None:
    """Every model, with the settings' defaults for the analysis variables."""
    set_variables(con, {**Settings().indicator_variables(), **variables})
    run_transform(con, roster, min_group_size)


def cronbach_alpha(scored: np.ndarray) -> float:
    """Alpha of complete responses (rows) x scored items (columns), from the item variances."""
    k = scored.shape[1]
    item_variances = scored.var(axis=0, ddof=1).sum()
    return k / (k - 1) * (1 - item_variances / scored.sum(axis=1).var(ddof=1))


def rows(con: duckdb.DuckDBPyConnection, query: str, *parameters: object) -> list[tuple]:
    return con.execute(query, list(parameters)).fetchall()


@pytest.fixture
def roster(tmp_path: Path) -> Path:
    teams = [
        ("T1", "Harm reduction", "North", 10),
        ("T2", "Harm reduction", "North", 12),
        ("T3", "Crisis response", "South", 9),
        ("T4", "Crisis response", "South", 4),
    ]
    return write_roster(
        tmp_path / "roster.csv",
        [(team, line, unit, wave, size) for wave in WAVES for team, line, unit, size in teams],
    )


def test_mean_t_interval_and_wilson_share_by_hand(warehouse, roster) -> None:
    add_mini_z(warehouse, "T1", "W1", [1, 2, 3, 4, 5])
    build(warehouse, roster)
    [(n, mean, low, high)] = rows(
        warehouse,
        "select n, value, ci_low, ci_high from team_indicators "
        "where team_id = 'T1' and indicator = 'miniz_burnout'",
    )
    # Mean 3, sd sqrt(2.5) = 1.581139, t(0.975; 4 df) = 2.776445:
    # 3 -/+ 2.776445 x 1.581139 / sqrt 5 = 3 -/+ 1.963243.
    assert (n, mean) == (5, 3)
    assert (low, high) == pytest.approx((1.036757, 4.963243), abs=1e-6)
    [(share, low, high)] = rows(
        warehouse,
        "select value, ci_low, ci_high from team_indicators "
        "where team_id = 'T1' and indicator = 'miniz_burnout_share_burnout'",
    )
    # 3 of 5 at 3 or more. Wilson, z^2 = 3.841459: centre (0.6 + 0.384146) / 1.768292 = 0.556552,
    # half width 1.959964 x sqrt(0.048 + 0.038415) / 1.768292 = 1.959964 x 0.293964 / 1.768292
    # = 0.325827.
    assert share == 0.6
    assert (low, high) == pytest.approx((0.230724, 0.882379), abs=1e-6)


def test_change_since_the_previous_wave_matches_welch_and_the_two_proportion_z_test(
    warehouse, roster
) -> None:
    before, after = [1, 2, 2, 3, 2, 1, 2, 3], [3, 4, 3, 5, 4, 2, 4]
    add_mini_z(warehouse, "T1", "W1", before)
    add_mini_z(warehouse, "T1", "W2", after)
    build(warehouse, roster)
    [(previous_wave, previous, change, p_value, significant)] = rows(
        warehouse,
        "select previous_wave, previous_value, change, change_p_value, change_significant "
        "from team_indicators where team_id = 'T1' and indicator = 'miniz_burnout' and wave = 'W2'",
    )
    assert (previous_wave, previous) == ("W1", 2)
    assert change == pytest.approx(np.mean(after) - np.mean(before))
    welch = stats.ttest_ind(after, before, equal_var=False)
    # Wallace's normal approximation of the t distribution stays within 0.001 of the exact p.
    assert p_value == pytest.approx(welch.pvalue, abs=1e-3)
    assert significant == (welch.pvalue < 0.05) == True  # noqa: E712
    # Burnout (3 or more): 2 of 8, then 6 of 7. Pooled 8 / 15.
    [(share_change, share_p)] = rows(
        warehouse,
        "select change, change_p_value from team_indicators "
        "where team_id = 'T1' and indicator = 'miniz_burnout_share_burnout' and wave = 'W2'",
    )
    pooled = 8 / 15
    z = (6 / 7 - 2 / 8) / math.sqrt(pooled * (1 - pooled) * (1 / 7 + 1 / 8))
    assert share_change == pytest.approx(6 / 7 - 2 / 8)
    assert share_p == pytest.approx(2 * stats.norm.sf(z), abs=1e-6)


@pytest.mark.parametrize("degrees", [4, 6, 10, 30, 100])
def test_wallace_p_values_follow_the_t_distribution(warehouse, roster, degrees) -> None:
    # Two groups of one size and spread give Welch df = 2 (n - 1); the second is one point higher.
    n = degrees // 2 + 1
    before = [2, 4] * (n // 2) + [3] * (n % 2)
    after = [code + 1 for code in before]
    add_mini_z(warehouse, "T1", "W1", before)
    add_mini_z(warehouse, "T1", "W2", after)
    build(warehouse, roster, min_group_size=3)
    [(p_value,)] = rows(
        warehouse,
        "select change_p_value from team_indicators "
        "where team_id = 'T1' and indicator = 'miniz_burnout' and wave = 'W2'",
    )
    exact = stats.ttest_ind(after, before, equal_var=False).pvalue
    assert p_value == pytest.approx(exact, abs=1e-3)


def test_small_cells_and_the_changes_next_to_them_are_suppressed(warehouse, roster) -> None:
    add_mini_z(warehouse, "T1", "W1", [1, 2, 3, 4])  # four: hidden
    add_mini_z(warehouse, "T1", "W2", [1, 2, 3, 4, 5])
    add_mini_z(warehouse, "T2", "W1", [1, 1, 2, 2, 3])
    add_mini_z(warehouse, "T2", "W2", [3, 3, 4, 4, 4])
    build(warehouse, roster)
    found = {
        (team, wave): rest
        for team, wave, *rest in rows(
            warehouse,
            "select team_id, wave, suppressed, n, value, ci_low, shrunk_value, previous_value, "
            "change, change_p_value from team_indicators where indicator = 'miniz_burnout'",
        )
    }
    assert found[("T1", "W1")] == [True, None, None, None, None, None, None, None]
    # Shown, but a change against the hidden wave would give the hidden mean away.
    assert found[("T1", "W2")][:3] == [False, 5, 3]
    assert found[("T1", "W2")][5:] == [None, None, None]
    # Five, but hidden too: North (nine) minus T2 would give T1's four away.
    assert found[("T2", "W1")] == [True, None, None, None, None, None, None, None]
    assert found[("T2", "W2")][:3] == [False, 5, 3.6]
    assert found[("T2", "W2")][5:] == [None, None, None]


def test_shrinkage_pulls_small_teams_most(warehouse, roster) -> None:
    groups = {
        "T1": [1, 1, 2, 1, 2, 1, 1, 2, 1, 1],
        "T2": [2, 3, 2, 3, 3],
        "T3": [4, 5, 5, 4, 5, 4, 5, 5],
    }
    for team, codes in groups.items():
        add_mini_z(warehouse, team, "W1", codes)
    build(warehouse, roster)
    shrunk = dict(
        rows(
            warehouse,
            "select team_id, shrunk_value from team_indicators "
            "where indicator = 'miniz_burnout' and wave = 'W1'",
        )
    )
    # The same estimator written out with numpy: pooled within-team variance, between-team
    # variance by the method of moments, each team pulled toward the organization's mean.
    values = {team: np.array(codes, dtype=float) for team, codes in groups.items()}
    organization = np.mean(np.concatenate(list(values.values())))
    means = np.array([v.mean() for v in values.values()])
    sizes = np.array([len(v) for v in values.values()])
    within = sum(((v - v.mean()) ** 2).sum() for v in values.values()) / (sizes - 1).sum()
    between = max(0.0, means.var(ddof=1) - within * np.mean(1 / sizes))
    expected = organization + between / (within / sizes + between) * (means - organization)
    assert [shrunk[team] for team in groups] == pytest.approx(expected.tolist(), abs=1e-9)
    # T2 is the smallest team and sits nearest the organization; its estimate moves most.
    moved = {team: abs(shrunk[team] - values[team].mean()) for team in groups}
    assert max(moved, key=moved.get) in {"T2", "T3"}
    assert all(
        min(v.mean(), organization) <= shrunk[team] <= max(v.mean(), organization)
        for team, v in values.items()
    )


def test_parent_units_service_lines_and_the_organization_add_up_their_teams(
    warehouse, roster
) -> None:
    add_mini_z(warehouse, "T1", "W1", [1, 2, 3, 4, 5])
    add_mini_z(warehouse, "T2", "W1", [2, 2, 2, 2, 2, 2])
    add_mini_z(warehouse, "T3", "W1", [5, 5, 4, 4, 3])
    build(warehouse, roster)
    means = dict(
        rows(
            warehouse,
            "select group_type || ':' || group_id, value from group_indicators "
            "where indicator = 'miniz_burnout' and not suppressed",
        )
    )
    # North = T1 + T2: (15 + 12) / 11; South = T3 only: 21 / 5, as is the service line.
    assert means == pytest.approx(
        {
            "parent_unit:North": 27 / 11,
            "parent_unit:South": 21 / 5,
            "service_line:Harm reduction": 27 / 11,
            "service_line:Crisis response": 21 / 5,
        }
    )
    [(organization,)] = rows(
        warehouse, "select value from org_indicators where indicator = 'miniz_burnout'"
    )
    assert organization == 48 / 16
    assert rows(warehouse, "select count(*) from group_indicators where group_type = 'role'") == [
        (0,)
    ]


def test_response_rates_need_the_minimum_invited_and_responding(warehouse, roster) -> None:
    add_mini_z(warehouse, "T1", "W1", [1, 2, 3, 4, 5])  # 5 of 10
    add_mini_z(warehouse, "T2", "W1", [1, 2, 3, 4])  # 4 of 12: too few responded
    add_mini_z(warehouse, "T3", "W1", [1, 2, 3, 4, 5, 1, 2, 3, 4])  # 9 of 9
    add_mini_z(warehouse, "T4", "W1", [1, 2, 3, 4, 5])  # 5 of 4 invited: too few invited
    build(warehouse, roster)
    found = {
        (group_type, group_id): rest
        for group_type, group_id, *rest in rows(
            warehouse,
            "select group_type, group_id, invited, respondents, response_rate, "
            "low_response_rate, suppressed from response_rates where wave = 'W1'",
        )
    }
    # Five responded, but North's nine minus them would give T2's four away.
    assert found[("team", "T1")] == [10, None, None, None, True]
    assert found[("team", "T2")] == [12, None, None, None, True]
    assert found[("team", "T3")] == [9, 9, 1.0, False, False]
    assert found[("team", "T4")] == [4, None, None, None, True]
    assert found[("parent_unit", "North")] == [22, 9, 9 / 22, True, False]
    assert found[("organization", "all")] == [35, 23, 23 / 35, False, False]


def test_cronbach_alpha_matches_the_item_variances(warehouse, roster) -> None:
    rng = np.random.default_rng(7)
    trait = rng.normal(0, 1, 40)
    codes = np.clip(np.round(3 + trait[:, None] + rng.normal(0, 0.8, (40, 6))), 1, 5).astype(int)
    for row in codes:
        add_response(warehouse, "T1", "W1", {f"brs_{i}": int(c) for i, c in enumerate(row, 1)})
    # One incomplete response: left out of alpha, which needs every item.
    add_response(warehouse, "T1", "W1", {"brs_1": 5, "brs_2": 1, "brs_3": 5, "brs_4": 1})
    build(warehouse, roster)
    [(n, alpha, below)] = rows(
        warehouse,
        "select n, alpha, below_threshold from instrument_reliability "
        "where indicator = 'brs_resilience'",
    )
    scored = codes.astype(float)
    scored[:, [1, 3, 5]] = 6 - scored[:, [1, 3, 5]]  # BRS items 2, 4, 6 are reversed
    expected = cronbach_alpha(scored)
    assert n == 40
    # The total comes from the score, which is kept to 6 decimals.
    assert alpha == pytest.approx(expected, abs=1e-6)
    # The answers were generated without regard to BRS's reversed items, which therefore pull
    # against the others: alpha is far below 0.6.
    assert expected < 0.6
    assert below is True


def test_a_role_item_adds_a_role_cut_and_small_roles_stay_hidden(
    tmp_path: Path, roster: Path
) -> None:
    definitions = tmp_path / "instruments"
    shutil.copytree(DEFINITIONS_DIR, definitions, ignore=shutil.ignore_patterns("examples"))
    shutil.copy(DEFINITIONS_DIR / "examples" / "profile.toml", definitions)
    registry = load_registry(definitions)
    with duckdb.connect() as con:
        ensure_schema(con, registry)
        load_seeds(con, registry)
        for code in [1, 2, 3, 4, 5]:
            add_response(con, "T1", "W1", {"miniz_1": code, "role": 3})  # five nurses
        for code in [4, 5, 5, 4]:
            add_response(con, "T2", "W1", {"miniz_1": code, "role": 1})  # four peer workers
        # One outreach worker: with the four peer workers, the organization minus the nurses
        # describes five people.
        add_response(con, "T2", "W1", {"miniz_1": 3, "role": 2})
        build(con, roster)
        found = rows(
            con,
            "select group_id, n, value, suppressed from group_indicators "
            "where group_type = 'role' and indicator = 'miniz_burnout' order by group_id",
        )
    assert found == [
        ("Nurse", 5, 3.0, False),
        ("Outreach worker", None, None, True),
        ("Peer support worker", None, None, True),
    ]


def test_a_role_cut_cannot_reuse_a_reporting_level(tmp_path: Path) -> None:
    definitions = tmp_path / "instruments"
    definitions.mkdir()
    text = (DEFINITIONS_DIR / "examples" / "profile.toml").read_text(encoding="utf-8")
    (definitions / "profile.toml").write_text(
        text.replace('group_by = "role"', 'group_by = "team"'), encoding="utf-8"
    )
    with pytest.raises(DefinitionError, match="cannot group by 'team'"):
        load_registry(definitions)


def test_actions_show_the_waves_before_and_after(warehouse, roster, tmp_path: Path) -> None:
    log = tmp_path / "actions.csv"
    log.write_text(
        "team_id,date,action\n"
        "T1,2025-06-01,Supervision every two weeks\n"
        "T1,2025-04-01,Before any wave\n"
        "T1,2025-10-01,After the last wave\n",
        encoding="utf-8",
    )
    add_mini_z(warehouse, "T1", "W1", [4, 4, 5, 5, 4])
    add_mini_z(warehouse, "T1", "W2", [2, 2, 1, 1, 2])
    load_seeds(warehouse, load_registry(), log)
    build(warehouse, roster)
    found = rows(
        warehouse,
        "select action, wave_before, wave_after, value_before, value_after, change "
        "from actions where indicator = 'miniz_burnout' order by action_date",
    )
    assert found == [
        ("Before any wave", None, "W1", None, 4.4, None),
        ("Supervision every two weeks", "W1", "W2", 4.4, 1.6, pytest.approx(-2.8)),
        ("After the last wave", "W2", None, 1.6, None, None),
    ]


TOY_INSTRUMENT = """
id = "toy"
name = "Toy"
title = "Toy strain check"
credit = "Written for a test."
licence = "None."
url = ""
recall = "past week"
item_count = 4

[answers]
options = [
  { code = 1, value = 0, label = "Not at all" },
  { code = 2, value = 1, label = "Sometimes" },
  { code = 3, value = 2, label = "Often" },
  { code = 4, value = 3, label = "Always" },
]

[[scales]]
id = "strain"
name = "Strain"
items = [1, 2, 3, 4]
reversed = [4]
method = "0-100"
min_answered = 3
risk_when = "high"
bands = [
  { id = "low", lower = 0, lower_inclusive = true },
  { id = "high", lower = 50, lower_inclusive = true },
]
"""


@pytest.fixture
def toy_registry(tmp_path: Path) -> Registry:
    """The shipped definitions plus one new file, and nothing else changed."""
    definitions = tmp_path / "instruments"
    shutil.copytree(DEFINITIONS_DIR, definitions, ignore=shutil.ignore_patterns("examples"))
    (definitions / "toy.toml").write_text(TOY_INSTRUMENT, encoding="utf-8")
    return load_registry(definitions)


@pytest.fixture
def toy_warehouse(toy_registry: Registry) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as con:
        ensure_schema(con, toy_registry)
        load_seeds(con, toy_registry)
        yield con


def test_a_new_definition_file_is_validated_scored_and_reported(
    toy_registry, toy_warehouse, roster
) -> None:
    suite = build_batch_suite(toy_registry, ["T1"])
    toy_rules = {
        e.column: sorted(e.value_set) for e in suite.expectations if e.column in {"toy_1", "toy_4"}
    }
    assert toy_rules == {"toy_1": ["1", "2", "3", "4"], "toy_4": ["1", "2", "3", "4"]}

    # Codes 3, 4, 2, 1 are values 2, 3, 1, 0; item 4 is reversed (0 + 3 - 0 = 3); on 0-100 each
    # counts value x 100 / 3: 66.67, 100, 33.33, 100 -> mean 75, high.
    add_response(toy_warehouse, "T1", "W1", {"toy_1": 3, "toy_2": 4, "toy_3": 2, "toy_4": 1})
    # Three answered (the minimum), all "Not at all": 0, low. Two answered: no score.
    add_response(toy_warehouse, "T1", "W1", {"toy_1": 1, "toy_2": 1, "toy_3": 1})
    add_response(toy_warehouse, "T1", "W1", {"toy_1": 4, "toy_2": 4})
    for _ in range(3):
        add_response(toy_warehouse, "T1", "W1", {"toy_1": 2, "toy_2": 2, "toy_3": 2, "toy_4": 3})
    build(toy_warehouse, roster)
    scores = rows(
        toy_warehouse,
        "select items_answered, score, band_id from int_scale_scores__banded "
        "where indicator = 'toy_strain' order by response_row",
    )
    # The last three: values 1, 1, 1 and reversed 3 - 2 = 1: 33.33 each, low.
    assert scores[:3] == [(4, 75.0, "high"), (3, 0.0, "low"), (2, None, None)]
    assert scores[3:] == [(4, 33.333333, "low")] * 3
    [(n, mean)] = rows(
        toy_warehouse,
        "select n, value from team_indicators where team_id = 'T1' and indicator = 'toy_strain'",
    )
    assert (n, mean) == (5, pytest.approx((75 + 0 + 3 * 33.333333) / 5))
    assert rows(
        toy_warehouse,
        "select method, score_min, score_max from indicator_definitions "
        "where indicator = 'toy_strain'",
    ) == [("0-100", 0.0, 100.0)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("team_id,action\nT1,Supervision\n", "lacks the column"),
        ("team_id,date,action\nT1,2025-06-01,Supervision\nT1,,Debriefs\n", "line 3 lacks"),
    ],
)
def test_an_incomplete_action_log_is_refused(tmp_path: Path, text: str, message: str) -> None:
    log = tmp_path / "actions.csv"
    log.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_action_log(log)
