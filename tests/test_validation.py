"""The generated GX suites really run on the pipeline's DuckDB connection, and every expectation
both passes a good input and fails a bad one."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pytest

from resilience.instruments import Registry, load_registry
from resilience.rules import (
    BATCH_RULES,
    RULE_ANSWER_CODE,
    RULE_DESCRIPTIONS,
    RULE_DURATION_RANGE,
    RULE_IN_WAVE_WINDOW,
    RULE_KEY_NOT_NULL,
    RULE_KEY_UNIQUE,
    RULE_MIN_GROUP_SIZE,
    RULE_NO_WAVE,
    RULE_NOT_NULL,
    RULE_ONE_RESPONSE_PER_ID,
    RULE_PROGRESS_RANGE,
    RULE_REQUIRED_COLUMN,
    RULE_SHARE_RANGE,
    RULE_SUPPRESSED_EMPTY,
    RULE_TEAM_IN_ROSTER,
)
from resilience.settings import WaveWindow
from resilience.validation import (
    REQUIRED_COLUMNS,
    CheckpointResult,
    MartShape,
    Relation,
    RowFailure,
    batch_relations,
    build_batch_suite,
    build_mart_suite,
    held_back_files,
    validate_batch,
    validate_marts,
)

if TYPE_CHECKING:
    # Annotations only: resilience.validation must import GX first, with analytics switched off.
    import great_expectations as gx

ROSTER_TEAMS = ("harbour-outreach", "night-shelter")
WAVES = {"2025-spring": WaveWindow(start=dt.date(2025, 3, 1), end=dt.date(2025, 3, 31))}
TABLE = "ingest_batch"
FILE_SHA = "3f" * 32
OTHER_FILE_SHA = "4e" * 32
CONTEXT_COLUMNS = {
    "file_sha256": "VARCHAR",
    "source_row": "BIGINT",
    "response_key": "VARCHAR",
    "team": "VARCHAR",
    "wave": "VARCHAR",
    "date_in_no_wave": "VARCHAR",
    "recorded_date": "DATE",
    "progress": "DOUBLE",
    "duration_seconds": "DOUBLE",
    "finished": "BOOLEAN",
}

# Rows that must pass, each testing the edge of a rule.
GOOD_EDGE_VALUES = [
    {"proqol_3": None},  # unanswered
    {"ctx_debrief": "9"},
    {"ctx_critical_incident": "0"},
    {"team": ROSTER_TEAMS[1]},
    {"recorded_date": WAVES["2025-spring"].start},  # both ends of the window are inside
    {"recorded_date": WAVES["2025-spring"].end},
    {"wave": "2024-autumn", "recorded_date": dt.date(2019, 1, 1)},  # a wave without a window
    {"recorded_date": None},
    {"progress": 0.0, "duration_seconds": 0.0},
    {"progress": None, "duration_seconds": None},
]

# (source_row, column, value, rule): one bad cell per row, one row per kind of check.
BAD_CELLS = [
    (2, "proqol_3", "banana", RULE_ANSWER_CODE),
    (3, "cbi_13", "7", RULE_ANSWER_CODE),
    (4, "ctx_debrief", "2", RULE_ANSWER_CODE),  # a code of other items, not of this one
    (5, "team", "ghost-team", RULE_TEAM_IN_ROSTER),
    (6, "response_key", None, RULE_NOT_NULL),
    (7, "team", None, RULE_NOT_NULL),
    (8, "wave", None, RULE_NOT_NULL),
    (9, "recorded_date", dt.date(2025, 4, 1), RULE_IN_WAVE_WINDOW),
    (10, "recorded_date", dt.date(2025, 2, 28), RULE_IN_WAVE_WINDOW),
    (11, "progress", 100.5, RULE_PROGRESS_RANGE),
    (12, "progress", -1.0, RULE_PROGRESS_RANGE),
    (13, "duration_seconds", -3.0, RULE_DURATION_RANGE),
    (14, "date_in_no_wave", "2025-06-02", RULE_NO_WAVE),
]


def good_row(registry: Registry, source_row: int, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "file_sha256": FILE_SHA,
        "source_row": source_row,
        "response_key": f"key-{source_row}",
        "team": ROSTER_TEAMS[0],
        "wave": "2025-spring",
        "date_in_no_wave": None,
        "recorded_date": dt.date(2025, 3, 14),
        "progress": 100.0,
        "duration_seconds": 412.0,
        "finished": True,
    }
    row.update({item.id: str(item.codes[-1]) for item in registry.items})
    row.update(overrides)
    return row


def write_batch(
    con: duckdb.DuckDBPyConnection,
    registry: Registry,
    rows: Sequence[dict[str, object]],
    without: Sequence[str] = (),
) -> None:
    """Create the batch table as ingest does: context columns, then one VARCHAR per item."""
    column_types = CONTEXT_COLUMNS | {item.id: "VARCHAR" for item in registry.items}
    columns = [column for column in column_types if column not in without]
    con.execute(f"CREATE TABLE {TABLE} ({', '.join(f'{c} {column_types[c]}' for c in columns)})")
    placeholders = ", ".join("?" for _ in columns)
    con.executemany(
        f"INSERT INTO {TABLE} VALUES ({placeholders})",
        [[row[column] for column in columns] for row in rows],
    )


def validate_rows(
    directory: Path,
    registry: Registry,
    relations: Sequence[Relation],
    rows: Sequence[dict[str, object]],
    without: Sequence[str] = (),
) -> CheckpointResult:
    with duckdb.connect(str(directory / "warehouse.duckdb")) as con:
        write_batch(con, registry, rows, without)
        return validate_batch(con, relations)


def assert_evaluated(result: CheckpointResult) -> None:
    """Every expectation was computed: no GX exception hides behind a failed result."""
    assert result.errors == []


def outcome(result: CheckpointResult, column: str, rule: str):
    (found,) = [o for o in result.expectation_results if (o.column, o.rule) == (column, rule)]
    return found


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(scope="module")
def relations(registry: Registry) -> list[Relation]:
    return batch_relations(registry, ROSTER_TEAMS, WAVES)


@pytest.fixture(scope="module")
def suite(relations: list[Relation]) -> gx.ExpectationSuite:
    return relations[0].suite


@pytest.fixture(scope="module")
def good_result(
    tmp_path_factory: pytest.TempPathFactory, registry: Registry, relations: list[Relation]
) -> CheckpointResult:
    rows = [good_row(registry, 1)]
    rows += [good_row(registry, n, **edge) for n, edge in enumerate(GOOD_EDGE_VALUES, start=2)]
    # A row repeated verbatim is one response (it loads once); the same id in another file is
    # that file's business (a cumulative export repeats yesterday's responses).
    repeated = good_row(registry, 1)
    rows.append({**repeated, "source_row": 90})
    rows.append({**repeated, "file_sha256": OTHER_FILE_SHA, "source_row": 1, "proqol_1": "1"})
    return validate_rows(tmp_path_factory.mktemp("good"), registry, relations, rows)


@pytest.fixture(scope="module")
def bad_result(
    tmp_path_factory: pytest.TempPathFactory, registry: Registry, relations: list[Relation]
) -> CheckpointResult:
    rows = [good_row(registry, 1)]
    rows += [good_row(registry, n, **{column: value}) for n, column, value, _ in BAD_CELLS]
    # Two different rows under one id in one file: both fail.
    rows.append(good_row(registry, 20, response_key="twice", proqol_1="1"))
    rows.append(good_row(registry, 21, response_key="twice", proqol_1="2"))
    return validate_rows(tmp_path_factory.mktemp("bad"), registry, relations, rows)


def test_suite_is_generated_from_definitions_roster_and_wave_windows(
    registry: Registry, suite: gx.ExpectationSuite
) -> None:
    by_rule: dict[str, list] = {}
    for expectation in suite.expectations:
        by_rule.setdefault(expectation.meta["rule"], []).append(expectation)

    assert [e.column for e in by_rule[RULE_REQUIRED_COLUMN]] == list(REQUIRED_COLUMNS)
    assert [e.column for e in by_rule[RULE_NOT_NULL]] == ["response_key", "team", "wave"]
    assert [e.value_set for e in by_rule[RULE_TEAM_IN_ROSTER]] == [sorted(ROSTER_TEAMS)]
    allowed = {e.column: e.value_set for e in by_rule[RULE_ANSWER_CODE]}
    assert list(allowed) == list(registry.item_ids)
    assert allowed["proqol_1"] == ["1", "2", "3", "4", "5"]
    assert allowed["ctx_debrief"] == ["0", "1", "9"]
    [window] = by_rule[RULE_IN_WAVE_WINDOW]
    assert (window.column, window.min_value, window.max_value) == (
        "recorded_date",
        dt.date(2025, 3, 1),
        dt.date(2025, 3, 31),
    )
    assert set(BATCH_RULES) - set(by_rule) == {RULE_ONE_RESPONSE_PER_ID}
    assert set(BATCH_RULES) <= set(RULE_DESCRIPTIONS)


def test_without_wave_windows_there_is_no_date_rule(registry: Registry) -> None:
    rules = {e.meta["rule"] for e in build_batch_suite(registry, ROSTER_TEAMS).expectations}
    assert RULE_IN_WAVE_WINDOW not in rules
    assert RULE_TEAM_IN_ROSTER in rules


def test_an_empty_roster_is_refused(registry: Registry) -> None:
    with pytest.raises(ValueError, match="roster"):
        build_batch_suite(registry, [])


def test_a_good_batch_passes_with_every_expectation_evaluated(
    good_result: CheckpointResult, relations: list[Relation]
) -> None:
    assert good_result.success
    assert good_result.row_failures == ()
    assert_evaluated(good_result)
    assert len(good_result.expectation_results) == sum(
        len(relation.suite.expectations) for relation in relations
    )
    assert all(o.success for o in good_result.expectation_results)
    # A value check that silently computed nothing would report no count at all.
    value_checks = [o for o in good_result.expectation_results if o.rule != RULE_REQUIRED_COLUMN]
    assert {o.unexpected_count for o in value_checks} == {0}


@pytest.mark.parametrize(("source_row", "column", "value", "rule"), BAD_CELLS)
def test_a_bad_value_fails_and_names_its_row(
    bad_result: CheckpointResult, source_row: int, column: str, value: object, rule: str
) -> None:
    text = value.isoformat() if isinstance(value, dt.date) else value
    expected = RowFailure(
        file_sha256=FILE_SHA,
        source_row=source_row,
        column=column,
        rule=rule,
        value=None if text is None else str(text),
    )
    assert expected in bad_result.row_failures
    assert not outcome(bad_result, column, rule).success


def test_two_different_rows_under_one_id_both_fail(bad_result: CheckpointResult) -> None:
    failures = [f for f in bad_result.row_failures if f.rule == RULE_ONE_RESPONSE_PER_ID]
    assert [(f.source_row, f.value) for f in failures] == [(20, "2"), (21, "2")]
    assert (
        outcome(bad_result, "response_versions_in_file", RULE_ONE_RESPONSE_PER_ID).success is False
    )


def test_a_bad_batch_fails_on_exactly_its_bad_cells(bad_result: CheckpointResult) -> None:
    assert not bad_result.success
    assert_evaluated(bad_result)
    assert [(f.source_row, f.column) for f in bad_result.row_failures] == [
        *((n, column) for n, column, _, _ in BAD_CELLS),
        (20, "response_versions_in_file"),
        (21, "response_versions_in_file"),
    ]
    failed = {(o.column, o.rule) for o in bad_result.failures}
    assert failed == {(column, rule) for _, column, _, rule in BAD_CELLS} | {
        ("response_versions_in_file", RULE_ONE_RESPONSE_PER_ID)
    }


def test_a_missing_required_column_fails(
    tmp_path: Path, registry: Registry, relations: list[Relation]
) -> None:
    result = validate_rows(
        tmp_path, registry, relations[:1], [good_row(registry, 1)], without=["wave"]
    )

    assert not result.success
    wave_outcomes = {o.rule: o for o in result.expectation_results if o.column == "wave"}
    assert not wave_outcomes[RULE_REQUIRED_COLUMN].success
    assert wave_outcomes[RULE_REQUIRED_COLUMN].error is None
    # The value check cannot run on a missing column; that shows as an error, not as a pass.
    assert not wave_outcomes[RULE_NOT_NULL].success
    assert wave_outcomes[RULE_NOT_NULL].error is not None


def test_every_failing_row_is_listed_not_just_gx_default_twenty(
    tmp_path: Path, registry: Registry, relations: list[Relation]
) -> None:
    rows = [good_row(registry, n, proqol_1="banana") for n in range(1, 26)]
    rows.append(good_row(registry, 26, team=None, cbi_2="0"))

    result = validate_rows(tmp_path, registry, relations, rows)

    assert not result.success
    assert_evaluated(result)
    assert [(f.source_row, f.column) for f in result.row_failures] == [
        *((n, "proqol_1") for n in range(1, 26)),
        (26, "cbi_2"),
        (26, "team"),
    ]
    assert len(result.row_failures) == sum(
        o.unexpected_count or 0 for o in result.expectation_results
    )


def test_gx_writes_no_files_and_leaves_the_pipeline_connection_usable(
    registry: Registry, relations: list[Relation], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    working_dir = tmp_path / "cwd"
    working_dir.mkdir()
    monkeypatch.chdir(working_dir)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        write_batch(con, registry, [good_row(registry, 1)])

        assert validate_batch(con, relations).success

        assert list(working_dir.iterdir()) == []
        con.execute(f"DELETE FROM {TABLE}")
        assert con.execute(f"SELECT count(*) FROM {TABLE}").fetchall() == [(0,)]


# --- holding back a file ----------------------------------------------------------------------


def failures(*rows: tuple[str, int]) -> list[RowFailure]:
    return [RowFailure(sha, row, "proqol_1", RULE_ANSWER_CODE, "x") for sha, row in rows]


@pytest.mark.parametrize(
    ("failing", "held_back"),
    [
        ([], set()),
        ([("a", 1), ("a", 2)], set()),  # 2 of 10 is 20%: not more than allowed
        ([("a", 1), ("a", 2), ("a", 3)], {"a"}),  # 30%
        ([("a", 1), ("a", 1), ("a", 2)], set()),  # two cells of one row are one failing row
        ([("b", 1)], {"b"}),  # 1 of 4 is 25%
    ],
)
def test_a_file_is_held_back_when_its_failing_share_passes_the_limit(
    failing: list[tuple[str, int]], held_back: set[str]
) -> None:
    reasons = held_back_files(failures(*failing), {"a": 10, "b": 4}, max_failed_share=0.2)
    assert set(reasons) == held_back


def test_the_held_back_reason_gives_the_counts_and_the_limit() -> None:
    reasons = held_back_files(failures(("a", 1), ("a", 2), ("a", 3)), {"a": 10}, 0.2)
    assert reasons == {
        "a": "3 of 10 rows (30%) failed validation, more than the 20% allowed: the whole file is "
        "held back"
    }


# --- the published tables ---------------------------------------------------------------------

MIN_GROUP_SIZE = 5
SHARES = ["proqol_bo_share_high"]
INDICATOR_COLUMNS = (
    "wave",
    "team_id",
    "indicator",
    "n",
    "value",
    "ci_low",
    "ci_high",
    "suppressed",
)
INDICATORS = MartShape("team_indicators", ("wave", "team_id", "indicator"), INDICATOR_COLUMNS)
TEAMS = MartShape("teams", ("team_id",), ("team_id", "team_name"))
INDICATOR_ROW = {
    "wave": "2025-05",
    "team_id": "T1",
    "indicator": "proqol_bo",
    "n": 5,
    "value": 31.5,
    "ci_low": 28.0,
    "ci_high": 35.0,
    "suppressed": False,
}
GOOD_INDICATOR_ROWS = [
    INDICATOR_ROW,
    {**INDICATOR_ROW, "team_id": "T2", "indicator": "proqol_bo_share_high", "value": 1.0},
    {**INDICATOR_ROW, "team_id": "T3", "indicator": "proqol_bo_share_high", "value": 0.0},
    {
        **INDICATOR_ROW,
        "team_id": "T4",
        **{"n": None, "value": None, "ci_low": None, "ci_high": None, "suppressed": True},
    },
]
# (rule, column, the row that breaks it): each appended to the good rows on its own.
BAD_INDICATOR_ROWS = [
    (RULE_KEY_UNIQUE, "wave, team_id, indicator", INDICATOR_ROW),
    (RULE_KEY_NOT_NULL, "team_id", {**INDICATOR_ROW, "team_id": None}),
    (
        RULE_SHARE_RANGE,
        "value",
        {**INDICATOR_ROW, "team_id": "T5", "indicator": "proqol_bo_share_high", "value": 1.2},
    ),
    (RULE_MIN_GROUP_SIZE, "n", {**INDICATOR_ROW, "team_id": "T6", "n": 4}),
    (
        RULE_SUPPRESSED_EMPTY,
        "value",
        {
            **INDICATOR_ROW,
            "team_id": "T7",
            "n": None,
            "ci_low": None,
            "ci_high": None,
            "suppressed": True,
        },
    ),
]


def validate_tables(tables: dict[MartShape, list[dict[str, object]]]) -> CheckpointResult:
    with duckdb.connect() as con:
        for shape, rows in tables.items():
            con.execute(
                f"create table {shape.name} as select * from (select unnest(?, recursive := true))",
                [rows],
            )
        return validate_marts(
            con,
            [
                Relation(shape.name, build_mart_suite(shape, SHARES, MIN_GROUP_SIZE))
                for shape in tables
            ],
        )


def test_mart_suite_follows_the_stated_key_and_the_columns() -> None:
    rules = [
        (e.meta["rule"], e.column if hasattr(e, "column") else None)
        for e in build_mart_suite(INDICATORS, SHARES, MIN_GROUP_SIZE).expectations
    ]
    assert (RULE_SHARE_RANGE, "value") in rules
    assert (RULE_MIN_GROUP_SIZE, "n") in rules
    assert {column for rule, column in rules if rule == RULE_SUPPRESSED_EMPTY} == {
        "n",
        "value",
        "ci_low",
        "ci_high",
    }
    teams_rules = {e.meta["rule"] for e in build_mart_suite(TEAMS, SHARES, 5).expectations}
    assert teams_rules == {RULE_KEY_UNIQUE, RULE_KEY_NOT_NULL}


def test_good_published_tables_pass_every_check() -> None:
    result = validate_tables(
        {INDICATORS: GOOD_INDICATOR_ROWS, TEAMS: [{"team_id": "T1", "team_name": "Outreach"}]}
    )
    assert_evaluated(result)
    assert result.success, [o.describe() for o in result.failures]
    assert {o.rule for o in result.expectation_results} == {
        RULE_KEY_UNIQUE,
        RULE_KEY_NOT_NULL,
        RULE_SHARE_RANGE,
        RULE_MIN_GROUP_SIZE,
        RULE_SUPPRESSED_EMPTY,
    }


@pytest.mark.parametrize(("rule", "column", "bad_row"), BAD_INDICATOR_ROWS)
def test_a_published_row_that_breaks_a_rule_fails_it(
    rule: str, column: str, bad_row: dict[str, object]
) -> None:
    result = validate_tables({INDICATORS: [*GOOD_INDICATOR_ROWS, bad_row]})

    assert_evaluated(result)
    assert not result.success
    assert [(o.rule, o.column) for o in result.failures] == [(rule, column)]
    assert result.failures[0].describe().startswith(f"team_indicators.{column}: {rule} failed")


def test_a_single_column_key_is_checked_for_repeats() -> None:
    result = validate_tables(
        {TEAMS: [{"team_id": "T1", "team_name": "Outreach"}, {"team_id": "T1", "team_name": "X"}]}
    )
    assert [(o.rule, o.column, o.examples) for o in result.failures] == [
        (RULE_KEY_UNIQUE, "team_id", ("T1",))
    ]
