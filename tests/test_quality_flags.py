"""Careless-responding flags: hand-made responses through the real `int_quality__response_flags`."""

from __future__ import annotations

import re
from typing import get_args

import duckdb
import pytest

from resilience.settings import CarelessFlag, Settings
from resilience.sqlfiles import quote_identifier, read_sql, set_variables
from tests.conftest import materialize

PROQOL = [f"proqol_{n}" for n in range(1, 31)]
CBI = [f"cbi_{n}" for n in range(1, 20)]
BRS = [f"brs_{n}" for n in range(1, 7)]
ALL_LIKERT = PROQOL + CBI + BRS


def varied(items: list[str], start: int = 0) -> dict[str, int]:
    """Answers that never repeat the previous one and never sit at one extreme on a whole scale."""
    return {item: 1 + (start + position) % 5 for position, item in enumerate(items)}


def add_response(
    con: duckdb.DuckDBPyConnection,
    key: str,
    answers: dict[str, int],
    duration: float | None = 600.0,
    team: str = "T001",
    wave: str = "2025-05",
) -> None:
    columns = ["response_key", "file_sha256", "source_row", "team", "wave", "run_id"]
    columns += ["duration_seconds", *answers]
    values = [key, "f", 1, team, wave, "r", duration, *(str(v) for v in answers.values())]
    con.execute(
        f"insert into raw_responses ({', '.join(map(quote_identifier, columns))}) "
        f"values ({', '.join('?' for _ in values)})",
        values,
    )


def flags(con: duckdb.DuckDBPyConnection, settings: Settings | None = None) -> dict[str, dict]:
    set_variables(con, (settings or Settings()).quality_variables())
    materialize(
        con, "stg_survey__answers", "int_quality__response_patterns", "int_quality__response_flags"
    )
    result = con.execute("select * from int_quality__response_flags")
    names = [column[0] for column in result.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in result.fetchall()}


def test_an_attentive_response_raises_no_flag(warehouse) -> None:
    add_response(warehouse, "r1", varied(ALL_LIKERT))
    [row] = flags(warehouse).values()
    assert row["items_answered"] == 55
    assert row["seconds_per_item"] == pytest.approx(600 / 55)
    assert row["longest_identical_run"] == 1
    assert (row["flags"], row["exclusion_reasons"], row["excluded"]) == ([], [], False)


@pytest.mark.parametrize(
    ("duration", "too_fast"),
    [(109.0, True), (110.0, False), (None, False)],  # 55 answers: 2 seconds each is 110
)
def test_too_fast_is_under_two_seconds_per_answered_item(warehouse, duration, too_fast) -> None:
    add_response(warehouse, "r1", varied(ALL_LIKERT), duration=duration)
    [row] = flags(warehouse).values()
    assert ("too_fast" in row["flags"]) is too_fast
    assert row["excluded"] is too_fast
    assert row["exclusion_reasons"] == (["too_fast"] if too_fast else [])


def test_seconds_per_item_counts_answered_items_only(warehouse) -> None:
    add_response(warehouse, "r1", varied(PROQOL[:10]), duration=19.0)
    [row] = flags(warehouse).values()
    assert row["items_answered"] == 10
    assert row["seconds_per_item"] == pytest.approx(1.9)
    assert row["flags"] == ["too_fast"]


def test_one_answer_to_a_whole_instrument_is_straight_lining(warehouse) -> None:
    add_response(warehouse, "r1", {**varied(CBI + BRS), **dict.fromkeys(PROQOL, 3)})
    [row] = flags(warehouse).values()
    assert row["straight_lined_instruments"] == ["proqol"]
    assert row["longest_identical_run"] == 30
    assert row["flags"] == ["straight_lined", "long_identical_run"]
    assert (row["excluded"], row["exclusion_reasons"]) == (True, ["straight_lined"])


def test_the_six_brs_items_are_too_few_to_call_a_neutral_answer_straight_lining(
    warehouse,
) -> None:
    add_response(warehouse, "r1", {**varied(PROQOL + CBI), **dict.fromkeys(BRS, 3)})
    [row] = flags(warehouse).values()
    assert row["straight_lined_instruments"] == []
    assert row["longest_identical_run"] == 6
    assert row["flags"] == []


def test_a_long_run_is_flagged_but_does_not_exclude_by_default(warehouse) -> None:
    answers = {**varied(ALL_LIKERT), **dict.fromkeys(PROQOL[5:15], 2)}
    add_response(warehouse, "r1", answers)
    [row] = flags(warehouse).values()
    assert row["longest_identical_run"] == 10
    assert row["flags"] == ["long_identical_run"]
    assert row["excluded"] is False


def test_an_unanswered_item_ends_a_run(warehouse) -> None:
    answers = {**varied(ALL_LIKERT), **dict.fromkeys(PROQOL[:11], 4)}
    del answers["proqol_6"]
    add_response(warehouse, "r1", answers)
    [row] = flags(warehouse).values()
    assert row["longest_identical_run"] == 5


def test_runs_follow_item_numbers_not_their_text_order(warehouse) -> None:
    # proqol_9, proqol_10 and proqol_11 are consecutive items, though "10" sorts before "9".
    answers = {**varied(ALL_LIKERT), "proqol_9": 5, "proqol_10": 5, "proqol_11": 5}
    answers["proqol_8"], answers["proqol_12"] = 1, 1
    add_response(warehouse, "r1", answers)
    [row] = flags(warehouse).values()
    assert row["longest_identical_run"] == 3


@pytest.mark.parametrize(
    ("answers", "inconsistent"),
    [
        # BRS 2, 4 and 6 are reversed: "strongly agree" to all six contradicts itself.
        ({**varied(PROQOL + CBI), **dict.fromkeys(BRS, 5)}, ["brs_resilience"]),
        ({**varied(PROQOL + CBI), **dict.fromkeys(BRS, 1)}, ["brs_resilience"]),
        # CBI work-related (7-13, 13 reversed): "always" is the extreme value 100.
        ({**varied(PROQOL + BRS), **dict.fromkeys(CBI[6:13], 1)}, ["cbi_work"]),
        # The middle answer is no contradiction.
        ({**varied(PROQOL + CBI), **dict.fromkeys(BRS, 3)}, []),
        # Only the plain items answered: nothing to contradict.
        ({**varied(PROQOL + CBI), "brs_1": 5, "brs_3": 5, "brs_5": 5}, []),
    ],
)
def test_the_same_extreme_answer_to_reversed_and_plain_items_is_inconsistent(
    warehouse, answers, inconsistent
) -> None:
    add_response(warehouse, "r1", answers)
    [row] = flags(warehouse).values()
    assert row["inconsistent_scales"] == inconsistent
    assert ("inconsistent_reversed" in row["flags"]) is bool(inconsistent)


def test_the_same_answers_twice_in_a_team_and_wave_are_duplicates(warehouse) -> None:
    answers = varied(PROQOL)
    add_response(warehouse, "copy-1", answers)
    add_response(warehouse, "copy-2", answers)
    add_response(warehouse, "other-team", answers, team="T002")
    add_response(warehouse, "other-wave", answers, wave="2025-09")
    add_response(warehouse, "different", varied(PROQOL, start=1))
    rows = flags(warehouse)
    assert {key for key, row in rows.items() if "duplicate_answers" in row["flags"]} == {
        "copy-1",
        "copy-2",
    }
    assert rows["copy-1"]["same_answers_in_team_wave"] == 1
    assert not rows["copy-1"]["excluded"]


def test_short_partial_responses_agree_by_chance_and_are_not_duplicates(warehouse) -> None:
    add_response(warehouse, "short-1", varied(PROQOL[:9]))
    add_response(warehouse, "short-2", varied(PROQOL[:9]))
    assert [row["flags"] for row in flags(warehouse).values()] == [[], []]


def test_which_flags_exclude_is_configuration(warehouse) -> None:
    answers = varied(PROQOL)
    add_response(warehouse, "copy-1", answers, duration=10.0)
    add_response(warehouse, "copy-2", answers)
    settings = Settings(quality={"exclude": ["duplicate_answers"]})
    rows = flags(warehouse, settings)
    assert rows["copy-1"]["flags"] == ["too_fast", "duplicate_answers"]
    assert rows["copy-1"]["exclusion_reasons"] == ["duplicate_answers"]
    assert rows["copy-2"]["excluded"] is True
    nothing = flags(warehouse, Settings(quality={"exclude": []}))
    assert [row["excluded"] for row in nothing.values()] == [False, False]


def test_a_response_without_answers_has_no_flags(warehouse) -> None:
    add_response(warehouse, "empty", {}, duration=3.0)
    [row] = flags(warehouse).values()
    assert (row["items_answered"], row["seconds_per_item"], row["flags"]) == (0, None, [])


def test_every_flag_the_settings_name_can_be_raised(warehouse) -> None:
    answers = {**dict.fromkeys(PROQOL, 1), **dict.fromkeys(BRS, 5)}
    add_response(warehouse, "everything", answers, duration=5.0)
    add_response(warehouse, "its-copy", answers)
    raised = flags(warehouse)["everything"]["flags"]
    assert sorted(raised) == sorted(get_args(CarelessFlag))


def test_the_staging_model_of_responses_can_read_the_flags_without_a_cycle() -> None:
    # The model runner orders models by the names their files mention.
    text = read_sql("intermediate/int_quality__response_flags.sql")
    assert not re.search(r"\bstg_survey__responses\b", text)
    assert re.search(r"\bstg_survey__answers\b", text)
