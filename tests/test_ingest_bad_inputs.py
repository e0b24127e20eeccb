"""A corpus of broken exports, generated here from the sample export, in one batch through the
pipeline's ingest, validate and load stages: every file ends either quarantined whole with a reason
that names it (and the row where one is known), or loaded with its bad cells held back by
validation with their raw values. Nothing crashes, and the good files of the batch still load."""

from __future__ import annotations

import codecs
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from resilience import pipeline
from resilience.formats import load_mappings
from resilience.inspection import inspect_export
from resilience.instruments import Registry
from resilience.rules import RULE_ANSWER_CODE, RULE_NOT_NULL, RULE_TEAM_IN_ROSTER
from resilience.settings import Settings, load_settings
from tests.conftest import SAMPLE_DIR, make_project
from tests.test_ingest_formats import csv_text, read_sample, write_xlsx

Records = list[list[str]]


BASE_SIZE = 10


def _base() -> tuple[Records, Records]:
    header, rows = read_sample(rows=80)
    ids = header[0]
    genuine = [row for row in rows if row[ids.index("Status")] == "0"][:BASE_SIZE]
    assert len(genuine) == BASE_SIZE
    return header, genuine


HEADER, BASE_ROWS = _base()
IDS = HEADER[0]


def qualtrics(case: str, edit: Callable[[Records], None] | None = None) -> Records:
    """The base responses with ids of their own, after `edit` changed the data rows."""
    rows = [list(row) for row in BASE_ROWS]
    for number, row in enumerate(rows, start=1):
        row[IDS.index("ResponseId")] = f"R_{case}_{number}"
    if edit:
        edit(rows)
    return [list(record) for record in HEADER] + rows


def setting(row: int, column: str, value: str) -> Callable[[Records], None]:
    """An edit: data row `row` (from 1) gets `value` in `column`."""

    def edit(rows: Records) -> None:
        rows[row - 1][IDS.index(column)] = value

    return edit


def text(records: Records, **options: str) -> bytes:
    return csv_text(records, **options).encode("utf-8")


def renamed(old: str, new: str) -> Records:
    records = qualtrics(f"renamed_{old}")
    records[0][IDS.index(old)] = new
    return records


def with_cell_count(row: int, change: int) -> Records:
    records = qualtrics(f"cells_{row}")
    record = records[len(HEADER) + row - 1]
    records[len(HEADER) + row - 1] = record + ["extra"] * change if change > 0 else record[:change]
    return records


def accented(records: Records) -> Records:
    """Records whose header holds text outside ASCII, as a survey in French would."""
    records[1] = [cell.replace("30 days", "30 derniers jours (été)") for cell in records[1]]
    return records


CANONICAL = [
    ["response_id", "team", "wave", "proqol_1", "brs_1"],
    ["c1", "T001", "2025-05", "3", "Agree"],
    ["c2", "T002", "2025-05", "4", "5"],
]


@dataclass(frozen=True)
class Quarantined:
    """The whole file is held back; its reason contains every fragment (and the file name)."""

    fragments: tuple[str, ...]


@dataclass(frozen=True)
class Loaded:
    """The file loads `rows` responses; `rejected` cells are held back with their values."""

    rows: int
    rejected: tuple[tuple[int, str, str | None, str], ...] = ()
    """(data row, column, value as written, validation rule)."""


@dataclass(frozen=True)
class HeldBack:
    """Too many of the file's rows fail validation: none loads, and every bad cell is listed."""

    rejected: tuple[tuple[int, str, str | None, str], ...]


@dataclass(frozen=True)
class Case:
    file_name: str
    content: Callable[[], bytes]
    expected: Quarantined | Loaded | HeldBack


def _workbook(tmp: Path, sheets: dict[str, list[list[str]]]) -> bytes:
    return write_xlsx(tmp / "book.xlsx", sheets).read_bytes()


def _overlong_cell() -> bytes:
    return text(qualtrics("long", setting(3, "Q11", "x" * 11_000_000)))


def _utf8_error_after_the_sniffed_block() -> bytes:
    """Over 1 MiB of UTF-8, then a Windows-1252 byte in a kept cell of data row 4001."""
    row = qualtrics("big")[len(HEADER)]
    many = [[*row[:8], f"R_big_{n}", *row[9:]] for n in range(4001)]
    many[-1][IDS.index("team")] = "TEAM_CAFE"
    return text(HEADER + many).replace(b"TEAM_CAFE", "café".encode("cp1252"))


CASES: dict[str, Case] = {
    "empty": Case("empty.csv", lambda: b"", Quarantined(("the file is empty",))),
    "blank_lines": Case("blank.csv", lambda: b"  \r\n\n\t\n", Quarantined(("file is empty",))),
    "bom_only": Case("bom.csv", lambda: codecs.BOM_UTF8, Quarantined(("the file is empty",))),
    "header_only": Case(
        "staff_survey_header_only.csv",
        lambda: text(HEADER),
        Quarantined(("no responses after the 3 header row(s)",)),
    ),
    "binary": Case(
        "binary.csv",
        lambda: b"\x00\x01" + random.Random(7).randbytes(4096),
        Quarantined(("binary content",)),
    ),
    "image": Case(
        "photo.csv", lambda: b"\x89PNG\r\n\x1a\n" + bytes(64), Quarantined(("a PNG image",))
    ),
    "truncated_quote": Case(
        "staff_survey_truncated.csv",
        lambda: text(qualtrics("truncated")) + b'2025-05-01 07:00:00,"2025-05-01 07:0',
        Quarantined(("data row 11", "record 14", "a quoted cell is never closed")),
    ),
    "wrong_delimiter": Case(
        "staff_survey_semicolon_rows.csv",
        lambda: text(HEADER) + text(qualtrics("semicolon_rows")[3:], delimiter=";"),
        Quarantined(("data row 1", f"1 cell(s) where the header has {len(IDS)}", "delimiter?")),
    ),
    "too_many_cells": Case(
        "staff_survey_too_many.csv",
        lambda: text(with_cell_count(5, 1)),
        Quarantined(("data row 5", f"{len(IDS) + 1} cell(s) where the header has {len(IDS)}")),
    ),
    "too_few_cells": Case(
        "staff_survey_too_few.csv",
        lambda: text(with_cell_count(2, -3)),
        Quarantined(("data row 2", f"{len(IDS) - 3} cell(s) where the header has")),
    ),
    "mixed_line_breaks": Case(
        "staff_survey_mixed_breaks.csv",
        lambda: text(HEADER, newline="\r\n") + text(qualtrics("breaks")[3:]),
        Quarantined(("mixed line breaks",)),
    ),
    "duplicate_canonical_columns": Case(
        "duplicates.csv",
        lambda: text([["team", "wave", "proqol_1", "proqol_1"], ["T001", "2025-05", "1", "2"]]),
        Quarantined(("columns 3 ('proqol_1'), 4 ('proqol_1.1') all map to proqol_1",)),
    ),
    "duplicate_mapped_columns": Case(
        "staff_survey_duplicate_q.csv",
        lambda: text(renamed("Q1_2", "Q1_1")),
        Quarantined(("2 columns are named 'Q1_1'", "the export lacks (renamed?): Q1_2")),
    ),
    "renamed_column": Case(
        "staff_survey_renamed.csv",
        lambda: text(renamed("Q1_5", "Q1_05")),
        Quarantined(("the export lacks (renamed?): Q1_5",)),
    ),
    "no_team_column": Case(
        "no_team.csv",
        lambda: text([["wave", "proqol_1"], ["2025-05", "3"]]),
        Quarantined(("no team column",)),
    ),
    "unknown_canonical_id_in_mapping": Case(
        "typo_export.csv",
        lambda: text([["team", "wave", "Q"], ["T001", "2025-05", "3"]]),
        Quarantined(("maps to ids no instrument defines: Q -> proqol_31",)),
    ),
    "mixed_encodings": Case(
        "staff_survey_mixed_encodings.csv",
        lambda: text(accented(qualtrics("mixed"))) + "café,".encode("cp1252") + b"\n",
        Quarantined(("mixed text encodings",)),
    ),
    "utf8_error_after_the_sniffed_block": Case(
        "staff_survey_late_encoding_error.csv",
        _utf8_error_after_the_sniffed_block,
        Quarantined(("data row 4001", "not UTF-8")),
    ),
    "broken_quote_in_windows_1252": Case(
        "staff_survey_ansi_truncated.csv",
        lambda: csv_text(accented(qualtrics("ansi_broken"))).encode("cp1252") + b'x,"unclosed',
        Quarantined(("line", "broken CSV quoting")),
    ),
    "hundred_megabyte_line": Case(
        "one_line.csv",
        lambda: b"x" * (100 << 20),
        Quarantined(("no line break in the first 1 MiB",)),
    ),
    "eleven_megabyte_record": Case(
        "staff_survey_long_cell.csv",
        _overlong_cell,
        Quarantined(("data row 3", "longer than 10000000 bytes")),
    ),
    "several_sheets": Case(
        "book.xlsx",
        lambda: b"",  # written by the fixture: it needs a folder
        Quarantined(("2 sheets hold data ('Responses', 'Pivot')",)),
    ),
    "corrupt_workbook": Case(
        "broken.xlsx",
        lambda: b"PK\x03\x04" + random.Random(3).randbytes(512),
        Quarantined(("not a readable xlsx workbook",)),
    ),
    "unknown_team": Case(
        "staff_survey_unknown_team.csv",
        lambda: text(qualtrics("team", setting(2, "team", "T999"))),
        Loaded(9, ((2, "team", "T999", RULE_TEAM_IN_ROSTER),)),
    ),
    "formula_in_team": Case(
        "staff_survey_formula_team.csv",
        lambda: text(
            qualtrics("formula", setting(1, "team", '=HYPERLINK("http://x.test","T001")'))
        ),
        Loaded(9, ((1, "team", '=HYPERLINK("http://x.test","T001")', RULE_TEAM_IN_ROSTER),)),
    ),
    "formula_in_item": Case(
        "staff_survey_formula_item.csv",
        lambda: text(qualtrics("formula_item", setting(2, "Q1_5", "=1+2"))),
        Loaded(9, ((2, "proqol_5", "=1+2", RULE_ANSWER_CODE),)),
    ),
    "html_in_team": Case(
        "staff_survey_html_team.csv",
        lambda: text(qualtrics("html", setting(3, "team", "<b>T001</b><script>x()</script>"))),
        Loaded(9, ((3, "team", "<b>T001</b><script>x()</script>", RULE_TEAM_IN_ROSTER),)),
    ),
    "stray_quote_in_team": Case(
        "staff_survey_stray_quote.csv",
        lambda: text(qualtrics("stray")).replace(b",T0", b',T"0', 1),
        Loaded(9, ((1, "team", f'T"{BASE_ROWS[0][IDS.index("team")][1:]}', RULE_TEAM_IN_ROSTER),)),
    ),
    "text_in_item": Case(
        "staff_survey_text_item.csv",
        lambda: text(qualtrics("text", setting(3, "Q1_3", "often-ish"))),
        Loaded(9, ((3, "proqol_3", "often-ish", RULE_ANSWER_CODE),)),
    ),
    "out_of_range": Case(
        "staff_survey_out_of_range.csv",
        lambda: text(
            qualtrics(
                "range", lambda rows: [setting(1, "Q1_4", "7")(rows), setting(2, "Q4", "0")(rows)]
            )
        ),
        Loaded(8, ((1, "proqol_4", "7", RULE_ANSWER_CODE), (2, "miniz_1", "0", RULE_ANSWER_CODE))),
    ),
    "decimal_code": Case(
        "staff_survey_decimal.csv",
        lambda: text(qualtrics("decimal", setting(4, "Q2_1", "3.0"))),
        Loaded(9, ((4, "cbi_1", "3.0", RULE_ANSWER_CODE),)),
    ),
    "blank_wave": Case(
        "staff_survey_blank_wave.csv",
        lambda: text(qualtrics("wave", setting(4, "wave", "  "))),
        Loaded(9, ((4, "wave", None, RULE_NOT_NULL),)),
    ),
    "empty_response_id": Case(
        "staff_survey_no_id.csv",
        lambda: text(qualtrics("no_id", setting(6, "ResponseId", ""))),
        Loaded(9, ((6, "response_key", None, RULE_NOT_NULL),)),
    ),
    "value_missing_from_answers_table": Case(
        "recoded_export.csv",
        lambda: text(
            [["team", "wave", "Q"], *[["T001", "2025-05", "14"]] * 5, ["T001", "2025-05", "3"]]
        ),
        Loaded(5, ((6, "brs_1", "3 (not in the answers table)", RULE_ANSWER_CODE),)),
    ),
    "mostly_unknown_teams": Case(
        "staff_survey_unknown_teams.csv",
        lambda: text(
            qualtrics(
                "teams", lambda rows: [row.__setitem__(IDS.index("team"), "T9") for row in rows]
            )
        ),
        HeldBack(tuple((row, "team", "T9", RULE_TEAM_IN_ROSTER) for row in range(1, 11))),
    ),
    "semicolon_delimited": Case(
        "staff_survey_semicolons.csv",
        lambda: text(qualtrics("semicolons"), delimiter=";"),
        Loaded(BASE_SIZE),
    ),
    "excel_unicode_text": Case(
        "staff_survey_unicode.csv",
        lambda: (
            codecs.BOM_UTF16_LE
            + csv_text(accented(qualtrics("utf16")), delimiter="\t", newline="\r\n").encode(
                "utf-16-le"
            )
        ),
        Loaded(BASE_SIZE),
    ),
    "windows_1252": Case(
        "staff_survey_ansi.csv",
        lambda: csv_text(accented(qualtrics("ansi")), newline="\r\n").encode("cp1252"),
        Loaded(BASE_SIZE),
    ),
    "labels_in_odd_case_and_spacing": Case(
        "staff_survey_labels.csv",
        lambda: text(qualtrics("labels", setting(1, "Q1_1", "  very \t OFTEN "))),
        Loaded(BASE_SIZE),
    ),
    "trailing_blank_rows": Case(
        "staff_survey_blank_rows.csv",
        lambda: text(qualtrics("blank_rows") + [[""] * len(IDS)] * 3),
        Loaded(BASE_SIZE),
    ),
    "workbook_saved_as_csv": Case("really_a_workbook.csv", lambda: b"", Loaded(2)),
}
MAPPINGS = {
    "typo": 'source = "typo"\nmatch = "typo_*.csv"\n[columns]\n'
    '"team" = "team"\n"wave" = "wave"\n"Q" = "proqol_31"\n',
    "recoded": 'source = "recoded"\nmatch = "recoded_*.csv"\n[columns]\n'
    '"team" = "team"\n"wave" = "wave"\n"Q" = "brs_1"\n[answers.brs_1]\n"10" = 1\n"14" = 5\n',
}
# Files beside the exports that are not exports and must be passed over.
NOT_EXPORTS = {
    "~$book.xlsx": b"\x00office lock file",
    "codebook.csv": b'"Variable / Field Name","Form Name","Section Header","Field Type"\n',
}


@dataclass(frozen=True)
class BatchResult:
    settings: Settings
    files: dict[str, pipeline.FileReport]
    quarantine: list[tuple]
    loaded_rows: dict[str, int]


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> BatchResult:
    work = tmp_path_factory.mktemp("bad_inputs")
    settings = load_settings(make_project(work))
    for sample in settings.paths.exports.iterdir():
        sample.unlink()
    for case in CASES.values():
        (settings.paths.exports / case.file_name).write_bytes(case.content())
    write_xlsx(
        settings.paths.exports / "book.xlsx",
        {"Responses": CANONICAL, "Pivot": [["team", "responses"], ["T001", "1"]], "Blank": []},
    )
    write_xlsx(settings.paths.exports / "really_a_workbook.csv", {"Sheet1": CANONICAL})
    for name, content in NOT_EXPORTS.items():
        (settings.paths.exports / name).write_bytes(content)
    for name, body in MAPPINGS.items():
        (settings.paths.mappings / f"{name}.toml").write_text(body, encoding="utf-8")
    # Delivered an hour ago: the pipeline waits for files that may still be being written.
    an_hour_ago = time.time() - 3600
    for export in settings.paths.exports.iterdir():
        os.utime(export, (an_hour_ago, an_hour_ago))
    report = pipeline.new_run()
    report = pipeline.ingest_exports(settings, report, registry)
    report = pipeline.validate(settings, report, registry)
    report = pipeline.load(settings, report)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        quarantine = con.execute(
            "select raw_files.file_name, quarantine.source_row, quarantine.column_name, "
            "quarantine.value, quarantine.rule from quarantine "
            "join raw_files using (file_sha256) order by all"
        ).fetchall()
        loaded = dict(
            con.execute(
                "select file_name, count(raw_responses.response_key) from raw_files "
                "left join raw_responses using (file_sha256) group by file_name"
            ).fetchall()
        )
    return BatchResult(settings, {f.file_name: f for f in report.files}, quarantine, loaded)


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


def test_every_export_is_accounted_for_and_nothing_else(batch: BatchResult) -> None:
    assert set(batch.files) == {case.file_name for case in CASES.values()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_bad_input_ends_in_a_clear_outcome(name: str, batch: BatchResult) -> None:
    case = CASES[name]
    report = batch.files[case.file_name]
    cells = [row[1:] for row in batch.quarantine if row[0] == case.file_name]
    if isinstance(case.expected, Quarantined):
        assert report.status == "quarantined"
        assert report.reason is not None
        for fragment in (case.file_name, *case.expected.fragments):
            assert fragment in report.reason
        assert cells == [(None, None, report.reason, "file_unreadable")]
        assert batch.loaded_rows[case.file_name] == 0
    elif isinstance(case.expected, HeldBack):
        assert report.status == "held_back"
        assert report.reason is not None and case.file_name in report.reason
        assert sorted(cell for cell in cells if cell[0] is not None) == sorted(
            case.expected.rejected
        )
        assert (report.rows_loaded, batch.loaded_rows[case.file_name]) == (0, 0)
    else:
        assert (report.status, report.reason) == ("loaded", None)
        assert sorted(cells) == sorted(case.expected.rejected)
        assert report.rows_quarantined == len({row for row, *_ in case.expected.rejected})
        assert report.rows_loaded == batch.loaded_rows[case.file_name] == case.expected.rows


def test_an_unreadable_file_leaves_no_partial_archive(batch: BatchResult) -> None:
    archived = {path.name for path in batch.settings.archive_dir.iterdir()}
    read = {f.file_sha256 + ".parquet" for f in batch.files.values() if f.archive_path}
    assert archived == read
    assert all(f.archive_path is None for f in batch.files.values() if f.status == "quarantined")


def test_inspect_explains_an_unreadable_file(tmp_path: Path, registry: Registry) -> None:
    export = tmp_path / "staff_survey_truncated.csv"
    export.write_bytes(CASES["truncated_quote"].content())
    result = inspect_export(export, load_mappings(SAMPLE_DIR / "mappings"), registry)
    assert result["format"] == "qualtrics_modern"
    assert result["problems"] == ["data row 11, record 14: a quoted cell is never closed"]
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = inspect_export(empty, [], registry)
    assert (result["format"], result["problems"]) == (None, ["empty.csv: the file is empty"])
