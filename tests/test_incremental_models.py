"""Tonight's new responses are scored on their own: the per-response models keep what they built
for earlier responses, and every model ends up exactly as a whole build would make it."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from resilience import pipeline
from resilience.instruments import Registry
from resilience.settings import Settings, load_settings
from resilience.sqlfiles import models_in_build_order, quote_identifier
from resilience.warehouse import ensure_schema, models_built_from
from tests.conftest import make_project

HELD_BACK_ROWS = 40
COPYING_RESPONSE_ID = "R_IncrementalDup1"
PLANTED_ROW = -1


def run_through_transform(settings: Settings, registry: Registry) -> list[str]:
    report = pipeline.new_run()
    for stage in (pipeline.ingest_exports, pipeline.validate):
        report = stage(settings, report, registry)
    pipeline.load(settings, report)
    return pipeline.transform(settings, registry)


def plant_answer(settings: Settings) -> None:
    """An answer no build makes: it outlives a build that adds to the table, not one that
    replaces it."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(f"insert into stg_survey__answers values ({PLANTED_ROW}, 'planted', 0, 0)")


def planted_answer_kept(settings: Settings) -> bool:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        [(kept,)] = con.execute(
            "select count(*) = 1 from stg_survey__answers where response_row = ?", [PLANTED_ROW]
        ).fetchall()
    return kept


def remove_planted_answer(settings: Settings) -> None:
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("delete from stg_survey__answers where response_row = ?", [PLANTED_ROW])


def excluded_as_duplicates(settings: Settings) -> int:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        [(count,)] = con.execute(
            "select count(*) from int_quality__response_flags "
            "where list_contains(exclusion_reasons, 'duplicate_answers')"
        ).fetchall()
    return count


@dataclass(frozen=True)
class CumulativeNights:
    """A project whose newest export is cumulative: `yesterday` holds its records without the last
    rows, `tonight` every row and one more response that gives exactly the answers of one of
    yesterday's, in the same team and wave."""

    settings: Settings
    export: Path
    yesterday: list[list[str]]
    tonight: list[list[str]]


@pytest.fixture
def cumulative_nights(tmp_path: Path) -> CumulativeNights:
    config = make_project(tmp_path)
    config.write_text(
        config.read_text(encoding="utf-8")
        + '[quality]\nexclude = ["too_fast", "straight_lined", "duplicate_answers"]\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    export = sorted(settings.paths.exports.glob("*.csv"))[-1]
    with export.open(encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle))
    header, data = records[:3], records[3:]
    columns = header[0]
    copied = next(
        row
        for row in data[: -HELD_BACK_ROWS - 1]
        if row[columns.index("Status")] == "0" and row[columns.index("Progress")] == "100"
    )
    copy = list(copied)
    copy[columns.index("ResponseId")] = COPYING_RESPONSE_ID
    yesterday = header + data[:-HELD_BACK_ROWS]
    tonight = header + data + [copy]
    return CumulativeNights(settings, export, yesterday, tonight)


def write_records(path: Path, records: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(records)


def test_new_responses_are_added_to_the_per_response_models_as_a_whole_build_would(
    cumulative_nights: CumulativeNights, registry: Registry
) -> None:
    settings, export = cumulative_nights.settings, cumulative_nights.export
    write_records(export, cumulative_nights.yesterday)
    assert "stg_survey__answers" in run_through_transform(settings, registry)
    duplicates_yesterday = excluded_as_duplicates(settings)
    plant_answer(settings)

    write_records(export, cumulative_nights.tonight)
    assert "team_indicators" in run_through_transform(settings, registry)
    assert planted_answer_kept(settings)
    remove_planted_answer(settings)
    # The new response repeats an earlier one's answers: both are excluded now.
    assert excluded_as_duplicates(settings) == duplicates_yesterday + 2

    models = [path.stem for path in models_in_build_order()]
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema incremental_build")
        for model in models:
            con.execute(
                f"create table incremental_build.{quote_identifier(model)} as "
                f"select * from {quote_identifier(model)}"
            )
        con.execute("delete from transform_state")
    plant_answer(settings)
    assert "stg_survey__answers" in pipeline.transform(settings, registry)
    assert not planted_answer_kept(settings)

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        for model in models:
            whole = quote_identifier(model)
            incremental = f"incremental_build.{whole}"
            for first, second in ((whole, incremental), (incremental, whole)):
                [(differing,)] = con.execute(
                    f"select count(*) from (select * from {first} except all "
                    f"select * from {second})"
                ).fetchall()
                assert differing == 0, f"{model}: {differing} rows of {first} not in {second}"


def test_a_changed_earlier_response_rebuilds_the_models_whole(
    cumulative_nights: CumulativeNights, registry: Registry
) -> None:
    settings = cumulative_nights.settings
    write_records(cumulative_nights.export, cumulative_nights.tonight)
    run_through_transform(settings, registry)
    assert pipeline.transform(settings, registry) == []
    plant_answer(settings)

    # Raw responses are only ever appended; were one changed in place, what was built from it
    # could not be kept.
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("update raw_responses set duration_seconds = 1 where rowid = 0")
    assert "stg_survey__answers" in pipeline.transform(settings, registry)
    assert not planted_answer_kept(settings)


def test_a_warehouse_from_before_incremental_builds_gets_a_whole_build(registry: Registry) -> None:
    with duckdb.connect() as con:
        con.execute(
            "create table transform_state (inputs_fingerprint varchar not null, "
            "built_at timestamp not null)"
        )
        con.execute("insert into transform_state values ('built by an older version', now())")
        ensure_schema(con, registry)
        assert models_built_from(con) is None
        columns = [row[0] for row in con.execute("describe transform_state").fetchall()]
        assert columns == [
            "definitions_fingerprint",
            "responses_built",
            "responses_digest",
            "built_at",
        ]
