"""Validation in the pipeline, on the sample with planted problems: good rows load, bad rows are
quarantined with their reasons, a file with too many bad rows is held back, careless responding is
flagged, every row read is accounted for, and the dry run says the same without loading anything."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import tomllib
from pathlib import Path

import duckdb
import pytest

from resilience import pipeline
from resilience.cli import main
from resilience.instruments import Registry
from resilience.quality_report import (
    VALIDATION_PAGE,
    read_validation_state,
    validation_markdown,
    write_validation_report,
)
from resilience.report import summary_lines
from resilience.settings import Settings, load_settings
from resilience.status import read_status
from resilience.validation import PublishedDataError, check_marts, mart_relations
from tests.conftest import SAMPLE_DIR, make_project

SALT = "test-salt-not-secret"  # the one make_project writes
SOURCE = "qualtrics_staff_survey"
HEADER_ROWS = 3
EDITED = "staff_survey_2025-05.csv"
HELD_BACK = "staff_survey_2025-05-late.csv"
WAVE_WINDOW = '[quality.waves]\n"2025-05" = { start = 2025-05-01, end = 2025-05-31 }\n'
# The cells planted in EDITED: (data row, export column, value); each row had status 0 and a
# response id of its own.
PLANTED = [
    (3, "Q1_1", "banana"),
    (5, "team", "T999"),
    (8, "RecordedDate", "2025-07-15 10:00:00"),
]
# What validation must find: (row, column, rule, value). Rows 10 and 11 get one response id.
EXPECTED_QUARANTINE = [
    (3, "proqol_1", "answer_in_allowed_codes", "banana"),
    (5, "team", "team_in_roster", "T999"),
    (8, "recorded_date", "recorded_in_wave_window", "2025-07-15"),
    (10, "response_versions_in_file", "one_response_per_id_in_file", "2"),
    (11, "response_versions_in_file", "one_response_per_id_in_file", "2"),
]
HELD_BACK_REASON = (
    f"{HELD_BACK}: 3 of 10 rows (30%) failed validation, more than the 20% allowed: the whole file "
    "is held back"
)


def read_export(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def write_export(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def plant_problems(exports: Path) -> None:
    """Break five rows of one export, and add a ten-row export with three bad rows."""
    rows = read_export(exports / EDITED)
    header = rows[0]
    for row, column, value in PLANTED:
        rows[HEADER_ROWS - 1 + row][header.index(column)] = value
    response_id = header.index("ResponseId")
    rows[HEADER_ROWS - 1 + 10][response_id] = rows[HEADER_ROWS - 1 + 11][response_id]
    # A label in other case and spacing is still a valid answer.
    rows[HEADER_ROWS - 1 + 12][header.index("Q2_13")] = "  sometimes "
    write_export(exports / EDITED, rows)

    late = [list(row) for row in rows[: HEADER_ROWS + 29][-10:]]
    for number, row in enumerate(late, start=1):
        row[response_id] = f"R_late{number:04d}"
        if number in (2, 4, 6):
            row[header.index("Q3_1")] = "9"
    write_export(exports / HELD_BACK, rows[:HEADER_ROWS] + late)


def make_problem_project(directory: Path) -> Path:
    config = make_project(directory)
    config.write_text(config.read_text(encoding="utf-8") + WAVE_WINDOW, encoding="utf-8")
    plant_problems(directory / "inputs" / "exports")
    return config


def run_until_load(settings: Settings, registry: Registry) -> pipeline.RunReport:
    report = pipeline.new_run()
    report = pipeline.ingest_exports(settings, report, registry)
    report = pipeline.validate(settings, report, registry)
    return pipeline.load(settings, report)


def response_key(response_id: str) -> str:
    return hashlib.sha256(f"{SALT}:{SOURCE}:{response_id}".encode()).hexdigest()


def query(settings: Settings, sql: str, parameters: list | None = None) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql, parameters or []).fetchall()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_problem_project(tmp_path_factory.mktemp("problems"))


@pytest.fixture(scope="module")
def settings(project: Path) -> Settings:
    return load_settings(project)


@pytest.fixture(scope="module")
def first_run(settings: Settings, registry: Registry) -> pipeline.RunReport:
    """The run up to the published tables' checks, which transform runs (and which pass)."""
    report = run_until_load(settings, registry)
    pipeline.transform(settings, registry)
    return report


@pytest.fixture(scope="module")
def files(first_run: pipeline.RunReport) -> dict[str, pipeline.FileReport]:
    return {report.file_name: report for report in first_run.files}


def test_good_rows_load_and_bad_rows_are_quarantined_with_their_reasons(
    files: dict[str, pipeline.FileReport], settings: Settings
) -> None:
    edited = files[EDITED]
    assert edited.status == "loaded"
    # 1006 rows: 3 previews, tests or spam, 3 verbatim repeats, 5 bad rows, 995 loaded.
    assert (
        edited.rows_read,
        edited.rows_dropped_status,
        edited.rows_already_loaded,
        edited.rows_repeated,
        edited.rows_quarantined,
        edited.rows_loaded,
    ) == (1006, 3, 0, 3, 5, 995)
    assert (
        query(
            settings,
            "select source_row, column_name, rule, value from quarantine "
            "where file_sha256 = ? order by source_row, column_name",
            [edited.file_sha256],
        )
        == EXPECTED_QUARANTINE
    )
    assert query(
        settings,
        "select count(*), count(*) filter (where source_row in (3, 5, 8, 10, 11)) "
        "from raw_responses where file_sha256 = ?",
        [edited.file_sha256],
    ) == [(995, 0)]


def test_a_file_with_too_many_bad_rows_is_held_back_whole(
    files: dict[str, pipeline.FileReport], settings: Settings
) -> None:
    late = files[HELD_BACK]
    assert (late.status, late.reason) == ("held_back", HELD_BACK_REASON)
    assert (late.rows_read, late.rows_quarantined, late.rows_loaded) == (10, 10, 0)
    assert query(
        settings,
        "select status, reason, rows_quarantined, rows_loaded from raw_files where file_name = ?",
        [HELD_BACK],
    ) == [("held_back", HELD_BACK_REASON, 10, 0)]
    assert query(
        settings,
        "select source_row, column_name, rule from quarantine where file_sha256 = ? "
        "order by source_row nulls first",
        [late.file_sha256],
    ) == [
        (None, None, "file_held_back"),
        (2, "brs_1", "answer_in_allowed_codes"),
        (4, "brs_1", "answer_in_allowed_codes"),
        (6, "brs_1", "answer_in_allowed_codes"),
    ]
    assert query(
        settings, "select count(*) from raw_responses where file_sha256 = ?", [late.file_sha256]
    ) == [(0,)]


def test_every_row_read_is_accounted_for(first_run: pipeline.RunReport, settings: Settings) -> None:
    stored = dict(
        query(
            settings,
            "select raw_responses.file_sha256, count(*) filter (where not flags.excluded) "
            "from raw_responses inner join int_quality__response_flags as flags "
            "using (response_key) where raw_responses.run_id = ? group by all",
            [first_run.run_id],
        )
    )
    excluded = dict(
        query(
            settings,
            "select raw_responses.file_sha256, count(*) filter (where flags.excluded) "
            "from raw_responses inner join int_quality__response_flags as flags "
            "using (response_key) where raw_responses.run_id = ? group by all",
            [first_run.run_id],
        )
    )
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        state = {outcome.file_sha256: outcome for outcome in read_validation_state(con).files}
    for report in first_run.files:
        kept = stored.get(report.file_sha256, 0)
        dropped_out = excluded.get(report.file_sha256, 0)
        assert state[report.file_sha256].rows_excluded == dropped_out
        assert report.rows_loaded == kept + dropped_out
        assert report.rows_read == (
            kept
            + report.rows_quarantined
            + dropped_out
            + report.rows_dropped_status
            + report.rows_already_loaded
            + report.rows_repeated
        ), report.file_name
    # Planted in the sample: 3000 genuine responses, 16 previews, tests or spam, 7 verbatim
    # repeats; and here 5 bad rows in one file plus a held-back file of 10.
    assert first_run.total("rows_read") == 3023 + 10
    assert first_run.total("rows_dropped_status") == 16
    assert first_run.total("rows_already_loaded") == 0
    assert first_run.total("rows_repeated") == 7
    assert first_run.total("rows_quarantined") == 5 + 10
    assert sum(stored.values()) + sum(excluded.values()) == 3000 - 5
    assert sum(excluded.values()) > 0


def seconds_per_answer(settings: Settings) -> dict[str, float]:
    """Each loaded response's duration over its answered items, worked out from the exports."""
    mapping = tomllib.loads((SAMPLE_DIR / "mappings" / "qualtrics_staff_survey.toml").read_text())
    item_columns = [c for c, target in mapping["columns"].items() if target not in ("team", "wave")]
    keys = {key for (key,) in query(settings, "select response_key from raw_responses")}
    paces: dict[str, float] = {}
    for path in sorted(settings.paths.exports.glob("*.csv")):
        export = read_export(path)
        header = export[0]
        for row in export[HEADER_ROWS:]:
            key = response_key(row[header.index("ResponseId")])
            if key in keys and key not in paces:
                answered = sum(1 for column in item_columns if row[header.index(column)].strip())
                if answered:  # a response without answers has no pace
                    paces[key] = float(row[header.index("Duration (in seconds)")]) / answered
    return paces


def test_careless_flags_find_what_the_sample_planted(settings: Settings) -> None:
    flagged = dict(query(settings, "select response_key, flags from int_quality__response_flags"))
    truth = json.loads((SAMPLE_DIR / "sample.json").read_text(encoding="utf-8"))
    straight_liners = {response_key(r) for r in truth["straight_liner_response_ids"]}
    assert {key for key, raised in flagged.items() if "straight_lined" in raised} == (
        straight_liners & set(flagged)
    )
    assert len(straight_liners & set(flagged)) >= 30
    # Under two seconds per answered item, worked out from the export itself.
    paces = seconds_per_answer(settings)
    assert {key for key, raised in flagged.items() if "too_fast" in raised} == {
        key for key, pace in paces.items() if pace < 2
    }
    planted_fast = {response_key(r) for r in truth["fast_response_ids"]} & set(flagged)
    assert planted_fast <= {key for key, raised in flagged.items() if "too_fast" in raised}


def test_excluded_responses_stay_in_the_warehouse_with_the_reason(settings: Settings) -> None:
    reasons = query(
        settings,
        "select exclusion_reasons, count(*) from int_quality__response_flags "
        "inner join raw_responses using (response_key) where excluded group by all order by all",
    )
    assert {tuple(reason) for reason, _ in reasons} <= {
        ("too_fast",),
        ("straight_lined",),
        ("too_fast", "straight_lined"),
    }
    assert sum(count for _, count in reasons) > 0


def test_a_published_table_that_breaks_a_rule_fails_the_run_loudly(
    first_run: pipeline.RunReport, settings: Settings, tmp_path: Path
) -> None:
    # The first run's transform checked these very tables and they passed.
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(settings.warehouse_path, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "update team_indicators set n = 3 where (wave, team_id, indicator) in "
            "(select (wave, team_id, indicator) from team_indicators where not suppressed "
            "limit 1)"
        )
        with pytest.raises(PublishedDataError, match=r"team_indicators\.n: "):
            check_marts(con, min_group_size=5)


def test_a_held_back_file_is_read_again_only_when_what_it_is_read_with_changes(
    first_run: pipeline.RunReport, settings: Settings, registry: Registry
) -> None:
    unchanged = run_until_load(settings, registry)

    statuses = {report.file_name: report.status for report in unchanged.files}
    assert statuses == {
        HELD_BACK: "needs_attention",
        EDITED: "skipped",
        "staff_survey_2025-09.csv": "skipped",
        "staff_survey_2026-01.csv": "skipped",
    }
    [held] = [report for report in unchanged.files if report.file_name == HELD_BACK]
    assert held.reason.startswith(HELD_BACK_REASON + " (unchanged since;")
    assert query(settings, "select run_id from raw_files where file_name = ?", [HELD_BACK]) == [
        (first_run.run_id,)
    ]
    assert dict(summary_lines(unchanged))[f"needs attention: {HELD_BACK}"] == (
        "fix: see its quarantined cells in the validation report and fix the mapping, roster "
        "aliases or waves file they point to"
    )
    [attention] = read_status(settings).needs_attention
    assert (attention.file_name, attention.status) == (HELD_BACK, "held_back")
    assert attention.fix.startswith("see its quarantined cells")

    # Someone looked at the mapping: the file is read again with it.
    [mapping] = settings.paths.mappings.glob("*.toml")
    with mapping.open("a", encoding="utf-8") as handle:
        handle.write("\n# checked against the survey tool\n")
    second = run_until_load(settings, registry)

    assert {r.file_name: r.status for r in second.files}[HELD_BACK] == "held_back"
    assert query(
        settings,
        "select count(distinct run_id) from quarantine where rule = 'file_held_back'",
    ) == [(2,)]
    assert query(settings, "select run_id from raw_files where file_name = ?", [HELD_BACK]) == [
        (second.run_id,)
    ]


def test_the_validation_report_lists_every_file_and_quarantined_cell(
    first_run: pipeline.RunReport, settings: Settings, tmp_path: Path
) -> None:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        state = read_validation_state(con)
        checks = mart_relations(con, 5)
    page = write_validation_report(
        tmp_path, state, settings.quality, checks, first_run.run_id, first_run.started_at
    )

    html = page.read_text(encoding="utf-8")
    assert page.name == VALIDATION_PAGE
    assert all(outcome.balances for outcome in state.files)
    for row, column, rule, value in EXPECTED_QUARANTINE:
        assert (
            f'<tr><td class="count">{row}</td><td>{column}</td><td>{rule}</td>'
            f'<td class="value">{value}</td></tr>'
        ) in html
    assert HELD_BACK_REASON in html
    assert '<td class="status-held_back">held back</td>' in html
    assert '<td class="count">1006</td>' in html and '<td class="count">995</td>' in html
    assert "2025-05: 2025-05-01 to 2025-05-31" in html
    assert "n_at_least_min_group_size" in html
    # Nothing for the page to fetch: no scripts, stylesheets, images or fonts from anywhere.
    for needle in ("<script", "<link", "<img", "url(", "@import", "src="):
        assert needle not in html


def test_the_prefect_summary_shows_each_file_and_the_balance(
    first_run: pipeline.RunReport,
) -> None:
    markdown = validation_markdown(first_run)
    assert f"| {EDITED} | loaded | 1006 | 3 | 0 | 3 | 5 | 995 |" in markdown
    assert f"| {HELD_BACK} | held_back | 10 | 0 | 0 | 0 | 10 | 0 | 0 |" in markdown
    assert "Every row read is accounted for" in markdown


# --- the dry run ------------------------------------------------------------------------------


def dry_run(capsys, config: Path, export: Path) -> tuple[int, dict]:
    exit_code = main(["validate", str(export), "--config", str(config), "--json"])
    return exit_code, json.loads(capsys.readouterr().out)


def test_the_dry_run_predicts_the_run_and_loads_nothing(
    capsys, tmp_path: Path, files: dict[str, pipeline.FileReport]
) -> None:
    config = make_problem_project(tmp_path)
    exports = tmp_path / "inputs" / "exports"

    exit_code, edited = dry_run(capsys, config, exports / EDITED)

    assert exit_code == 0
    assert edited["outcome"] == "would load"
    run = files[EDITED]
    assert list(edited["counts"].values()) == [
        run.rows_read,
        run.rows_dropped_status,
        run.rows_repeated,
        run.rows_quarantined,
        run.rows_loaded,
    ]
    assert [
        (cell["row"], cell["column"], cell["rule"], cell["value"]) for cell in edited["quarantined"]
    ] == EXPECTED_QUARANTINE

    exit_code, late = dry_run(capsys, config, exports / HELD_BACK)

    assert exit_code == 1
    assert (late["outcome"], late["reason"]) == ("would be held back", HELD_BACK_REASON)
    assert late["counts"]["quarantined"] == 10
    # No warehouse, archive or state folder was written.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["inputs", "resilience.toml"]


def test_the_dry_run_prints_a_readable_summary(capsys, tmp_path: Path) -> None:
    config = make_problem_project(tmp_path)

    exit_code = main(
        ["validate", str(tmp_path / "inputs" / "exports" / EDITED), "--config", str(config)]
    )

    out = capsys.readouterr().out
    assert exit_code == 0
    assert out.startswith(f"{EDITED}: would load\n")
    assert "  quarantined: 5\n" in out
    assert "  3\tproqol_1\tanswer_in_allowed_codes\tbanana\n" in out


def test_the_dry_run_of_an_unreadable_file_says_why(capsys, tmp_path: Path) -> None:
    config = make_project(tmp_path)
    broken = tmp_path / "inputs" / "exports" / "staff_survey_broken.csv"
    broken.write_text("Q1_1,Q1_2\n1,2\n", encoding="utf-8")

    exit_code, result = dry_run(capsys, config, broken)

    assert exit_code == 1
    assert result["outcome"] == "cannot be loaded"
    assert "no team column" in result["reason"]
