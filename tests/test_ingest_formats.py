"""Each survey tool's layout, encodings and line breaks: recognised, read, and reduced to the same
canonical rows, with every identifying column left behind. Files are derived here from the sample
export and written to a temporary folder."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import duckdb
import pytest

from resilience.formats import (
    FORMATS,
    MappingError,
    SourceMapping,
    UnreadableExport,
    identify_format,
    load_mappings,
)
from resilience.ingest import ExportPlan, archive_export, plan_export, stage_batch
from resilience.instruments import Registry
from resilience.readers import export_rows
from resilience.sqlfiles import set_variables
from tests.conftest import REAL_EXPORTS, SAMPLE_DIR

SAMPLE_EXPORT = SAMPLE_DIR / "exports" / "staff_survey_2025-05.csv"
SAMPLE_MAPPING = SAMPLE_DIR / "mappings" / "qualtrics_staff_survey.toml"
Cell = str | int | float | dt.datetime | None


def read_sample(rows: int = 12) -> tuple[list[list[str]], list[list[str]]]:
    """The sample export's three header rows and its first `rows` data rows."""
    with SAMPLE_EXPORT.open(encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle))
    return records[:3], records[3 : 3 + rows]


def csv_text(records: Sequence[Sequence[object]], delimiter: str = ",", newline: str = "\n") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator=newline).writerows(records)
    return out.getvalue()


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _xlsx_cell(reference: str, value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        serial = (value - dt.datetime(1899, 12, 30)).total_seconds() / 86400
        return f'<c r="{reference}" s="1"><v>{serial}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{reference}"><v>{value}</v></c>'
    text = escape(value)
    return f'<c r="{reference}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def write_xlsx(path: Path, sheets: dict[str, Sequence[Sequence[Cell]]]) -> Path:
    """A minimal xlsx workbook (no spreadsheet library writes one here): inline strings, numbers
    and date-times."""
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    relationships = "http://schemas.openxmlformats.org/package/2006/relationships"
    document = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    numbers = range(1, len(sheets) + 1)
    with zipfile.ZipFile(path, "w") as book:
        book.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.sheet.main+xml"/>'
            + "".join(
                f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                for n in numbers
            )
            + "</Types>",
        )
        book.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{relationships}"><Relationship Id="rId1" '
            f'Type="{document}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        book.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{main}" xmlns:r="{document}"><sheets>'
            + "".join(
                f'<sheet name="{escape(name)}" sheetId="{n}" r:id="rId{n}"/>'
                for n, name in zip(numbers, sheets, strict=True)
            )
            + "</sheets></workbook>",
        )
        book.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{relationships}">'
            + "".join(
                f'<Relationship Id="rId{n}" Type="{document}/worksheet" '
                f'Target="worksheets/sheet{n}.xml"/>'
                for n in numbers
            )
            + f'<Relationship Id="rId{len(sheets) + 1}" Type="{document}/styles" '
            'Target="styles.xml"/></Relationships>',
        )
        book.writestr(
            "xl/styles.xml",
            f'<styleSheet xmlns="{main}"><numFmts count="1"><numFmt numFmtId="164" '
            'formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts><fonts count="1"><font/></fonts>'
            '<fills count="1"><fill/></fills><borders count="1"><border/></borders>'
            '<cellStyleXfs count="1"><xf/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0"/>'
            '<xf numFmtId="164" applyNumberFormat="1"/></cellXfs></styleSheet>',
        )
        for n, rows in zip(numbers, sheets.values(), strict=True):
            body = "".join(
                f'<row r="{r}">'
                + "".join(
                    _xlsx_cell(f"{_column_letter(c)}{r}", value) for c, value in enumerate(row)
                )
                + "</row>"
                for r, row in enumerate(rows, start=1)
            )
            book.writestr(
                f"xl/worksheets/sheet{n}.xml",
                f'<worksheet xmlns="{main}"><sheetData>{body}</sheetData></worksheet>',
            )
    return path


def write_mapping(folder: Path, name: str, body: str) -> list[SourceMapping]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.toml").write_text(body, encoding="utf-8")
    return load_mappings(folder)


def sample_mapping(folder: Path, extra: str = "") -> list[SourceMapping]:
    """The sample's Qualtrics mapping plus `extra`, for every file named staff_survey_*."""
    body = SAMPLE_MAPPING.read_text(encoding="utf-8") + extra
    return write_mapping(folder, "staff", body.replace('"staff_survey_*.csv"', '"staff_survey_*"'))


def ingest(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    mappings: list[SourceMapping],
    registry: Registry,
) -> ExportPlan:
    """Plan, archive and stage one export the way the pipeline does."""
    plan = plan_export(path, mappings, registry)
    set_variables(con, {"response_key_salt": "test-salt"})
    archive = path.parent / "archive" / f"{plan.sha256}.parquet"
    archive_export(con, plan, archive)
    stage_batch(con, plan, archive, registry)
    return plan


def staged(con: duckdb.DuckDBPyConnection, plan: ExportPlan, *columns: str) -> list[tuple]:
    selected = ", ".join(columns)
    return con.execute(
        f"select {selected} from ingest_batch where file_sha256 = ? order by source_row",
        [plan.sha256],
    ).fetchall()


# --- recognising a layout from its header records -------------------------------------------

HEADERS = {
    "qualtrics_modern": [
        ["StartDate", "ResponseId", "Q1"],
        ["Start Date", "Response ID", "Question"],
        ['{"ImportId":"startDate"}', '{"ImportId":"_recordId"}', '{"ImportId":"QID1"}'],
    ],
    "qualtrics_insights": [
        ["ResponseID", "Q1"],
        ["ResponseID", "Question"],
        ["{'ImportId': 'responseId'}", "{'ImportId': 'QID1'}"],
    ],
    "qualtrics_legacy": [
        [f"V{n}" for n in range(1, 11)] + ["Q1", ""],
        ["ResponseID", "ResponseSet", "Name", "", "", "", "Status", "", "", "", "Question", ""],
    ],
    "surveymonkey": [
        ["Respondent ID", "Collector ID", "How often...", "", "Comments"],
        ["", "", "item 1", "item 2", "Open-Ended Response"],
    ],
    "limesurvey": [["id", "submitdate", "lastpage", "startlanguage", "seed", "token", "Q1"]],
    "limesurvey_full_text": [
        ["Response ID", "Date submitted", "Last page", "Start language", "Seed", "Q1 [SQ001]"]
    ],
    "microsoft_forms": [["ID", "Start time", "Completion time", "Email", "Name", "Q"]],
    "redcap_raw": [["record_id", "pq_1", "consent___1", "wellbeing_complete"]],
    "redcap_labels": [["Record ID", "Survey Timestamp", "Item one", "Complete?"]],
    "redcap_dictionary": [["Variable / Field Name", "Form Name", "Field Type", "Field Label"]],
    "google_forms": [["Marca temporal", "Email Address", "Equipo"]],
    "plain": [["proqol_1", "team", "wave"]],
}


@pytest.mark.parametrize("expected", sorted(HEADERS))
def test_layout_is_recognised_from_its_header_records(expected: str) -> None:
    assert identify_format(HEADERS[expected]).name == expected


def test_every_format_has_a_header_example() -> None:
    assert {f.name for f in FORMATS} == set(HEADERS)


# --- one export, every encoding and line break --------------------------------------------------


def qualtrics_variants(tmp_path: Path) -> dict[str, Path]:
    """The same Qualtrics responses written the ways spreadsheets and survey tools write them."""
    header, rows = read_sample()
    # Text outside ASCII, so that every encoding writes it differently.
    header[1] = [text.replace("30 days", "30 days (it’s été)") for text in header[1]]
    records = header + rows
    text = csv_text(records)
    crlf = csv_text(records, newline="\r\n")
    variants = {
        "utf8_lf": text.encode("utf-8"),
        "utf8_bom_crlf": codecs.BOM_UTF8 + crlf.encode("utf-8"),
        "no_final_newline": text.rstrip("\n").encode("utf-8"),
        "cr_only": csv_text(records, newline="\r").encode("utf-8"),
        "semicolons": csv_text(records, delimiter=";").encode("utf-8"),
        "excel_unicode_text": codecs.BOM_UTF16_LE
        + csv_text(records, delimiter="\t", newline="\r\n").encode("utf-16-le"),
        "utf16_be_with_bom": codecs.BOM_UTF16_BE + crlf.encode("utf-16-be"),
        "utf16_le_without_bom": csv_text(records, delimiter="\t").encode("utf-16-le"),
        "windows_1252": crlf.encode("cp1252"),
    }
    paths = {}
    for name, content in variants.items():
        paths[name] = tmp_path / f"staff_survey_{name}.txt"
        paths[name].write_bytes(content)
    paths["xlsx"] = write_xlsx(tmp_path / "staff_survey_book.xlsx", {"Responses": records})
    return paths


VARIANT_ENCODINGS = {
    "utf8_lf": "utf-8",
    "utf8_bom_crlf": "utf-8 with BOM",
    "no_final_newline": "utf-8",
    "cr_only": "utf-8",
    "semicolons": "utf-8",
    "excel_unicode_text": "utf-16 LE with BOM",
    "utf16_be_with_bom": "utf-16 BE with BOM",
    "utf16_le_without_bom": "utf-16 LE",
    "windows_1252": "windows-1252",
    "xlsx": "xlsx workbook",
}


@pytest.mark.parametrize("variant", sorted(VARIANT_ENCODINGS))
def test_every_encoding_and_line_break_gives_the_same_rows(
    variant: str, tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, registry: Registry
) -> None:
    mappings = sample_mapping(tmp_path / "mappings")
    paths = qualtrics_variants(tmp_path)
    columns = ("source_row", "response_key", "team", "wave", "recorded_date", "proqol_1", "miniz_1")
    reference = staged(warehouse, ingest(warehouse, paths["utf8_lf"], mappings, registry), *columns)
    warehouse.execute("delete from ingest_batch")
    plan = ingest(warehouse, paths[variant], mappings, registry)
    assert plan.layout.format == "qualtrics_modern"
    assert plan.layout.encoding_label == VARIANT_ENCODINGS[variant]
    assert plan.blocking_problem is None
    assert len(reference) == 12
    assert staged(warehouse, plan, *columns) == reference


def test_the_archive_holds_only_kept_columns_and_dates(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, registry: Registry
) -> None:
    mappings = sample_mapping(tmp_path / "mappings")
    plan = ingest(warehouse, qualtrics_variants(tmp_path)["windows_1252"], mappings, registry)
    archive = tmp_path / "archive" / f"{plan.sha256}.parquet"
    described = warehouse.execute(f"describe select * from read_parquet('{archive}')").fetchall()
    names = {row[0] for row in described}
    assert {"IPAddress", "ResponseId", "LocationLatitude", "Q11", "StartDate"}.isdisjoint(names)
    assert {"source_row", "response_key", "recorded_date", "proqol_1", "team"} <= names
    assert dict((row[0], row[1]) for row in described)["recorded_date"] == "DATE"


# --- the other tools --------------------------------------------------------------------------

PROQOL_TEXT = "How often in the last 30 days: {}"


def test_microsoft_forms_workbook(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, registry: Registry
) -> None:
    questions = [PROQOL_TEXT.format(n) for n in (1, 2)]
    header = [
        "ID",
        "Start time",
        "Completion time",
        "Email",
        "Name",
        "Last modified time",
        "Which team are you in?",
        "Survey round",
        *questions,
        "Anything else?",
    ]
    started = dt.datetime(2025, 5, 2, 9, 1, 7)
    rows = [
        [
            1,
            started,
            started + dt.timedelta(minutes=9),
            "anonymous",
            None,
            None,
            "T001",
            "2025-05",
            "Often",
            "Very often",
            "Nothing",
        ],
        [
            2,
            started,
            started + dt.timedelta(hours=16),
            "jane.doe@example.org",
            "Jane Doe",
            None,
            "T002",
            "2025-05",
            3,
            "never",
            "My manager Bob",
        ],
    ]
    export = write_xlsx(tmp_path / "forms.xlsx", {"Sheet1": [header, *rows]})
    mappings = write_mapping(
        tmp_path / "mappings",
        "forms",
        'source = "ms_forms"\nmatch = "forms*.xlsx"\n[columns]\n'
        '"Which team are you in?" = "team"\n"Survey round" = "wave"\n'
        + "".join(f'"{q}" = "proqol_{n}"\n' for n, q in enumerate(questions, start=1)),
    )
    plan = ingest(warehouse, export, mappings, registry)
    assert plan.layout.format == "microsoft_forms"
    assert set(plan.identifying_columns) == {
        "ID",
        "Start time",
        "Email",
        "Name",
        "Last modified time",
    }
    assert plan.unmapped_columns == ["Anything else?"]
    assert staged(warehouse, plan, "team", "recorded_date", "proqol_1", "proqol_2") == [
        ("T001", dt.date(2025, 5, 2), "4", "5"),
        ("T002", dt.date(2025, 5, 3), "3", "1"),
    ]


def google_forms_csv(rows: Sequence[Sequence[str]]) -> str:
    header = ["Timestamp", "Email Address", "Team", "Wave", "Q1", "Q2", "Anything else?"]
    return csv_text([header, *rows])


GOOGLE_ROWS = [
    ["5/2/2025 9:14:11", "ann@example.org", "T001", "2025-05", "Often", "Rarely", "tired"],
    ["5/2/2025 9:14:11", "bo@example.org", "T001", "2025-05", "Often", "Never", ""],
    ["5/3/2025 17:40:02", "cy@example.org", "T002", "2025-05", "Sometimes", "Often", ""],
]


def test_google_forms_without_response_ids_match_on_time_and_answers(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, registry: Registry
) -> None:
    mappings = write_mapping(
        tmp_path / "mappings",
        "google",
        'source = "google_staff"\nmatch = "google_*.csv"\n[columns]\n'
        '"Team" = "team"\n"Wave" = "wave"\n"Q1" = "proqol_1"\n"Q2" = "proqol_2"\n',
    )
    yesterday = tmp_path / "google_yesterday.csv"
    yesterday.write_text(google_forms_csv(GOOGLE_ROWS[:2]), encoding="utf-8")
    tonight = tmp_path / "google_tonight.csv"
    tonight.write_text(google_forms_csv(GOOGLE_ROWS), encoding="utf-8")
    first = ingest(warehouse, yesterday, mappings, registry)
    second = ingest(warehouse, tonight, mappings, registry)
    assert first.layout.format == "google_forms"
    assert first.identifying_columns == ["Email Address"]
    assert "matched across exports by their recorded time and answers" in first.problems[0]
    keys = [key for (key,) in staged(warehouse, first, "response_key")]
    again = [key for (key,) in staged(warehouse, second, "response_key")]
    assert len(set(keys)) == 2
    assert again[:2] == keys
    assert again[2] not in keys
    assert staged(warehouse, second, "recorded_date", "proqol_1") == [
        (dt.date(2025, 5, 2), "4"),
        (dt.date(2025, 5, 2), "4"),
        (dt.date(2025, 5, 3), "3"),
    ]


def test_limesurvey_quoted_cells_and_answer_codes(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, registry: Registry
) -> None:
    header = [
        "id",
        "submitdate",
        "lastpage",
        "startlanguage",
        "seed",
        "startdate",
        "datestamp",
        "token",
        "ipaddr",
        "refurl",
        "attribute_1",
        "team",
        "wave",
        "PQ1",
        "PQ2",
        "PQ2[other]",
        "interviewtime",
    ]
    rows = [
        [
            "11",
            "2025-05-02 09:14:11",
            "3",
            "en",
            "1693",
            "2025-05-02 09:01:00",
            "2025-05-02 09:14:11",
            "tok3n42",
            "10.1.2.3",
            "https://intranet.example/s?u=jdoe",
            "Night nurse",
            "T001",
            "2025-05",
            "A2",
            "A5",
            "",
            "791.5",
        ],
        [
            "12",
            "",
            "1",
            "en",
            "8812",
            "2025-05-03 11:00:00",
            "2025-05-03 11:02:10",
            "",
            "",
            "",
            "",
            "T002",
            "2025-05",
            "A4",
            "",
            "I'd rather not say",
            "130",
        ],
    ]
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows([header, *rows])
    export = tmp_path / "results-survey123.csv"
    export.write_text(out.getvalue(), encoding="utf-8")
    mappings = write_mapping(
        tmp_path / "mappings",
        "lime",
        'source = "limesurvey_staff"\nmatch = "results-survey*.csv"\n'
        '[columns]\n"team" = "team"\n"wave" = "wave"\n"PQ1" = "proqol_1"\n"PQ2" = "proqol_2"\n'
        '[answers.proqol]\n"A1" = 1\n"A2" = 2\n"A3" = 3\n"A4" = 4\n"A5" = 5\n',
    )
    plan = ingest(warehouse, export, mappings, registry)
    assert plan.layout.format == "limesurvey"
    # The seed fixes one respondent's question order: it tells respondents apart.
    assert set(plan.identifying_columns) == {
        "id",
        "seed",
        "startdate",
        "datestamp",
        "token",
        "ipaddr",
        "refurl",
        "attribute_1",
        "PQ2[other]",
    }
    assert staged(
        warehouse, plan, "team", "recorded_date", "duration_seconds", "proqol_1", "proqol_2"
    ) == [
        ("T001", dt.date(2025, 5, 2), 791.5, "2", "5"),
        ("T002", None, 130.0, "4", None),
    ]


def test_surveymonkey_spanning_questions_in_windows_1252(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, registry: Registry
) -> None:
    metadata = ["Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address"]
    metadata += ["Email Address", "First Name", "Last Name", "Custom Data 1"]
    matrix = "Over the last 30 days, how often… (it’s about work)"
    header = [*metadata, "Which team?", "Which round?", matrix, "", "", "Anything else?"]
    options = [""] * len(metadata) + ["Response", "Response", "item 1", "item 2", "item 3"]
    options.append("Open-Ended Response")
    rows = [
        [
            "114263",
            "2561",
            "05/02/2025 09:01:11 AM",
            "05/02/2025 09:14:11 AM",
            "10.0.0.7",
            "jane@example.org",
            "Jane",
            "Doe",
            "emp-4411",
            "T001",
            "2025-05",
            "Often",
            "Never",
            "Sometimes",
            "My manager’s name is Bob",
        ],
        [
            "114264",
            "2561",
            "05/02/2025 01:01:11 PM",
            "05/02/2025 01:20:00 PM",
            "10.0.0.9",
            "",
            "",
            "",
            "",
            "T002",
            "2025-05",
            "Very often",
            "Rarely",
            "",
            "",
        ],
    ]
    export = tmp_path / "Staff survey.csv"
    export.write_bytes(csv_text([header, options, *rows], newline="\r\n").encode("cp1252"))
    mappings = write_mapping(
        tmp_path / "mappings",
        "monkey",
        'source = "surveymonkey_staff"\nmatch = "Staff survey*.csv"\n[columns]\n'
        '"Which team?" = "team"\n"Which round?" = "wave"\n'
        + "".join(f'"{matrix} - item {n}" = "proqol_{n}"\n' for n in (1, 2, 3)),
    )
    plan = ingest(warehouse, export, mappings, registry)
    assert plan.layout.format == "surveymonkey"
    assert plan.layout.encoding_label == "windows-1252"
    assert set(plan.identifying_columns) == {*metadata} - {"Collector ID", "End Date"} | {
        "Anything else?"
    }
    assert staged(warehouse, plan, "team", "recorded_date", "proqol_1", "proqol_2", "proqol_3") == [
        ("T001", dt.date(2025, 5, 2), "4", "1", "3"),
        ("T002", dt.date(2025, 5, 2), "5", "2", None),
    ]


def test_redcap_label_export(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, registry: Registry
) -> None:
    header = ["Record ID", "Survey Identifier", "Survey Timestamp", "First Name"]
    header += ["Team", "Wave", "ProQOL item 1", "Complete?"]
    rows = [
        [
            "7",
            "jane@example.org",
            "2025-05-02 09:14",
            "Jane",
            "T001",
            "2025-05",
            "Often",
            "Complete",
        ],
        ["8", "", "[not completed]", "", "T002", "2025-05", "Never", "Incomplete"],
    ]
    export = tmp_path / "StaffWellbeing_DATA_LABELS_2025-05-03.csv"
    export.write_text(csv_text([header, *rows]), encoding="utf-8")
    mappings = write_mapping(
        tmp_path / "mappings",
        "redcap",
        'source = "redcap_staff"\nmatch = "StaffWellbeing_*.csv"\n[columns]\n'
        '"Team" = "team"\n"Wave" = "wave"\n"ProQOL item 1" = "proqol_1"\n',
    )
    plan = ingest(warehouse, export, mappings, registry)
    assert plan.layout.format == "redcap_labels"
    assert set(plan.identifying_columns) == {
        "Record ID",
        "Survey Identifier",
        "Survey Timestamp",
        "First Name",
    }
    assert staged(warehouse, plan, "team", "proqol_1") == [("T001", "4"), ("T002", "1")]


def test_plain_workbook_with_canonical_ids(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, registry: Registry
) -> None:
    header = ["response_id", "recorded_date", "team", "wave", "proqol_1", "brs_2", "email"]
    rows = [
        ["a1", dt.datetime(2025, 5, 2, 9, 14), "T001", "2025-05", 4, "Agree", "x@example.org"],
        [None] * 7,
        ["a2", "2025-05-03", "T002", "2025-05", None, " strongly  DISAGREE ", None],
    ]
    export = write_xlsx(tmp_path / "canonical.xlsx", {"Data": [header, *rows], "Empty": []})
    plan = ingest(warehouse, export, [], registry)
    assert plan.layout.format == "plain"
    assert plan.identifying_columns == ["response_id", "email"]
    assert staged(warehouse, plan, "source_row", "recorded_date", "proqol_1", "brs_2") == [
        (1, dt.date(2025, 5, 2), "4", "4"),
        (3, dt.date(2025, 5, 3), None, "1"),
    ]


# --- the mapping file's extensions -----------------------------------------------------------

needs_real_exports = pytest.mark.skipif(
    not REAL_EXPORTS.is_dir(), reason=f"real-export fixtures not found at {REAL_EXPORTS}"
)


def with_status(path: Path, target: Path, header_rows: int, status_column: int) -> Path:
    """A copy of a fixture whose test responses (status 2) are marked as real ones (0)."""
    text = path.read_text(encoding="utf-8-sig")
    records = list(csv.reader(io.StringIO(text, newline="")))
    for record in records[header_rows:]:
        record[status_column] = "0"
    target.write_text(csv_text(records), encoding="utf-8")
    return target


@needs_real_exports
def test_recodes_that_do_not_run_from_one_read_the_same_in_every_qualtrics_layout(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, registry: Registry
) -> None:
    mappings = write_mapping(
        tmp_path / "mappings",
        "matrix",
        'source = "matrix_survey"\nmatch = "matrix_*.csv"\n[columns]\n'
        '"ResponseSet" = "team"\n"Finished" = "wave"\n'
        '"Q4_1" = "cbi_1"\n"Q4_2" = "cbi_2"\n"Q4_3" = "cbi_3"\n'
        '[answers.cbi]\n"10" = 1\n"11" = 2\n"12" = 3\n"13" = 4\n',
    )
    insights = with_status(
        REAL_EXPORTS / "qualtrics_insights_matrix.csv", tmp_path / "matrix_insights.csv", 3, 10
    )
    legacy = with_status(
        REAL_EXPORTS / "qualtrics_legacy_matrix.csv", tmp_path / "matrix_legacy.csv", 2, 6
    )
    plans = [ingest(warehouse, path, mappings, registry) for path in (insights, legacy)]
    assert [plan.layout.format for plan in plans] == ["qualtrics_insights", "qualtrics_legacy"]
    columns = ("response_key", "team", "cbi_1", "cbi_2", "cbi_3")
    rows = [staged(warehouse, plan, *columns) for plan in plans]
    assert rows[0] == rows[1]
    assert [row[2:] for row in rows[0]] == [
        ("3", "1", "2"),
        ("3", "2", "4"),
        ("3", "2", "4"),
        ("1", "2", "4"),
        ("2", "4", "3"),
    ]


def test_a_value_missing_from_the_answers_table_cannot_pass_as_a_code(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, registry: Registry
) -> None:
    export = tmp_path / "recoded.csv"
    export.write_text(
        csv_text([["team", "wave", "Q1"], ["T001", "2025-05", "10"], ["T001", "2025-05", "3"]]),
        encoding="utf-8",
    )
    mappings = write_mapping(
        tmp_path / "mappings",
        "recoded",
        'source = "recoded"\nmatch = "recoded.csv"\n[columns]\n"Q1" = "brs_1"\n'
        '"team" = "team"\n"wave" = "wave"\n[answers.brs_1]\n"10" = 1\n"14" = 5\n',
    )
    plan = ingest(warehouse, export, mappings, registry)
    assert staged(warehouse, plan, "brs_1") == [("1",), ("3 (not in the answers table)",)]


def test_free_text_is_kept_only_where_the_mapping_allows_it(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, registry: Registry
) -> None:
    allowed = sample_mapping(tmp_path / "allowed", '\n[free_text]\n"Q11" = "text_support_wishes"\n')
    plan = ingest(warehouse, qualtrics_variants(tmp_path)["utf8_lf"], allowed, registry)
    assert plan.mapped_columns["Q11"] == "text_support_wishes"
    assert "Q11" not in plan.identifying_columns
    header, rows = read_sample()
    written = [row[header[0].index("Q11")] or None for row in rows]
    assert [text for (text,) in staged(warehouse, plan, "text_support_wishes")] == written
    described = {row[0] for row in warehouse.execute("describe raw_responses").fetchall()}
    assert "text_support_wishes" in described


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('match = "x"\n', "'source' must be given"),
        ('source = "s"\nmatch = "x"\n[answers.proqol]\n"1" = "one"\n', "whole numbers"),
        ('source = "s"\nmatch = "x"\n[free_text]\n"Q11" = "Comments"\n', "text_<name>"),
        ('source = "s"\nmatch = "x"\ndictionary = "missing.csv"\n', "not found"),
        ('source = "s"\nmatch = "x\n', "not valid TOML"),
    ],
)
def test_a_malformed_mapping_file_is_named(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(MappingError, match=message) as raised:
        write_mapping(tmp_path, "broken", body)
    assert "broken.toml" in str(raised.value)


@needs_real_exports
def test_the_redcap_dictionary_can_be_named_in_the_mapping(
    tmp_path: Path, registry: Registry
) -> None:
    export = tmp_path / "survey.csv"
    export.write_bytes((REAL_EXPORTS / "redcap_raw_survey.csv").read_bytes())
    without = plan_export(export, [], registry)
    assert without.dictionary is None
    assert "withdraw_date" in without.unmapped_columns
    mappings = write_mapping(
        tmp_path / "mappings",
        "redcap",
        'source = "redcap_survey"\nmatch = "survey.csv"\n'
        f'dictionary = "{REAL_EXPORTS / "redcap_survey_dictionary.csv"}"\n',
    )
    planned = plan_export(export, mappings, registry)
    assert planned.dictionary == (REAL_EXPORTS / "redcap_survey_dictionary.csv").resolve()
    reasons = {c.column_id: c.reason for c in planned.columns}
    assert reasons["first_name"] == "identifier in the REDCap data dictionary"
    assert reasons["withdraw_date"] == "free-text field in the REDCap data dictionary"
    assert "height" in planned.unmapped_columns


def test_a_codebook_is_not_an_export(tmp_path: Path, registry: Registry) -> None:
    dictionary = tmp_path / "dictionary.csv"
    dictionary.write_text(csv_text([HEADERS["redcap_dictionary"][0]]), encoding="utf-8")
    with pytest.raises(UnreadableExport, match="REDCap data dictionary, not an export"):
        plan_export(dictionary, [], registry)


def test_the_transcoded_copy_holds_only_read_columns_and_is_gone_after(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection, registry: Registry
) -> None:
    mappings = sample_mapping(tmp_path / "mappings")
    export = qualtrics_variants(tmp_path)["windows_1252"]
    plan = plan_export(export, mappings, registry)
    header, rows = read_sample()
    identifying = {
        row[header[0].index(column)]
        for row in rows
        for column in ("IPAddress", "LocationLatitude", "StartDate", "Q11")
        if row[header[0].index(column)]
    }
    read = [column.position for column in [*plan.kept, *plan.with_role("response_id")]]
    with export_rows(warehouse, export, plan.layout, read) as source:
        assert source.csv_path is not None and source.csv_path != export
        copy = source.csv_path.read_text(encoding="utf-8")
        assert [value for value in identifying if value in copy] == []
        assert all(row[header[0].index("ResponseId")] in copy for row in rows)
    assert not source.csv_path.parent.exists()
