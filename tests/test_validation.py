"""Batch validation: the generated GX suite really runs on the pipeline's DuckDB connection."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pytest

from resilience.instruments import Registry, load_registry
from resilience.validation import (
    REQUIRED_COLUMNS,
    RULE_ANSWER_CODE,
    RULE_NOT_NULL,
    RULE_REQUIRED_COLUMN,
    RULE_TEAM_IN_ROSTER,
    BatchValidation,
    RowFailure,
    build_batch_suite,
    validate_batch,
)

if TYPE_CHECKING:
    # Annotations only: resilience.validation must import GX first, with analytics switched off.
    import great_expectations as gx

ROSTER_TEAMS = ("harbour-outreach", "night-shelter")
TABLE = "ingest_batch"
FILE_SHA = "3f" * 32
CONTEXT_COLUMNS = {
    "file_sha256": "VARCHAR",
    "source_row": "BIGINT",
    "response_key": "VARCHAR",
    "team": "VARCHAR",
    "wave": "VARCHAR",
    "recorded_date": "DATE",
    "progress": "DOUBLE",
    "duration_seconds": "DOUBLE",
    "finished": "BOOLEAN",
}

GOOD_EDGE_VALUES = [
    {"proqol_3": None},  # unanswered
    {"ctx_debrief": "9"},
    {"ctx_critical_incident": "0"},
    {"team": ROSTER_TEAMS[1]},
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
]


def good_row(registry: Registry, source_row: int, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "file_sha256": FILE_SHA,
        "source_row": source_row,
        "response_key": f"key-{source_row}",
        "team": ROSTER_TEAMS[0],
        "wave": "2025-spring",
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
    suite: gx.ExpectationSuite,
    rows: Sequence[dict[str, object]],
    without: Sequence[str] = (),
) -> BatchValidation:
    with duckdb.connect(str(directory / "warehouse.duckdb")) as con:
        write_batch(con, registry, rows, without)
        return validate_batch(con, TABLE, suite)


def assert_evaluated(result: BatchValidation) -> None:
    """Every expectation was computed: no GX exception hides behind a failed result."""
    assert [o for o in result.expectation_results if o.error is not None] == []


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.fixture(scope="module")
def suite(registry: Registry) -> gx.ExpectationSuite:
    return build_batch_suite(registry, ROSTER_TEAMS)


@pytest.fixture(scope="module")
def good_result(
    tmp_path_factory: pytest.TempPathFactory, registry: Registry, suite: gx.ExpectationSuite
) -> BatchValidation:
    rows = [good_row(registry, 1)]
    rows += [good_row(registry, n, **edge) for n, edge in enumerate(GOOD_EDGE_VALUES, start=2)]
    return validate_rows(tmp_path_factory.mktemp("good"), registry, suite, rows)


@pytest.fixture(scope="module")
def bad_result(
    tmp_path_factory: pytest.TempPathFactory, registry: Registry, suite: gx.ExpectationSuite
) -> BatchValidation:
    rows = [good_row(registry, 1)]
    rows += [good_row(registry, n, **{column: value}) for n, column, value, _ in BAD_CELLS]
    return validate_rows(tmp_path_factory.mktemp("bad"), registry, suite, rows)


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield con
    con.close()


def test_suite_is_generated_from_definitions_and_roster(
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


def test_an_empty_roster_is_refused(registry: Registry) -> None:
    with pytest.raises(ValueError, match="roster"):
        build_batch_suite(registry, [])


def test_a_good_batch_passes_with_every_expectation_evaluated(
    good_result: BatchValidation, suite: gx.ExpectationSuite
) -> None:
    assert good_result.success
    assert good_result.row_failures == ()
    assert_evaluated(good_result)
    assert len(good_result.expectation_results) == len(suite.expectations)
    assert all(outcome.success for outcome in good_result.expectation_results)
    # A value check that silently computed nothing would report no count at all.
    value_checks = [o for o in good_result.expectation_results if o.rule != RULE_REQUIRED_COLUMN]
    assert {o.unexpected_count for o in value_checks} == {0}


@pytest.mark.parametrize(("source_row", "column", "value", "rule"), BAD_CELLS)
def test_a_bad_value_fails_and_names_its_row(
    bad_result: BatchValidation, source_row: int, column: str, value: str | None, rule: str
) -> None:
    expected = RowFailure(
        file_sha256=FILE_SHA, source_row=source_row, column=column, rule=rule, value=value
    )
    assert expected in bad_result.row_failures
    (outcome,) = [o for o in bad_result.expectation_results if (o.column, o.rule) == (column, rule)]
    assert not outcome.success
    assert outcome.unexpected_count == 1


def test_a_bad_batch_fails_on_exactly_its_bad_cells(bad_result: BatchValidation) -> None:
    assert not bad_result.success
    assert_evaluated(bad_result)
    assert [(f.source_row, f.column) for f in bad_result.row_failures] == [
        (n, column) for n, column, _, _ in BAD_CELLS
    ]
    failed = {(o.column, o.rule) for o in bad_result.expectation_results if not o.success}
    assert failed == {(column, rule) for _, column, _, rule in BAD_CELLS}


def test_a_missing_required_column_fails(
    tmp_path: Path, registry: Registry, suite: gx.ExpectationSuite
) -> None:
    result = validate_rows(tmp_path, registry, suite, [good_row(registry, 1)], without=["wave"])

    assert not result.success
    wave_outcomes = {o.rule: o for o in result.expectation_results if o.column == "wave"}
    assert not wave_outcomes[RULE_REQUIRED_COLUMN].success
    assert wave_outcomes[RULE_REQUIRED_COLUMN].error is None
    # The value check cannot run on a missing column; that shows as an error, not as a pass.
    assert not wave_outcomes[RULE_NOT_NULL].success
    assert wave_outcomes[RULE_NOT_NULL].error is not None


def test_every_failing_row_is_listed_not_just_gx_default_twenty(
    tmp_path: Path, registry: Registry, suite: gx.ExpectationSuite
) -> None:
    rows = [good_row(registry, n, proqol_1="banana") for n in range(1, 26)]
    rows.append(good_row(registry, 26, team=None, cbi_2="0"))

    result = validate_rows(tmp_path, registry, suite, rows)

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
    warehouse: duckdb.DuckDBPyConnection,
    registry: Registry,
    suite: gx.ExpectationSuite,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    working_dir = tmp_path / "cwd"
    working_dir.mkdir()
    monkeypatch.chdir(working_dir)
    write_batch(warehouse, registry, [good_row(registry, 1)])

    assert validate_batch(warehouse, TABLE, suite).success

    assert list(working_dir.iterdir()) == []
    warehouse.execute(f"DELETE FROM {TABLE}")
    assert warehouse.execute(f"SELECT count(*) FROM {TABLE}").fetchone() == (0,)
