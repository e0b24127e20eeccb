"""From a survey tool's export to a published run, as a new site does it: `resilience init`, then
`resilience map` on each export (its draft used as written), then a run.

One export per tool, each in that tool's own layout (modelled on the real exports in
../shared/fixtures/real-exports and the tools' documented layouts): question-text or
tool-numbered item columns, team names and aliases rather than roster ids, no wave column, and
choice text with the tool's ways of saying "not answered". The seven exports share one site and
one run (the pipeline stages in-process); the published team means must equal the means worked
out here, independently, from the answers written.

Item wording is placeholder text: no instrument's wording is written anywhere.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import random
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from resilience.cli import main
from resilience.instruments import Registry
from resilience.pipeline import RunReport
from resilience.settings import PROJECT_ROOT, load_settings
from tests.conftest import run_stages
from tests.test_ingest_formats import write_xlsx

INSTRUMENTS = ("proqol", "cbi", "brs")
WAVE = "2026-01"
RESPONSES_PER_TEAM = 9
OUTSIDE_THE_WINDOW = dt.datetime(2026, 2, 9, 16, 5)


@dataclass(frozen=True)
class Response:
    number: int
    team_written: str
    team_id: str
    submitted: dt.datetime
    codes: dict[str, int | None]
    """Item id -> the answer code given, None when not answered."""
    written: dict[str, str]
    """Item id -> the cell as the tool writes it (a label, a missing answer, or blank)."""


@dataclass(frozen=True)
class Tool:
    name: str
    file_name: str
    missing_answers: tuple[str, ...]
    write: Callable[[Path, list[Response], Registry], None]


def make_responses(tool: str, missing: tuple[str, ...], registry: Registry) -> list[Response]:
    """Nine responses per team of the tool's two teams, the team written as its name or alias
    in varying case, answers drawn at random with about one in fifteen not answered."""
    chooser = random.Random(tool)
    teams = [(f"{tool}-a", f"{tool.title()} outreach"), (f"{tool}-b", f"{tool.title()} clinic")]
    spellings = {
        f"{tool}-a": [f"{tool.title()} outreach", f"  {tool.upper()} OUTREACH ", f"{tool} street"],
        f"{tool}-b": [f"{tool.title()} clinic", f"{tool} CLINIC", f"{tool} day service"],
    }
    items = [item for i in INSTRUMENTS for item in registry.instrument(i).items]
    responses = []
    for number in range(2 * RESPONSES_PER_TEAM):
        team_id = teams[number % 2][0]
        codes: dict[str, int | None] = {}
        written: dict[str, str] = {}
        for item in items:
            if chooser.random() < 1 / 15:
                codes[item.id], written[item.id] = None, chooser.choice(missing)
            else:
                option = chooser.choice(item.options)
                codes[item.id], written[item.id] = option.code, option.label
        responses.append(
            Response(
                number=number + 1,
                team_written=spellings[team_id][number % 3],
                team_id=team_id,
                submitted=dt.datetime(2026, 1, 12, 8, 30) + dt.timedelta(hours=7 * number),
                codes=codes,
                written=written,
            )
        )
    return responses


def roster_rows(tool: str) -> list[str]:
    return [
        f"{tool}-a,{tool.title()} outreach,{tool},Community services,{WAVE},10,{tool} street",
        f"{tool}-b,{tool.title()} clinic,{tool},Community services,{WAVE},10,{tool} day service",
    ]


def item_ids(registry: Registry) -> list[str]:
    return [item.id for i in INSTRUMENTS for item in registry.instrument(i).items]


def csv_text(records: list[list[str]], quote_all: bool = False) -> str:
    out = io.StringIO()
    quoting = csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    csv.writer(out, lineterminator="\r\n", quoting=quoting).writerows(records)
    return out.getvalue()


# Placeholder question text: each block of items is introduced as the tool shows a matrix.
def statement(instrument: str, number: int) -> str:
    return f"{instrument.upper()} statement {number} (enter the official wording)"


def qualtrics_blocks(registry: Registry) -> list[tuple[str, str]]:
    """(column id, question text) of the item columns: one matrix question per instrument."""
    columns = []
    for question, instrument in enumerate(INSTRUMENTS, start=5):
        for number, _ in enumerate(registry.instrument(instrument).items, start=1):
            columns.append((f"Q{question}_{number}", statement(instrument, number)))
    return columns


def write_qualtrics_modern(path: Path, responses: list[Response], registry: Registry) -> None:
    metadata = [
        ("StartDate", "Start Date", '{"ImportId":"startDate","timeZone":"America/Chicago"}'),
        ("EndDate", "End Date", '{"ImportId":"endDate","timeZone":"America/Chicago"}'),
        ("Status", "Response Type", '{"ImportId":"status"}'),
        ("IPAddress", "IP Address", '{"ImportId":"ipAddress"}'),
        ("Progress", "Progress", '{"ImportId":"progress"}'),
        ("Duration (in seconds)", "Duration (in seconds)", '{"ImportId":"duration"}'),
        ("Finished", "Finished", '{"ImportId":"finished"}'),
        ("RecordedDate", "Recorded Date", '{"ImportId":"recordedDate"}'),
        ("ResponseId", "Response ID", '{"ImportId":"_recordId"}'),
        ("RecipientLastName", "Recipient Last Name", '{"ImportId":"recipientLastName"}'),
        ("RecipientFirstName", "Recipient First Name", '{"ImportId":"recipientFirstName"}'),
        ("RecipientEmail", "Recipient Email", '{"ImportId":"recipientEmail"}'),
        ("ExternalReference", "External Data Reference", '{"ImportId":"externalDataReference"}'),
        ("LocationLatitude", "Location Latitude", '{"ImportId":"locationLatitude"}'),
        ("LocationLongitude", "Location Longitude", '{"ImportId":"locationLongitude"}'),
        ("DistributionChannel", "Distribution Channel", '{"ImportId":"distributionChannel"}'),
        ("UserLanguage", "User Language", '{"ImportId":"userLanguage"}'),
    ]
    blocks = qualtrics_blocks(registry)
    header = [
        [name for name, _, _ in metadata] + [c for c, _ in blocks] + ["Q9", "Team"],
        [text for _, text, _ in metadata]
        + [f"How often, in the last 30 days\n - {text}" for _, text in blocks]
        + ["Anything else you want to tell us?", "Team"],
        [import_id for _, _, import_id in metadata]
        + [f'{{"ImportId":"QID{c[1:].replace("_", "_")}"}}' for c, _ in blocks]
        + ['{"ImportId":"QID9_TEXT"}', '{"ImportId":"Team"}'],
    ]
    rows = []
    for response in responses:
        started = response.submitted - dt.timedelta(minutes=14)
        rows.append(
            [
                f"{started:%Y-%m-%d %H:%M:%S}",
                f"{response.submitted:%Y-%m-%d %H:%M:%S}",
                "IP Address",
                "203.0.113.7",
                "100",
                "840",
                "True",
                f"{response.submitted:%Y-%m-%d %H:%M:%S}",
                f"R_{response.number:015d}",
                "",
                "",
                "",
                "",
                "41.88",
                "-87.62",
                "anonymous",
                "EN",
                *(response.written[item] for item in item_ids(registry)),
                "Please call me back on 555 0100",
                response.team_written,
            ]
        )
    # One response was recorded after the fieldwork window closed.
    late = list(rows[0])
    late[7] = f"{OUTSIDE_THE_WINDOW:%Y-%m-%d %H:%M:%S}"
    late[8] = "R_late0000000000"
    path.write_text(csv_text([*header, *rows, late]), encoding="utf-8")


def write_qualtrics_legacy(path: Path, responses: list[Response], registry: Registry) -> None:
    blocks = qualtrics_blocks(registry)
    first = [f"V{n}" for n in range(1, 11)] + [c for c, _ in blocks] + ["Team"]
    first += ["LocationLatitude", "LocationLongitude", "LocationAccuracy", ""]
    second = [
        "ResponseID",
        "ResponseSet",
        "Name",
        "ExternalDataReference",
        "EmailAddress",
        "IPAddress",
        "Status",
        "StartDate",
        "EndDate",
        "Finished",
    ]
    second += [f"How often, in the last 30 days-{text}" for _, text in blocks] + ["Team"]
    second += ["LocationLatitude", "LocationLongitude", "LocationAccuracy", ""]
    rows = [
        [
            f"R_{response.number:015d}",
            "Default Response Set",
            "Anonymous",
            "",
            "",
            "198.51.100.4",
            "0",
            f"{response.submitted - dt.timedelta(minutes=9):%Y-%m-%d %H:%M:%S}",
            f"{response.submitted:%Y-%m-%d %H:%M:%S}",
            "1",
            *(response.written[item] for item in item_ids(registry)),
            response.team_written,
            "41.88",
            "-87.62",
            "-1",
            "",
        ]
        for response in responses
    ]
    path.write_text(csv_text([first, second, *rows]), encoding="utf-8-sig")


def write_surveymonkey(path: Path, responses: list[Response], registry: Registry) -> None:
    metadata = [
        "Respondent ID",
        "Collector ID",
        "Start Date",
        "End Date",
        "IP Address",
        "Email Address",
        "First Name",
        "Last Name",
        "Custom Data 1",
    ]
    questions, options = list(metadata), [""] * len(metadata)
    questions.append("Which team do you work in?")
    options.append("Response")
    for instrument in INSTRUMENTS:
        count = len(registry.instrument(instrument).items)
        questions += [f"{instrument.upper()} block: how much does each apply to you?"]
        questions += [""] * (count - 1)
        options += [statement(instrument, number) for number in range(1, count + 1)]
    rows = [
        [
            str(11_000_000_000 + response.number),
            "432100987",
            f"{response.submitted - dt.timedelta(minutes=11):%m/%d/%Y %I:%M:%S %p}",
            f"{response.submitted:%m/%d/%Y %I:%M:%S %p}",
            "192.0.2.44",
            "",
            "",
            "",
            "",
            response.team_written,
            *(response.written[item] for item in item_ids(registry)),
        ]
        for response in responses
    ]
    path.write_text(csv_text([questions, options, *rows]), encoding="utf-8")


def write_redcap_labels(path: Path, responses: list[Response], registry: Registry) -> None:
    header = ["Record ID", "Survey Identifier", "Survey Timestamp", "Team"]
    header += [
        statement(item.split("_")[0], int(item.split("_")[1])) for item in item_ids(registry)
    ]
    header.append("Complete?")
    rows = [
        [
            str(response.number),
            "",
            f"{response.submitted:%Y-%m-%d %H:%M:%S}",
            response.team_written,
            *(response.written[item] for item in item_ids(registry)),
            "Complete",
        ]
        for response in responses
    ]
    path.write_text(csv_text([header, *rows]), encoding="utf-8")


def write_microsoft_forms(path: Path, responses: list[Response], registry: Registry) -> None:
    header = ["ID", "Start time", "Completion time", "Email", "Name", "Your team"]
    header += [
        statement(item.split("_")[0], int(item.split("_")[1])) for item in item_ids(registry)
    ]
    rows = [
        [
            response.number,
            response.submitted - dt.timedelta(minutes=8),
            response.submitted,
            "anonymous",
            None,
            response.team_written,
            *(response.written[item] or None for item in item_ids(registry)),
        ]
        for response in responses
    ]
    write_xlsx(path, {"Sheet1": [header, *rows]})


def write_google_forms(path: Path, responses: list[Response], registry: Registry) -> None:
    header = ["Timestamp", "Which team are you part of?"]
    for instrument in INSTRUMENTS:
        count = len(registry.instrument(instrument).items)
        header += [
            f"{instrument.upper()} grid: how much does each apply? [Statement {n}]"
            for n in range(1, count + 1)
        ]
    rows = [
        [
            f"{response.submitted.month}/{response.submitted.day}/{response.submitted.year} "
            f"{response.submitted:%H:%M:%S}",
            response.team_written,
            *(response.written[item] for item in item_ids(registry)),
        ]
        for response in responses
    ]
    path.write_text(csv_text([header, *rows]), encoding="utf-8")


# LimeSurvey's own columns before the questions, in its question-text heading layout.
LIMESURVEY_RESPONSE_COLUMNS = (
    "Response ID",
    "Date submitted",
    "Last page",
    "Start language",
    "Seed",
    "Date started",
    "Date last action",
    "IP address",
    "Referrer URL",
    "Your team",
)


def write_limesurvey(path: Path, responses: list[Response], registry: Registry) -> None:
    header = list(LIMESURVEY_RESPONSE_COLUMNS)
    for instrument in INSTRUMENTS:
        count = len(registry.instrument(instrument).items)
        header += [
            f"{instrument.upper()} array: how much does each apply? [Statement {n}]"
            for n in range(1, count + 1)
        ]
    header.append("What helps you most at work? [Other]")
    rows = [
        [
            str(response.number),
            f"{response.submitted:%Y-%m-%d %H:%M:%S}",
            "4",
            "en",
            str(918273645 + response.number),
            f"{response.submitted - dt.timedelta(minutes=12):%Y-%m-%d %H:%M:%S}",
            f"{response.submitted:%Y-%m-%d %H:%M:%S}",
            "198.51.100.23",
            "https://intranet.example.org/news",
            response.team_written,
            *(response.written[item] for item in item_ids(registry)),
            "My colleague Sam, every day",
        ]
        for response in responses
    ]
    path.write_text(csv_text([header, *rows], quote_all=True), encoding="utf-8")


TOOLS = (
    Tool("qualtrics_modern", "qualtrics_pulse_2026-01-31.csv", ("-99", ""), write_qualtrics_modern),
    Tool(
        "qualtrics_legacy",
        "legacy_pulse_2026-01-31.csv",
        ("Don't know", ""),
        write_qualtrics_legacy,
    ),
    Tool(
        "surveymonkey",
        "Staff Wellbeing Survey 2026.csv",
        ("Prefer not to answer", "Not applicable"),
        write_surveymonkey,
    ),
    Tool(
        "redcap_labels",
        "StaffWellbeing_DATA_LABELS_2026-01-31_1015.csv",
        ("Don't know", ""),
        write_redcap_labels,
    ),
    Tool(
        "microsoft_forms",
        "Staff wellbeing check-in(1-14).xlsx",
        ("Prefer not to answer", ""),
        write_microsoft_forms,
    ),
    Tool(
        "google_forms",
        "Staff wellbeing (Responses) - Form responses 1.csv",
        ("Prefer not to say", ""),
        write_google_forms,
    ),
    Tool("limesurvey", "results-survey482913.csv", ("N/A", ""), write_limesurvey),
)


@dataclass(frozen=True)
class Site:
    config: Path
    responses: dict[str, list[Response]]
    drafts: dict[str, str]
    report: RunReport


ONBOARDING_DOC = PROJECT_ROOT / "docs" / "onboarding.md"


def documented_commands() -> list[list[str]]:
    """Every command of docs/onboarding.md, in order, as arguments."""
    blocks = re.findall(r"```sh\n(.*?)```", ONBOARDING_DOC.read_text(encoding="utf-8"), re.S)
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.strip()]


def fill_in_the_site(folder: Path, registry: Registry) -> dict[str, list[Response]]:
    """What a site's people do between `init` and `map`: the roster, the fieldwork window, an
    action log, and one export per tool."""
    with (folder / "roster.csv").open("a", encoding="utf-8") as roster:
        roster.writelines(row + "\n" for tool in TOOLS for row in roster_rows(tool.name))
    with (folder / "waves.csv").open("a", encoding="utf-8") as waves:
        waves.write(f"{WAVE},2026-01-05,2026-01-31\n")
    with (folder / "actions.csv").open("a", encoding="utf-8") as actions:
        actions.write(f"{TOOLS[0].name}-a,2026-01-20,Peer support circle started\n")
        actions.write("T999,2026-01-21,An action of a team the roster does not list\n")
    responses = {}
    for tool in TOOLS:
        responses[tool.name] = make_responses(tool.name, tool.missing_answers, registry)
        tool.write(folder / "exports" / tool.file_name, responses[tool.name], registry)
    return responses


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> Site:
    """docs/onboarding.md followed command by command in a scratch folder: `resilience init`, the
    exports put in, `resilience map` on each, and the run (its stages in-process: the command
    line's Prefect flow runs the same stages, and tests/test_operations.py runs it)."""
    root = tmp_path_factory.mktemp("onboarding")
    working_dir = Path.cwd()
    os.chdir(root)
    try:
        responses: dict[str, list[Response]] = {}
        report = None
        for arguments in documented_commands():
            assert arguments[0] == "resilience", arguments
            command = arguments[1]
            if command == "run":
                config = Path(arguments[arguments.index("--config") + 1])
                report = run_stages(load_settings(config), registry)
                continue
            code = main(arguments[1:])
            if command in ("init", "map", "survey-kit", "status"):
                assert code == 0, arguments
            if command == "init":
                responses = fill_in_the_site(root / arguments[2], registry)
        config = root / "site" / "resilience.toml"
        drafts = {
            path.stem: path.read_text(encoding="utf-8")
            for path in (root / "site" / "mappings").glob("*.toml")
        }
    finally:
        os.chdir(working_dir)
    assert report is not None, "docs/onboarding.md runs no 'resilience run'"
    return Site(config, responses, drafts, report)


def expected_scores(responses: list[Response], registry: Registry) -> dict[str, float | None]:
    """Each scale's mean over the responses it scores, worked out from the instrument rules."""
    means = {}
    for instrument_id in INSTRUMENTS:
        instrument = registry.instrument(instrument_id)
        items = {item.id: item for item in instrument.items}
        for scale in instrument.scales:
            scores = []
            for response in responses:
                values = []
                for item_id in scale.item_ids:
                    code = response.codes[item_id]
                    if code is None:
                        continue
                    value = next(o.value for o in items[item_id].options if o.code == code)
                    low, high = items[item_id].value_range
                    values.append(
                        low + high - value if item_id in scale.reversed_item_ids else value
                    )
                if len(values) < scale.min_answered:
                    continue
                mean = sum(values) / len(values)
                scores.append(mean * len(scale.item_ids) if scale.method == "sum" else mean)
            means[scale.indicator] = sum(scores) / len(scores) if scores else None
    return means


@pytest.mark.parametrize("tool", TOOLS, ids=[tool.name for tool in TOOLS])
def test_each_tools_export_is_mapped_and_its_team_means_published(
    site: Site, registry: Registry, tool: Tool
) -> None:
    draft = site.drafts[tool.name]
    assert "Not placed" not in draft.split("[columns]")[1].split("# Not placed")[0]
    for instrument in INSTRUMENTS:
        name = registry.instrument(instrument).name
        assert f"# {name} ({len(registry.instrument(instrument).items)} items)" in draft
    assert '= "team"' in draft

    settings = load_settings(site.config)
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        published = {
            (team_id, indicator): value
            for team_id, indicator, value in con.execute(
                "select team_id, indicator, value from team_indicators "
                "where wave = ? and team_id like ? and not suppressed",
                [WAVE, f"{tool.name}-%"],
            ).fetchall()
        }
    responses = site.responses[tool.name]
    for team_id in (f"{tool.name}-a", f"{tool.name}-b"):
        expected = expected_scores([r for r in responses if r.team_id == team_id], registry)
        for indicator, value in expected.items():
            assert published[(team_id, indicator)] == pytest.approx(value, abs=1e-6), indicator


def test_nothing_identifying_or_free_text_reaches_the_warehouse(site: Site) -> None:
    settings = load_settings(site.config)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        columns = {
            name
            for (name,) in con.execute(
                "select column_name from (describe raw_responses)"
            ).fetchall()
        }
        text = " ".join(
            str(cell)
            for row in con.execute("select * from raw_responses").fetchall()
            for cell in row
        )
    assert not [c for c in columns if c.startswith("text_")]
    for identifying in ("203.0.113.7", "555 0100", "Sam", "intranet", "918273646", "R_0000"):
        assert identifying not in text


def test_a_response_recorded_outside_every_window_is_quarantined_with_its_date(
    site: Site,
) -> None:
    settings = load_settings(site.config)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        cells = con.execute(
            "select column_name, rule, value from quarantine where rule = 'no_wave'"
        ).fetchall()
        statuses = dict(con.execute("select file_name, status from raw_files").fetchall())
    assert cells == [("date_in_no_wave", "no_wave", f"{OUTSIDE_THE_WINDOW:%Y-%m-%d}")]
    assert set(statuses.values()) == {"loaded"}, statuses


def test_the_guide_maps_every_tools_export(site: Site) -> None:
    assert set(site.drafts) == {tool.name for tool in TOOLS}
    guide = ONBOARDING_DOC.read_text(encoding="utf-8")
    for tool in TOOLS:
        assert tool.file_name in guide


def test_unanswered_items_are_counted_per_item_in_the_validation_report(site: Site) -> None:
    settings = load_settings(site.config)
    page = (settings.dashboards_dir / "validation.html").read_text(encoding="utf-8")
    unanswered = page.split('id="unanswered"')[1].split("</section>")[0]
    for tool in TOOLS:
        assert f'data-file="{tool.file_name}"' in unanswered.replace("&#39;", "'")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        counted = dict(
            con.execute(
                "select item_id, sum(answers) from unanswered_answers "
                "join raw_files using (file_sha256) where file_name = ? group by item_id",
                [TOOLS[0].file_name],
            ).fetchall()
        )
    # Every row read for validation counts, the late response (a copy of the first) included.
    responses = site.responses[TOOLS[0].name]
    expected: dict[str, int] = {}
    for response in [*responses, responses[0]]:
        for item_id, code in response.codes.items():
            if code is None:
                expected[item_id] = expected.get(item_id, 0) + 1
    assert counted == expected


def test_actions_of_teams_not_on_the_roster_are_reported_and_not_published(site: Site) -> None:
    assert site.report.actions_off_roster == {"T999": 1}
    settings = load_settings(site.config)
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        teams = [team for (team,) in con.execute("select distinct team_id from actions").fetchall()]
    assert teams == [f"{TOOLS[0].name}-a"]
