"""Survey tools export cumulatively: tonight's file repeats yesterday's responses, and the same file
may arrive twice, re-saved or renamed. Each response is loaded exactly once."""

from __future__ import annotations

import codecs
import csv
import os
import time
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pytest

from resilience import pipeline
from resilience.formats import DROPPED_STATUSES
from resilience.instruments import Registry
from resilience.settings import Settings, load_settings
from tests.conftest import SAMPLE_DIR, make_project
from tests.test_ingest_formats import csv_text, write_xlsx

SAMPLE_EXPORT = SAMPLE_DIR / "exports" / "staff_survey_2025-05.csv"
TONIGHT_ROWS = 300
YESTERDAY_ROWS = 200


def sample_records() -> tuple[list[list[str]], list[list[str]]]:
    """The sample export's header rows, and its first rows: tonight's cumulative export."""
    with SAMPLE_EXPORT.open(encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle))
    return records[:3], records[3 : 3 + TONIGHT_ROWS]


HEADER, ROWS = sample_records()


def genuine_responses(rows: Sequence[Sequence[str]]) -> int:
    """Distinct response ids among the rows that are not previews, tests or spam."""
    status, response_id = HEADER[0].index("Status"), HEADER[0].index("ResponseId")
    return len({row[response_id] for row in rows if row[status] not in DROPPED_STATUSES})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The sample project with an empty exports folder."""
    loaded = load_settings(make_project(tmp_path))
    for export in loaded.paths.exports.iterdir():
        export.unlink()
    return loaded


def deliver(settings: Settings, name: str, content: bytes) -> None:
    """An export that arrived an hour ago: the pipeline waits for files still being written."""
    export = settings.paths.exports / name
    export.write_bytes(content)
    an_hour_ago = time.time() - 3600
    os.utime(export, (an_hour_ago, an_hour_ago))


def nightly_load(settings: Settings, registry: Registry) -> pipeline.RunReport:
    report = pipeline.new_run()
    report = pipeline.ingest_exports(settings, report, registry)
    report = pipeline.validate(settings, report, registry)
    return pipeline.load(settings, report)


def responses_in_warehouse(settings: Settings) -> tuple[int, int]:
    """Rows of raw_responses, and distinct response keys among them."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        [(rows, keys)] = con.execute(
            "select count(*), count(distinct response_key) from raw_responses"
        ).fetchall()
    return rows, keys


def test_the_same_export_twice_is_read_once(settings: Settings, registry: Registry) -> None:
    export = csv_text(HEADER + ROWS[:YESTERDAY_ROWS]).encode("utf-8")
    deliver(settings, "staff_survey_yesterday.csv", export)
    first = nightly_load(settings, registry)
    expected = genuine_responses(ROWS[:YESTERDAY_ROWS])
    assert first.total("rows_loaded") == expected
    assert responses_in_warehouse(settings) == (expected, expected)
    deliver(settings, "staff_survey_downloaded_again.csv", export)
    second = nightly_load(settings, registry)
    assert {f.status for f in second.files} == {"skipped"}
    assert responses_in_warehouse(settings) == (expected, expected)


def test_tonights_cumulative_export_adds_only_the_new_responses(
    settings: Settings, registry: Registry
) -> None:
    deliver(
        settings, "staff_survey_yesterday.csv", csv_text(HEADER + ROWS[:YESTERDAY_ROWS]).encode()
    )
    nightly_load(settings, registry)
    deliver(settings, "staff_survey_tonight.csv", csv_text(HEADER + ROWS).encode("utf-8"))
    tonight = nightly_load(settings, registry)
    [file] = [f for f in tonight.files if f.file_name == "staff_survey_tonight.csv"]
    already = genuine_responses(ROWS[:YESTERDAY_ROWS])
    everyone = genuine_responses(ROWS)
    assert file.rows_loaded == everyone - already
    assert file.rows_already_loaded + file.rows_loaded + file.rows_dropped_status == len(ROWS)
    assert responses_in_warehouse(settings) == (everyone, everyone)
    # Only the new responses were staged for validation and loading.
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from ingest_batch").fetchall() == [
            (everyone - already,)
        ]


def resaved(tmp_path: Path) -> dict[str, bytes]:
    """Tonight's export as a spreadsheet program re-saves it: other bytes, the same responses."""
    records = HEADER + ROWS
    return {
        "excel_unicode_text": codecs.BOM_UTF16_LE
        + csv_text(records, delimiter="\t", newline="\r\n").encode("utf-16-le"),
        "windows_1252": csv_text(records, newline="\r\n").encode("cp1252"),
        "workbook": write_xlsx(tmp_path / "resaved.xlsx", {"Sheet1": records}).read_bytes(),
    }


@pytest.mark.parametrize("form", ["excel_unicode_text", "windows_1252", "workbook"])
def test_a_resaved_copy_of_a_loaded_export_adds_nothing(
    form: str, settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    deliver(settings, "staff_survey_tonight.csv", csv_text(HEADER + ROWS).encode("utf-8"))
    nightly_load(settings, registry)
    before = responses_in_warehouse(settings)
    # The sample mapping applies to staff_survey_*.csv; a workbook keeps that name here.
    deliver(settings, f"staff_survey_{form}.csv", resaved(tmp_path)[form])
    again = nightly_load(settings, registry)
    [file] = [f for f in again.files if f.file_name == f"staff_survey_{form}.csv"]
    assert (file.status, file.rows_loaded, file.rows_quarantined) == ("loaded", 0, 0)
    assert file.rows_already_loaded == file.rows_read - file.rows_dropped_status
    assert responses_in_warehouse(settings) == before


def test_two_copies_of_one_export_in_the_same_run_are_read_once(
    settings: Settings, registry: Registry
) -> None:
    export = csv_text(HEADER + ROWS[:YESTERDAY_ROWS]).encode("utf-8")
    deliver(settings, "staff_survey_a.csv", export)
    deliver(settings, "staff_survey_b.csv", export)
    report = nightly_load(settings, registry)
    statuses = {f.file_name: (f.status, f.reason) for f in report.files}
    assert statuses["staff_survey_a.csv"] == ("loaded", None)
    assert statuses["staff_survey_b.csv"] == ("skipped", "same content as staff_survey_a.csv")
    expected = genuine_responses(ROWS[:YESTERDAY_ROWS])
    assert responses_in_warehouse(settings) == (expected, expected)
