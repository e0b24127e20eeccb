"""The real exports in ../shared/fixtures/real-exports: each recognised and counted, its identifying
columns named, and none of their values anywhere in the pipeline's output folder afterwards."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from resilience import pipeline
from resilience.cli import main
from resilience.formats import UnreadableExport
from resilience.ingest import list_exports, plan_export
from resilience.inspection import inspect_export
from resilience.instruments import Registry
from resilience.readers import detect_layout
from resilience.settings import Settings, load_settings
from tests.conftest import REAL_EXPORTS, make_project

pytestmark = pytest.mark.skipif(
    not REAL_EXPORTS.is_dir(), reason=f"real-export fixtures not found at {REAL_EXPORTS}"
)

DICTIONARY = "redcap_survey_dictionary.csv"
QUALTRICS_METADATA = frozenset(
    {"StartDate", "EndDate", "IPAddress", "LocationLatitude", "LocationLongitude"}
)
REDCAP_SURVEY_FIELDS = frozenset(
    {
        "participant_id",
        "redcap_survey_identifier",
        "prescreening_survey_timestamp",
        "participant_info_survey_timestamp",
        "participant_morale_questionnaire_timestamp",
        "dob",
        "email",
        "first_name",
        "last_name",
        "address",
        "telephone_1",
        "study_comments",
        # text fields holding dates: free text by the data dictionary
        "withdraw_date",
        "date_visit_4",
        "discharge_date_4",
    }
)


@dataclass(frozen=True)
class Fixture:
    format: str
    rows: int
    """Data rows, as the fixtures' README counts them."""
    responses: int
    """Rows that are not Qualtrics previews, tests or spam."""
    identifying: frozenset[str]


FIXTURES = {
    "qualtrics_modern_qualtRics_sample.csv": Fixture(
        "qualtrics_modern",
        rows=1,
        responses=1,
        identifying=QUALTRICS_METADATA
        | {
            "ResponseId",
            "RecipientLastName",
            "RecipientFirstName",
            "RecipientEmail",
            "ExternalReference",
            "Q2",  # free text (ImportId QID2_TEXT)
            "Q2 - Topics",  # Text iQ topics of that free text
        },
    ),
    "qualtrics_legacy_qualtRics_sample.csv": Fixture(
        "qualtrics_legacy",
        rows=1,
        responses=1,
        identifying=QUALTRICS_METADATA
        | {"ResponseID", "Name", "ExternalDataReference", "EmailAddress"},
    ),
    # Every response in both matrix files is a survey test (status 2): read, then dropped.
    "qualtrics_insights_matrix.csv": Fixture(
        "qualtrics_insights",
        rows=5,
        responses=0,
        identifying=QUALTRICS_METADATA
        | {
            "ResponseID",
            "RecipientLastName",
            "RecipientFirstName",
            "RecipientEmail",
            "ExternalDataReference",
            "matrix_question_five_question_two_TEXT",
        },
    ),
    "qualtrics_legacy_matrix.csv": Fixture(
        "qualtrics_legacy",
        rows=5,
        responses=0,
        identifying=QUALTRICS_METADATA
        | {
            "ResponseID",
            "Name",
            "ExternalDataReference",
            "EmailAddress",
            "matrix_question_fivequestion_two_TEXT",
        },
    ),
    "redcap_raw_survey.csv": Fixture(
        "redcap_raw", rows=2, responses=2, identifying=REDCAP_SURVEY_FIELDS
    ),
    "redcap_raw_simple.csv": Fixture(
        "redcap_raw",
        rows=5,
        responses=5,
        identifying=frozenset(
            {
                "record_id",
                "name_first",
                "name_last",
                "address",
                "telephone",
                "email",
                "dob",
                "comments",
            }
        ),
    ),
    "surveymonkey_expanded_steak.csv": Fixture(
        "surveymonkey", rows=550, responses=550, identifying=frozenset({"RespondentID"})
    ),
}

# A mapping per fixture, so that each one is archived, staged and validated like a real survey:
# (file-name glob, team column, wave column, item column, canonical item, extra TOML).
FIXTURE_MAPPINGS = [
    ("qualtrics_modern_*.csv", "DistributionChannel", "UserLanguage", "Q1", "proqol_1", ""),
    ("qualtrics_legacy_qualtRics*.csv", "ResponseSet", "LocationAccuracy", "Q1", "proqol_1", ""),
    (
        "qualtrics_*_matrix.csv",
        "ResponseSet",
        "Finished",
        "Q4_1",
        "cbi_1",
        '[answers.cbi]\n"10" = 1\n"11" = 2\n"12" = 3\n"13" = 4\n',
    ),
    ("redcap_raw_survey.csv", "has_diabetes", "consent___1", "pmq3", "ctx_critical_incident", ""),
    ("redcap_raw_simple.csv", "sex", "race___1", "ethnicity", "proqol_1", ""),
    (
        "surveymonkey_*.csv",
        "Location (Census Region)",
        "Age",
        "Do you ever smoke cigarettes?",
        "ctx_critical_incident",
        "",
    ),
]
# Qualtrics writes these in its Name column when nobody was named: placeholders, not names.
PLACEHOLDERS = {"Anonymous", "Anonym"}


def test_every_fixture_is_covered() -> None:
    names = {path.name for path in REAL_EXPORTS.iterdir()} - {"README.md"}
    assert names == {*FIXTURES, DICTIONARY}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_format_responses_and_identifying_columns(name: str, registry: Registry) -> None:
    expected = FIXTURES[name]
    result = inspect_export(REAL_EXPORTS / name, [], registry)
    assert result["format"] == expected.format
    assert (result["rows"], result["responses"]) == (expected.rows, expected.responses)
    assert set(result["identifying_columns"]) == expected.identifying
    assert expected.identifying.isdisjoint(result["unmapped_columns"])
    # Without a mapping nothing is kept, and inspect says why the file could not be loaded.
    assert result["mapped_columns"] == {}
    assert any("no team column" in problem for problem in result["problems"])
    json.dumps(result)


def test_the_data_dictionary_is_a_codebook_not_an_export(registry: Registry) -> None:
    assert DICTIONARY not in {path.name for path in list_exports(REAL_EXPORTS)}
    with pytest.raises(UnreadableExport, match="REDCap data dictionary, not an export"):
        plan_export(REAL_EXPORTS / DICTIONARY, [], registry)
    beside = plan_export(REAL_EXPORTS / "redcap_raw_survey.csv", [], registry)
    assert beside.dictionary == REAL_EXPORTS / DICTIONARY


def test_duplicate_legacy_headers_get_distinct_ids(registry: Registry) -> None:
    plan = plan_export(REAL_EXPORTS / "qualtrics_legacy_matrix.csv", [], registry)
    ids = plan.layout.column_ids
    assert {"question_one", "question_one.1", "question_one.2"} <= set(ids)
    assert len(set(ids)) == len(ids)
    assert ids[-1] == ""  # the trailing comma's empty column


def identifying_values(path: Path) -> set[str]:
    """Every identifying value in a fixture, read with the csv module alone."""
    layout = detect_layout(path)
    text = path.read_bytes().decode("utf-8-sig")
    records = list(csv.reader(io.StringIO(text, newline="")))[layout.header_rows :]
    positions = [layout.column_ids.index(column) for column in FIXTURES[path.name].identifying]
    return {
        record[position].strip()
        for record in records
        for position in positions
        if len(record[position].strip()) >= 6 and record[position].strip() not in PLACEHOLDERS
    }


def stored_texts(settings: Settings) -> set[str]:
    """Every distinct text value in every table of every DuckDB file and archive in the output."""
    texts: set[str] = set()
    with duckdb.connect() as con:
        for path in sorted(settings.paths.out.rglob("*.duckdb")):
            con.execute(f"attach '{path}' as stored (read_only)")
            tables = con.execute(
                "select schema_name, table_name from duckdb_tables() where database_name = 'stored'"
            ).fetchall()
            for schema, table in tables:
                texts |= _distinct_texts(con, f'stored."{schema}"."{table}"')
            con.execute("detach stored")
        for path in sorted(settings.paths.out.rglob("*.parquet")):
            texts |= _distinct_texts(con, f"read_parquet('{path}')")
    return texts


def _distinct_texts(con: duckdb.DuckDBPyConnection, relation: str) -> set[str]:
    columns = [row[0] for row in con.execute(f"describe select * from {relation}").fetchall()]
    values: set[str] = set()
    for column in columns:
        rows = con.execute(f'select distinct cast("{column}" as varchar) from {relation}')
        values |= {value for (value,) in rows.fetchall() if value}
    return values


@pytest.fixture(scope="module")
def fixtures_run(
    tmp_path_factory: pytest.TempPathFactory, registry: Registry
) -> tuple[Settings, pipeline.RunReport]:
    """A sample wave and every fixture through ingest, validation, load and scoring, the fixtures
    read in place (linked). The dashboards are built from the scored marts only, which hold no
    response-level text; the sample's own run checks them."""
    work = tmp_path_factory.mktemp("fixtures_run")
    config = make_project(work)
    settings = load_settings(config)
    for sample in sorted(settings.paths.exports.iterdir())[1:]:
        sample.unlink()  # one wave of the sample is context enough
    for path in REAL_EXPORTS.iterdir():
        if path.suffix == ".csv":
            (settings.paths.exports / path.name).symlink_to(path)
    for number, (match, team, wave, column, item, extra) in enumerate(FIXTURE_MAPPINGS):
        (settings.paths.mappings / f"fixture_{number}.toml").write_text(
            f'source = "fixture_{number}"\nmatch = "{match}"\n[columns]\n'
            f'"{team}" = "team"\n"{wave}" = "wave"\n"{column}" = "{item}"\n{extra}',
            encoding="utf-8",
        )
    report = pipeline.new_run()
    report = pipeline.ingest_exports(settings, report, registry)
    report = pipeline.validate(settings, report, registry)
    report = pipeline.load(settings, report)
    pipeline.transform(settings, registry)
    return settings, report


def test_each_fixture_is_read_and_its_rows_validated(
    fixtures_run: tuple[Settings, pipeline.RunReport],
) -> None:
    _, report = fixtures_run
    files = {file.file_name: file for file in report.files}
    assert DICTIONARY not in files
    for name, expected in FIXTURES.items():
        file = files[name]
        assert file.archive_path is not None
        assert file.rows_read == expected.rows
        assert file.rows_dropped_status == expected.rows - expected.responses
        # The fixtures' "teams" are not on the roster: validation holds their rows back.
        assert (file.rows_loaded, file.rows_quarantined) == (0, expected.responses)


def test_no_identifying_value_of_any_fixture_is_stored(
    fixtures_run: tuple[Settings, pipeline.RunReport],
) -> None:
    settings, _ = fixtures_run
    secrets = set().union(*(identifying_values(REAL_EXPORTS / name) for name in FIXTURES))
    assert len(secrets) > 550
    assert {"130.92.34.66", "aaa@bbb.com", "Nutmeg", "42.401901245117"} <= secrets
    any_secret = "|".join(re.escape(secret) for secret in sorted(secrets))
    written = {path.resolve() for path in settings.paths.out.rglob("*") if path.is_file()}
    assert {path.suffix for path in written} >= {".duckdb", ".parquet"}
    in_bytes = re.compile(any_secret.encode("utf-8"))
    assert [path.name for path in sorted(written) if in_bytes.search(path.read_bytes())] == []
    stored = stored_texts(settings)
    assert len(stored) > 1000
    assert [text for text in stored if re.search(any_secret, text)] == []


INSPECT_KEYS = {
    "format",
    "responses",
    "identifying_columns",
    "mapped_columns",
    "unmapped_columns",
    "problems",
}


def test_inspect_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    exit_code = main(["inspect", str(REAL_EXPORTS / "redcap_raw_survey.csv"), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= INSPECT_KEYS
    assert (result["format"], result["tool"], result["responses"]) == ("redcap_raw", "REDCap", 2)
    assert result["data_dictionary"] == str(REAL_EXPORTS / DICTIONARY)
    assert result["why_not_kept"]["email"] == "identifier in the REDCap data dictionary"
    assert exit_code == 1  # the problems: nothing maps to a team, a wave or an item
