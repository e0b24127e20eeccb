"""Survey tools export cumulatively: tonight's file repeats yesterday's responses, and the same file
may arrive twice, re-saved or renamed. Each response is loaded exactly once. A newer download of
the same survey, under the name the tool stamps with its date and time, is its corrected
re-export: the responses it no longer holds are removed, as a clean run on the final exports
would leave them."""

from __future__ import annotations

import codecs
import csv
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pytest

from resilience import pipeline
from resilience.formats import DROPPED_STATUSES, survey_name
from resilience.instruments import Registry
from resilience.readers import detect_layout
from resilience.settings import Settings, load_settings
from resilience.status import read_status
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


def deliver(settings: Settings, name: str, content: bytes, hours_ago: float = 1) -> Path:
    """An export that arrived `hours_ago` (an hour by default): the pipeline waits for files
    still being written, and the newest export of a survey wins."""
    export = settings.paths.exports / name
    export.write_bytes(content)
    arrived = time.time() - 3600 * hours_ago
    os.utime(export, (arrived, arrived))
    return export


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


# The names Qualtrics gives two downloads of the survey "staff_survey" a week apart; the second
# was saved beside an earlier download of the same name, so the browser numbered it.
FIRST_DOWNLOAD = "staff_survey_June 1, 2026_10.00.csv"
WEEK_LATER_DOWNLOAD = "staff_survey_June 9, 2026_14.22 (1).csv"
THIRD_DOWNLOAD = "staff_survey_June 16, 2026_08.05.csv"


def warehouse_rows(settings: Settings) -> list[tuple]:
    """Every stored response with its team, wave and answers, without what names the file, row
    and run that loaded it."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(
            "select * exclude (file_sha256, source_row, run_id) from raw_responses order by all"
        ).fetchall()


def clean_run(settings: Settings, registry: Registry, tmp_path: Path) -> Settings:
    """A new project whose exports folder holds the final exports of `settings` (their
    modification times kept), loaded in one run."""
    clean = load_settings(make_project(tmp_path / "clean"))
    for export in clean.paths.exports.iterdir():
        export.unlink()
    for export in settings.paths.exports.iterdir():
        shutil.copy2(export, clean.paths.exports / export.name)
    nightly_load(clean, registry)
    return clean


def loaded_file(report: pipeline.RunReport, name: str) -> pipeline.FileReport:
    [file_report] = [f for f in report.files if f.file_name == name]
    assert file_report.status == "loaded"
    return file_report


def without_rows(rows: Sequence[Sequence[str]], removed: set[str]) -> list[Sequence[str]]:
    response_id = HEADER[0].index("ResponseId")
    return [row for row in rows if row[response_id] not in removed]


def genuine_ids(rows: Sequence[Sequence[str]]) -> list[str]:
    status, response_id = HEADER[0].index("Status"), HEADER[0].index("ResponseId")
    return sorted({row[response_id] for row in rows if row[status] not in DROPPED_STATUSES} - {""})


def test_survey_names_leave_out_each_tools_download_stamp_and_nothing_else() -> None:
    assert survey_name(WEEK_LATER_DOWNLOAD, "qualtrics_modern") == "staff_survey"
    assert survey_name("Staff Survey_June 5, 2026_09.05.csv", "qualtrics_legacy") == "Staff Survey"
    assert survey_name("StaffSurvey_DATA_2026-06-09_1422.csv", "redcap_raw") == "StaffSurvey"
    assert survey_name("StaffSurvey_DATA_LABELS_2026-06-09_1422.csv", "redcap_labels") == (
        "StaffSurvey"
    )
    assert survey_name("Staff survey(1-120).xlsx", "microsoft_forms") == "Staff survey"
    assert survey_name("Staff survey (2).xlsx", "microsoft_forms") == "Staff survey"
    # Wave labels and dates without a time of day are part of the survey's name.
    for kept in ("staff_survey_2025-05.csv", "staff_survey_2026-01-31.csv", "pulse_2026.csv"):
        assert survey_name(kept, "qualtrics_modern") == Path(kept).stem
    assert survey_name("StaffSurvey_DATA_2026-06-09.csv", "redcap_raw") == (
        "StaffSurvey_DATA_2026-06-09"
    )
    # One tool's stamp is not another's.
    assert survey_name("staff_survey_June 9, 2026_14.22.csv", "redcap_raw") == (
        "staff_survey_June 9, 2026_14.22"
    )


REAL_EXPORTS = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "real-exports"


@pytest.mark.parametrize(
    ("real_export", "download_name"),
    [
        ("qualtrics_modern_qualtRics_sample.csv", "Umfrage_March 3, 2021_10.25.csv"),
        ("qualtrics_legacy_qualtRics_sample.csv", "Umfrage_March 3, 2021_10.25 (2).csv"),
        ("qualtrics_insights_matrix.csv", "Matrix Questions_May 15, 2017_12.34.csv"),
        ("redcap_raw_survey.csv", "SurveyProject_DATA_2019-05-15_1434.csv"),
    ],
)
def test_a_real_export_under_its_tools_download_name_is_a_version_of_its_survey(
    real_export: str, download_name: str, tmp_path: Path
) -> None:
    if not REAL_EXPORTS.is_dir():
        pytest.skip(f"real exports not found at {REAL_EXPORTS}")
    download = tmp_path / download_name
    shutil.copy2(REAL_EXPORTS / real_export, download)
    export_format = detect_layout(download).format
    assert survey_name(download.name, export_format) == download_name.split("_")[0]


def two_downloads() -> tuple[list[Sequence[str]], list[Sequence[str]], set[str]]:
    """The rows of a first download, of one a week later (some responses deleted at the source,
    some answers corrected, new responses added), and the ids of the deleted responses."""
    first_rows = ROWS[:YESTERDAY_ROWS]
    ids = genuine_ids(first_rows)
    removed, changed = set(ids[3::25]), set(ids[5::25])
    response_id, first_item = HEADER[0].index("ResponseId"), HEADER[0].index("Q1_1")
    later_rows = [
        [*row[:first_item], "1" if row[first_item] != "1" else "5", *row[first_item + 1 :]]
        if row[response_id] in changed
        else row
        for row in without_rows(ROWS, removed)
    ]
    return first_rows, later_rows, removed


def test_a_newer_download_of_the_same_survey_removes_the_responses_it_no_longer_holds(
    settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    first_rows, later_rows, removed = two_downloads()
    first = deliver(settings, FIRST_DOWNLOAD, csv_text(HEADER + first_rows).encode(), 200)
    nightly_load(settings, registry)
    second = deliver(settings, WEEK_LATER_DOWNLOAD, csv_text(HEADER + later_rows).encode(), 30)
    later = loaded_file(nightly_load(settings, registry), WEEK_LATER_DOWNLOAD)
    assert later.rows_deleted == len(removed) == 8
    assert later.rows_corrected > 0
    assert later.replaces_sha256 == [pipeline.file_sha256(first)]
    everyone = genuine_responses(later_rows)
    assert responses_in_warehouse(settings) == (everyone, everyone)
    [replacement] = read_status(settings).replacements
    assert (replacement.file_name, replacement.replaces) == (WEEK_LATER_DOWNLOAD, [FIRST_DOWNLOAD])
    assert replacement.rows_deleted == len(removed)

    # A third download replaces the second (which replaced the first) and removes three more.
    removed_since = set(genuine_ids(later_rows)[10:13])
    third_rows = without_rows(later_rows, removed_since)
    deliver(settings, THIRD_DOWNLOAD, csv_text(HEADER + third_rows).encode(), 2)
    third = loaded_file(nightly_load(settings, registry), THIRD_DOWNLOAD)
    assert third.rows_deleted == len(removed_since) == 3
    assert third.replaces_sha256 == [pipeline.file_sha256(second)]
    everyone = genuine_responses(third_rows)
    assert responses_in_warehouse(settings) == (everyone, everyone)
    assert [r.file_name for r in read_status(settings).replacements] == [THIRD_DOWNLOAD]

    # A clean run reads the three downloads at once, and the newest wins there too.
    clean = clean_run(settings, registry, tmp_path)
    assert warehouse_rows(clean) == warehouse_rows(settings)
    with duckdb.connect(str(clean.warehouse_path), read_only=True) as con:
        assert con.execute(
            "select file_name, len(replaces_sha256), rows_deleted from raw_files order by all"
        ).fetchall() == [
            (FIRST_DOWNLOAD, 0, 0),
            (THIRD_DOWNLOAD, 1, len(removed_since)),
            (WEEK_LATER_DOWNLOAD, 1, len(removed)),
        ]


def test_an_older_download_that_arrives_after_a_newer_one_adds_nothing(
    settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    first_rows, later_rows, _ = two_downloads()
    deliver(settings, WEEK_LATER_DOWNLOAD, csv_text(HEADER + later_rows).encode(), 2)
    nightly_load(settings, registry)
    before = warehouse_rows(settings)
    # Last week's download turns up in the folder a night later.
    deliver(settings, FIRST_DOWNLOAD, csv_text(HEADER + first_rows).encode(), 200)
    first = loaded_file(nightly_load(settings, registry), FIRST_DOWNLOAD)
    assert (first.rows_loaded, first.rows_deleted, first.replaces_sha256) == (0, 0, [])
    assert first.rows_already_loaded == first.rows_read - first.rows_dropped_status
    assert f"older than {WEEK_LATER_DOWNLOAD}" in (first.reason or "")
    assert warehouse_rows(settings) == before
    assert warehouse_rows(clean_run(settings, registry, tmp_path)) == before


def test_keep_first_keeps_the_responses_a_newer_download_no_longer_holds(
    settings: Settings, registry: Registry
) -> None:
    keep_first = settings.model_copy(
        update={"quality": settings.quality.model_copy(update={"reexports": "keep-first"})}
    )
    first_rows, later_rows, _ = two_downloads()
    deliver(keep_first, FIRST_DOWNLOAD, csv_text(HEADER + first_rows).encode(), 200)
    nightly_load(keep_first, registry)
    deliver(keep_first, WEEK_LATER_DOWNLOAD, csv_text(HEADER + later_rows).encode(), 2)
    later = loaded_file(nightly_load(keep_first, registry), WEEK_LATER_DOWNLOAD)
    assert (later.rows_deleted, later.rows_corrected, later.replaces_sha256) == (0, 0, [])
    everyone = genuine_responses(ROWS)
    assert responses_in_warehouse(keep_first) == (everyone, everyone)
    assert read_status(keep_first).replacements == []


def test_a_filtered_download_that_shares_no_response_replaces_nothing(
    settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    # The second download holds only the responses recorded since the first: same survey name,
    # no response in common, so it is not a complete export of the survey.
    deliver(settings, FIRST_DOWNLOAD, csv_text(HEADER + ROWS[:YESTERDAY_ROWS]).encode(), 200)
    nightly_load(settings, registry)
    deliver(settings, WEEK_LATER_DOWNLOAD, csv_text(HEADER + ROWS[YESTERDAY_ROWS:]).encode(), 2)
    later = loaded_file(nightly_load(settings, registry), WEEK_LATER_DOWNLOAD)
    assert (later.rows_deleted, later.replaces_sha256) == (0, [])
    everyone = genuine_responses(ROWS)
    assert responses_in_warehouse(settings) == (everyone, everyone)
    assert warehouse_rows(clean_run(settings, registry, tmp_path)) == warehouse_rows(settings)


def test_the_samples_per_wave_exports_never_replace_one_another(
    settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    waves = sorted((SAMPLE_DIR / "exports").glob("*.csv"))
    for night, wave in enumerate(waves):
        # One wave a night, each export newer than the ones before.
        deliver(settings, wave.name, wave.read_bytes(), hours_ago=len(waves) - night)
        wave_report = loaded_file(nightly_load(settings, registry), wave.name)
        assert (wave_report.rows_deleted, wave_report.replaces_sha256) == (0, [])
    assert read_status(settings).replacements == []
    assert warehouse_rows(clean_run(settings, registry, tmp_path)) == warehouse_rows(settings)
