"""Golden scoring tests: hand-worked scores through the real SQL models."""

from __future__ import annotations

import duckdb
import pytest

from resilience.sqlfiles import quote_identifier
from tests.conftest import materialize

PROQOL_CS = [3, 6, 12, 16, 18, 20, 22, 24, 27, 30]
PROQOL_BO = [1, 4, 8, 10, 15, 17, 19, 21, 26, 29]
PROQOL_BO_REVERSED = {1, 4, 15, 17, 29}
PROQOL_STS = [2, 5, 7, 9, 11, 13, 14, 23, 25, 28]


def add_response(con: duckdb.DuckDBPyConnection, key: str, answers: dict[str, int]) -> None:
    columns = ["response_key", "file_sha256", "source_row", "team", "wave", "run_id", *answers]
    values = [key, "f", 1, "T001", "2025-05", "r", *(str(v) for v in answers.values())]
    con.execute(
        f"insert into raw_responses ({', '.join(map(quote_identifier, columns))}) "
        f"values ({', '.join('?' for _ in values)})",
        values,
    )


def scores(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], tuple]:
    materialize(
        con,
        "stg_survey__answers",
        "int_quality__response_patterns",
        "int_quality__response_flags",
        "stg_survey__responses",
        "int_scale_scores__answered",
        "int_scale_scores__scored",
        "int_scale_scores__banded",
    )
    rows = con.execute(
        "select responses.response_key, banded.indicator, banded.items_answered, banded.score, "
        "banded.band_id from int_scale_scores__banded as banded "
        "inner join stg_survey__responses as responses using (response_row)"
    ).fetchall()
    return {
        (key, indicator): (answered, score, band) for key, indicator, answered, score, band in rows
    }


def proqol(items: list[int], codes: list[int]) -> dict[str, int]:
    return {f"proqol_{item}": code for item, code in zip(items, codes, strict=True)}


@pytest.mark.parametrize(
    ("codes", "expected_sum", "expected_band"),
    [
        ([3, 3, 2, 2, 2, 2, 2, 2, 2, 2], 22, "low"),
        ([3, 3, 3, 2, 2, 2, 2, 2, 2, 2], 23, "moderate"),
        ([5, 4, 4, 4, 4, 4, 4, 4, 4, 4], 41, "moderate"),
        ([5, 5, 4, 4, 4, 4, 4, 4, 4, 4], 42, "high"),
        ([1] * 10, 10, "low"),
        ([5] * 10, 50, "high"),
    ],
)
def test_proqol_compassion_satisfaction_band_edges(
    warehouse, codes, expected_sum, expected_band
) -> None:
    add_response(warehouse, "r1", proqol(PROQOL_CS, codes))
    assert scores(warehouse)[("r1", "proqol_cs")] == (10, expected_sum, expected_band)


def test_proqol_burnout_reverses_exactly_items_1_4_15_17_29(warehouse) -> None:
    # Every burnout item answered 5: the five reversed items count 6 - 5 = 1 each.
    add_response(warehouse, "r1", proqol(PROQOL_BO, [5] * 10))
    # Item 1 answered 1 (reversed: 5), the rest 3 (reversed ones: 3): 5 + 9 * 3 = 32.
    add_response(warehouse, "r2", proqol(PROQOL_BO, [1 if i == 1 else 3 for i in PROQOL_BO]))
    result = scores(warehouse)
    assert result[("r1", "proqol_bo")] == (10, 5 * 5 + 5 * 1, "moderate")
    assert result[("r2", "proqol_bo")] == (10, 32, "moderate")


def test_proqol_sts_has_no_reversed_item(warehouse) -> None:
    add_response(warehouse, "r1", proqol(PROQOL_STS, [5] * 10))
    assert scores(warehouse)[("r1", "proqol_sts")] == (10, 50, "high")


def test_proqol_prorates_at_eight_answered_and_drops_below(warehouse) -> None:
    add_response(warehouse, "eight", proqol(PROQOL_STS[:8], [4] * 8))
    add_response(warehouse, "seven", proqol(PROQOL_STS[:7], [4] * 7))
    # Eight answers summing 18: mean 2.25 x 10 = 22.5, above 22 and so moderate.
    add_response(warehouse, "fraction", proqol(PROQOL_STS[:8], [3, 3, 2, 2, 2, 2, 2, 2]))
    result = scores(warehouse)
    assert result[("eight", "proqol_sts")] == (8, 40, "moderate")
    assert result[("seven", "proqol_sts")] == (7, None, None)
    assert result[("fraction", "proqol_sts")] == (8, 22.5, "moderate")


def test_all_missing_response_has_a_row_per_scale_and_no_scores(warehouse, registry) -> None:
    add_response(warehouse, "empty", {})
    result = {k: v for k, v in scores(warehouse).items() if k[0] == "empty"}
    assert {indicator for _, indicator in result} == {s.indicator for s in registry.scales}
    assert set(result.values()) == {(0, None, None)}


def test_cbi_maps_codes_to_0_100_and_reverses_item_13(warehouse) -> None:
    # Every work item "Always" (100); item 13 is reversed to 0: 600 / 7.
    add_response(warehouse, "r1", {f"cbi_{i}": 1 for i in range(7, 14)})
    # Personal burnout: 75, 50, 50, 50, 50, 25 -> exactly 50, which is high.
    personal_codes = [2, 3, 3, 3, 3, 4]
    add_response(warehouse, "r2", {f"cbi_{i}": c for i, c in enumerate(personal_codes, start=1)})
    # Client burnout with 3 of 6 answered (the minimum): 50, 50, 25 -> 41.666667, low.
    add_response(warehouse, "r3", {"cbi_14": 3, "cbi_15": 3, "cbi_16": 4})
    add_response(warehouse, "r4", {"cbi_14": 3, "cbi_15": 3})
    result = scores(warehouse)
    assert result[("r1", "cbi_work")] == (7, round(600 / 7, 6), "high")
    assert result[("r2", "cbi_personal")] == (6, 50, "high")
    assert result[("r3", "cbi_client")] == (3, round(125 / 3, 6), "low")
    assert result[("r4", "cbi_client")] == (2, None, None)


def test_cbi_work_needs_four_of_seven(warehouse) -> None:
    add_response(warehouse, "four", {f"cbi_{i}": 3 for i in range(7, 11)})
    add_response(warehouse, "three", {f"cbi_{i}": 3 for i in range(7, 10)})
    result = scores(warehouse)
    assert result[("four", "cbi_work")] == (4, 50, "high")
    assert result[("three", "cbi_work")] == (3, None, None)


def test_brs_reverses_items_2_4_6(warehouse) -> None:
    # Agreeing (4) with every item: 4, 2, 4, 2, 4, 2 -> mean 3.0, exactly the normal band's edge.
    add_response(warehouse, "r1", {f"brs_{i}": 4 for i in range(1, 7)})
    # Strongly agree with 1, 3, 5 and strongly disagree with 2, 4, 6: all 5 -> high.
    add_response(warehouse, "r2", {f"brs_{i}": 5 if i % 2 else 1 for i in range(1, 7)})
    result = scores(warehouse)
    assert result[("r1", "brs_resilience")] == (6, 3.0, "normal")
    assert result[("r2", "brs_resilience")] == (6, 5.0, "high")


def test_mini_z_three_or_more_is_burnout(warehouse) -> None:
    add_response(warehouse, "two", {"miniz_1": 2})
    add_response(warehouse, "three", {"miniz_1": 3})
    result = scores(warehouse)
    assert result[("two", "miniz_burnout")] == (1, 2, "none")
    assert result[("three", "miniz_burnout")] == (1, 3, "burnout")


@pytest.mark.parametrize(
    ("indicator", "score", "band"),
    [
        ("proqol_sts", 22, "low"),
        ("proqol_sts", 22.000001, "moderate"),
        ("proqol_sts", 23, "moderate"),
        ("proqol_sts", 41, "moderate"),
        ("proqol_sts", 41.9, "moderate"),
        ("proqol_sts", 42, "high"),
        ("brs_resilience", 2.99, "low"),
        ("brs_resilience", 3.00, "normal"),
        ("brs_resilience", 4.30, "normal"),
        ("brs_resilience", 4.31, "high"),
        ("cbi_client", 49.9, "low"),
        ("cbi_client", 50, "high"),
        ("cbi_personal", 0, "low"),
        ("miniz_burnout", 2.5, "none"),
        ("miniz_burnout", 3, "burnout"),
    ],
)
def test_band_edges(warehouse, indicator, score, band) -> None:
    warehouse.execute(
        "create table int_scale_scores__scored as "
        "select 1 as response_row, ? as indicator, cast(? as double) as score",
        [indicator, score],
    )
    materialize(warehouse, "int_scale_scores__banded")
    assert warehouse.execute("select band_id from int_scale_scores__banded").fetchall() == [(band,)]


# Every scale's items and reversed items as DOMAIN.md lists them (item numbers), and the answer code
# that carries the scale's highest value (CBI codes run from 100 down to 0).
PUBLISHED_SCALES = {
    "proqol_cs": ("proqol", PROQOL_CS, set(), 5),
    "proqol_bo": ("proqol", PROQOL_BO, PROQOL_BO_REVERSED, 5),
    "proqol_sts": ("proqol", PROQOL_STS, set(), 5),
    "cbi_personal": ("cbi", list(range(1, 7)), set(), 1),
    "cbi_work": ("cbi", list(range(7, 14)), {13}, 1),
    "cbi_client": ("cbi", list(range(14, 20)), set(), 1),
    "brs_resilience": ("brs", list(range(1, 7)), {2, 4, 6}, 5),
    "miniz_burnout": ("miniz", [1], set(), 5),
}
# Every item answered in the middle (code 3), then one item at the highest value: the score a plain
# item gives and the score a reversed one gives, worked out by hand.
# ProQOL sum: 10 x 3 = 30; one item 5 -> 32, reversed (6 - 5 = 1) -> 28.
# CBI mean of 50s: one item 100 -> (5 x 50 + 100) / 6 = 58.333333 (personal, client);
#   work has 7 items: (6 x 50 + 100) / 7 = 57.142857, reversed (100 - 100 = 0) -> 300 / 7.
# BRS mean of 3s: one item 5 -> 20 / 6 = 3.333333, reversed (6 - 5 = 1) -> 16 / 6 = 2.666667.
# Mini-Z, one item: 5.
RAISED_SCORES = {
    "proqol_cs": (32, None),
    "proqol_bo": (32, 28),
    "proqol_sts": (32, None),
    "cbi_personal": (58.333333, None),
    "cbi_work": (57.142857, 42.857143),
    "cbi_client": (58.333333, None),
    "brs_resilience": (3.333333, 2.666667),
    "miniz_burnout": (5, None),
}


@pytest.mark.parametrize("indicator", sorted(PUBLISHED_SCALES))
def test_each_scale_reverses_exactly_the_published_items(warehouse, indicator) -> None:
    instrument, items, reversed_items, highest_code = PUBLISHED_SCALES[indicator]
    for raised in items:
        answers = {f"{instrument}_{item}": 3 for item in items}
        answers[f"{instrument}_{raised}"] = highest_code
        add_response(warehouse, f"raised_{raised}", answers)
    plain_score, reversed_score = RAISED_SCORES[indicator]
    result = scores(warehouse)
    for raised in items:
        expected = reversed_score if raised in reversed_items else plain_score
        answered, score, _ = result[(f"raised_{raised}", indicator)]
        assert (answered, score) == (len(items), expected), f"item {raised}"


@pytest.mark.parametrize(
    ("indicator", "answers", "expected"),
    [
        # At the minimum, the answered items are averaged (and x 10 on ProQOL); one fewer: no score.
        ("cbi_personal", {"cbi_1": 2, "cbi_2": 3, "cbi_3": 3}, (3, 58.333333)),
        ("cbi_personal", {"cbi_1": 2, "cbi_2": 3}, (2, None)),
        ("brs_resilience", {"brs_1": 5, "brs_2": 1, "brs_3": 4, "brs_4": 2}, (4, 4.5)),
        ("brs_resilience", {"brs_1": 5, "brs_2": 1, "brs_3": 4}, (3, None)),
        ("miniz_burnout", {"miniz_1": 4}, (1, 4)),
        ("miniz_burnout", {"brs_1": 4}, (0, None)),
        ("proqol_bo", {f"proqol_{i}": 2 for i in PROQOL_BO[:8]}, (8, 30)),
        ("proqol_bo", {f"proqol_{i}": 2 for i in PROQOL_BO[:7]}, (7, None)),
    ],
)
def test_minimum_answered_items_and_proration(warehouse, indicator, answers, expected) -> None:
    # CBI personal: 75, 50, 50 -> 58.333333. BRS: 5, 6 - 1, 4, 6 - 2 = 5, 5, 4, 4 -> 4.5.
    # ProQOL burnout items 1, 4, 8, 10, 15, 17, 19, 21 answered 2: the reversed 1, 4, 15, 17 count
    # 6 - 2 = 4, the others 2: mean 3, prorated x 10 = 30.
    add_response(warehouse, "r1", answers)
    answered, score, _ = scores(warehouse)[("r1", indicator)]
    assert (answered, score) == expected
