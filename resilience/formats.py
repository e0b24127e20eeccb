"""Survey export formats as data: how to recognise each tool's layout and what its columns mean.

Every column of an export gets a role. Only `item`, `team`, `wave`, `text` (free text that a
mapping explicitly allows) and the kept metadata roles ever leave the reader; `identifying`,
`dropped` and `unmapped` columns are never stored.

A format is a row of the `FORMATS` table: the signatures its header records show, how many header
rows it has, how its column names are built from them, and which metadata columns it writes. The
first format whose signatures all hold is the file's format; `plain` (canonical ids, or columns a
mapping names) is the fallback.

Mapping files (one TOML per survey source, in the mappings folder)::

    source = "qualtrics_staff_survey"   # names the source; response ids are re-keyed per source
    match = "staff_survey_*.csv"        # file-name glob of the exports it applies to
    dictionary = "codebook.csv"         # optional: REDCap data dictionary, relative to this file

    [columns]                           # export column -> canonical id (item id, team or wave)
    "Q1_1" = "proqol_1"

    [answers.proqol]                    # optional, per instrument or per item id (an item's table
    "10" = 1                            # wins): the export's own answer values (recodes or choice
    "11" = 2                            # text, compared case- and whitespace-insensitively) -> the
                                        # instrument's answer codes

    [free_text]                         # optional: free-text columns to keep, as text_<name>
    "Q11" = "text_support_wishes"       # columns; every other free-text column is dropped

    missing_answers = ["Skipped"]       # optional: more answers meaning "not answered", beside
                                        # each instrument's own (resilience/instruments.py)
    wave = "2026-01"                    # optional: every response of these files is in this wave
    wave_from_file = "_(\\\\d{4}-\\\\d{2})"  # optional: or the wave is the part of the file name
                                        # this regular expression's first group finds
    recorded_date = "EndDate"           # optional: the column whose date (never its time of
                                        # day) is each response's recorded date, where the tool
                                        # writes none the reader knows (legacy Qualtrics,
                                        # REDCap's survey timestamp)

Without a wave column, `wave` or `wave_from_file`, a response's wave is the fieldwork window
(`paths.waves`, `[quality.waves]`) holding its recorded date.

A recode table replaces the item's plain codes: with `[answers.proqol]`, only its keys and the
instrument's answer labels are accepted, so a stray "3" is not mistaken for code 3. Column names
that occur twice in one export are told apart as `name`, `name.1`, `name.2`, ...
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Literal

Role = Literal[
    "response_id",
    "status",
    "progress",
    "duration_seconds",
    "finished",
    "recorded_at",
    "team",
    "wave",
    "item",
    "text",
    "identifying",
    "dropped",
    "unmapped",
]
KEPT_METADATA_ROLES: tuple[Role, ...] = (
    "status",
    "progress",
    "duration_seconds",
    "finished",
    "recorded_at",
)

# Qualtrics response types that are not real responses: previews, tests and spam.
DROPPED_STATUSES = ("1", "17", "2", "8", "9", "survey preview", "survey test", "spam")

# Column names that identify a person in any layout, whatever tool wrote them.
IDENTIFYING_NAME_PATTERN = re.compile(
    r"(^|[^a-z])(ip ?address|ipaddr|e-?mail|first ?name|last ?name|full ?name|name|latitude|"
    r"longitude|token|refurl|external ?(data ?)?reference|phone|telephone|mobile|address|"
    r"dob|birth|date of birth|post ?code|zip ?code|ssn|social security|photo|signature|"
    r"comments?)([^a-z]|$)",
    re.IGNORECASE,
)

FREE_TEXT_TARGET = re.compile(r"text_[a-z0-9_]+")


class UnreadableExport(ValueError):
    """The file cannot be read as a survey export; the message says why."""


class MappingError(ValueError):
    """A mapping file is malformed; the message names the file."""


def collapse_whitespace(text: str) -> str:
    """Header cells compare with runs of whitespace (line breaks in question text) as one space."""
    return " ".join(text.split())


@dataclass(frozen=True)
class Signature:
    """A test on one header record (`row`, counted from 0). Cell comparisons ignore case."""

    row: int = 0
    cells: tuple[str, ...] = ()
    """Cells that must all be present."""
    first_cell: str | None = None
    """A regular expression the first cell must match in full."""
    any_cell: str | None = None
    """A regular expression some cell must match in full."""
    every_cell: str | None = None
    """A regular expression every non-blank cell must match in full."""

    def holds(self, records: Sequence[Sequence[str]]) -> bool:
        if len(records) <= self.row:
            return False
        record = [collapse_whitespace(cell) for cell in records[self.row]]
        present = {cell.casefold() for cell in record}
        if not all(cell.casefold() in present for cell in self.cells):
            return False
        if self.first_cell and not (record and _full_match(self.first_cell, record[0])):
            return False
        if self.any_cell and not any(_full_match(self.any_cell, cell) for cell in record):
            return False
        return not self.every_cell or all(
            _full_match(self.every_cell, cell) for cell in record if cell
        )


def _full_match(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text, re.IGNORECASE) is not None


ColumnNamer = Callable[[Sequence[Sequence[str]]], list[str]]


def first_row_names(header: Sequence[Sequence[str]]) -> list[str]:
    return list(header[0])


def qualtrics_legacy_names(header: Sequence[Sequence[str]]) -> list[str]:
    """Legacy Qualtrics heads its metadata columns V1..V10; their names are in the second row."""
    return [
        second if re.fullmatch(r"V\d+", first.strip()) and second.strip() else first
        for first, second in zip_longest(header[0], header[1], fillvalue="")
    ]


def surveymonkey_names(header: Sequence[Sequence[str]]) -> list[str]:
    """A SurveyMonkey question spans several columns: its text heads the first and the cells
    after it are blank; the second row names each column's option ("Response" when it has one)."""
    names, question = [], ""
    for question_cell, option in zip_longest(header[0], header[1], fillvalue=""):
        question = question_cell.strip() or question
        single = option.strip() in ("", "Response", "Open-Ended Response")
        names.append(question if single else f"{question} - {option.strip()}")
    return names


@dataclass(frozen=True)
class ExportFormat:
    name: str
    tool: str
    header_rows: int
    signatures: tuple[Signature, ...]
    metadata: Mapping[str, Role] = field(default_factory=dict)
    """Metadata column names (compared case-insensitively) and their roles."""
    metadata_patterns: tuple[tuple[str, Role], ...] = ()
    """Regular expressions for metadata names that vary (numbered, per form), and their roles."""
    free_text: str | None = None
    """A regular expression found in some header cell of every free-text column."""
    column_names: ColumnNamer = first_row_names
    record_id_first: bool = False
    """The first column is the record id, whatever its name (REDCap)."""
    is_export: bool = True
    """False for codebooks that sit beside exports but hold no responses."""
    download_stamp: str | None = None
    """A regular expression for what the tool appends to the survey's name in the file name of
    each download (its date and time, or the range of responses): two downloads of one survey
    differ only there. A wave label or a date without a time of day is not a download stamp."""

    def metadata_role(self, name: str) -> Role | None:
        folded = collapse_whitespace(name).casefold()
        for key, role in self.metadata.items():
            if key.casefold() == folded:
                return role
        for pattern, role in self.metadata_patterns:
            if _full_match(pattern, collapse_whitespace(name)):
                return role
        return None

    def is_free_text(self, header_cells: Sequence[str]) -> bool:
        return self.free_text is not None and any(
            re.search(self.free_text, cell) for cell in header_cells
        )


# Qualtrics names a download after the survey, the day and the time: "Staff Survey_June 9,
# 2026_14.22.csv" (the month in the account's language; some browsers write "+" for spaces).
QUALTRICS_DOWNLOAD_STAMP = r"_[^\W\d_]+[ +]\d{1,2},[ +]\d{4}_\d{1,2}\.\d{2}"
# REDCap: "StaffSurvey_DATA_2026-06-09_1422.csv", or "_DATA_LABELS_" for an export of labels.
REDCAP_DOWNLOAD_STAMP = r"_DATA(_LABELS)?_\d{4}-\d{2}-\d{2}_\d{4}"
# Microsoft Forms: the range of response numbers it holds, "Staff survey(1-120).xlsx".
MICROSOFT_FORMS_DOWNLOAD_STAMP = r" ?\(\d+-\d+\)"
# Browsers save a second download of the same name as "name (1).csv", whatever the tool.
COPY_SUFFIX = r" \(\d{1,3}\)"

# Every timestamp that carries a time of day is identifying; only a recorded date is kept.
QUALTRICS_METADATA: dict[str, Role] = {
    "StartDate": "identifying",
    "EndDate": "identifying",
    "Status": "status",
    "IPAddress": "identifying",
    "Progress": "progress",
    "Duration (in seconds)": "duration_seconds",
    "Finished": "finished",
    "RecordedDate": "recorded_at",
    "ResponseId": "response_id",
    "ResponseSet": "dropped",
    "Name": "identifying",
    "EmailAddress": "identifying",
    "RecipientLastName": "identifying",
    "RecipientFirstName": "identifying",
    "RecipientEmail": "identifying",
    "ExternalReference": "identifying",
    "ExternalDataReference": "identifying",
    "LocationLatitude": "identifying",
    "LocationLongitude": "identifying",
    "LocationAccuracy": "dropped",
    "DistributionChannel": "dropped",
    "UserLanguage": "dropped",
    "Q_URL": "identifying",
}
# Qualtrics' own quality and fraud scores (Q_RecaptchaScore, Q_RelevantIDDuplicate, ...).
QUALTRICS_PATTERNS: tuple[tuple[str, Role], ...] = (("Q_.+", "dropped"),)
# Text-entry columns (`QID4_TEXT`, `QID4-2-TEXT`) and the Text iQ columns derived from them.
QUALTRICS_FREE_TEXT = r"[_-]TEXT|\s-\s(Parent\s)?Topics$|\s-\sSentiment"

SURVEYMONKEY_METADATA: dict[str, Role] = {
    "Respondent ID": "response_id",
    "RespondentID": "response_id",
    "Collector ID": "dropped",
    "CollectorID": "dropped",
    "Start Date": "identifying",
    "StartDate": "identifying",
    "End Date": "recorded_at",
    "EndDate": "recorded_at",
    "IP Address": "identifying",
    "Email Address": "identifying",
    "First Name": "identifying",
    "Last Name": "identifying",
}

REDCAP_METADATA: dict[str, Role] = {
    "redcap_survey_identifier": "identifying",
    "redcap_event_name": "dropped",
    "redcap_repeat_instrument": "dropped",
    "redcap_repeat_instance": "dropped",
    "redcap_data_access_group": "dropped",
    # The same fields in a label export.
    "Survey Identifier": "identifying",
    "Survey Timestamp": "identifying",
    "Event Name": "dropped",
    "Repeat Instrument": "dropped",
    "Repeat Instance": "dropped",
    "Data Access Group": "dropped",
    "Complete?": "dropped",
}
REDCAP_PATTERNS: tuple[tuple[str, Role], ...] = (
    (r"[a-z0-9_]+_timestamp", "identifying"),
    (r"[a-z0-9_]+_complete", "dropped"),
)

MICROSOFT_FORMS_METADATA: dict[str, Role] = {
    "ID": "response_id",
    "Start time": "identifying",
    "Completion time": "recorded_at",
    "Email": "identifying",
    "Name": "identifying",
    "Last modified time": "identifying",
    "Total points": "dropped",
    "Quiz feedback": "dropped",
}

# Google Forms names its first column in the form's language.
GOOGLE_TIMESTAMP = (
    r"Timestamp|Marca temporal|Horodateur|Zeitstempel|Carimbo de data/hora|"
    r"Informazioni cronologiche|Tijdstempel|Sygnatura czasowa"
)

# The seed fixes one respondent's randomised question order: it is told apart per person.
LIMESURVEY_METADATA: dict[str, Role] = {
    "id": "response_id",
    "submitdate": "recorded_at",
    "lastpage": "dropped",
    "startlanguage": "dropped",
    "seed": "identifying",
    "startdate": "identifying",
    "datestamp": "identifying",
    "token": "identifying",
    "ipaddr": "identifying",
    "refurl": "identifying",
    "firstname": "identifying",
    "lastname": "identifying",
    "email": "identifying",
    "interviewtime": "duration_seconds",
}
# The same columns when the export is written with "Full question text" headings.
LIMESURVEY_FULL_TEXT_METADATA: dict[str, Role] = {
    "Response ID": "response_id",
    "Date submitted": "recorded_at",
    "Last page": "dropped",
    "Start language": "dropped",
    "Seed": "identifying",
    "Date started": "identifying",
    "Date last action": "identifying",
    "IP address": "identifying",
    "Referrer URL": "identifying",
    "Access code": "identifying",
    "Token": "identifying",
    "First name": "identifying",
    "Last name": "identifying",
    "Email address": "identifying",
    "Total time": "duration_seconds",
}
LIMESURVEY_FREE_TEXT = r"(?i)\[(other|comment)\]"

# Exports whose columns already carry canonical ids may also carry these.
PLAIN_METADATA: dict[str, Role] = {
    "response_id": "response_id",
    "recorded_date": "recorded_at",
    "status": "status",
    "progress": "progress",
    "duration_seconds": "duration_seconds",
    "finished": "finished",
}

# In detection order: the first format whose signatures all hold is the file's format.
FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat(
        name="qualtrics_modern",
        tool="Qualtrics",
        header_rows=3,
        signatures=(Signature(row=2, first_cell=r'\{"ImportId".*'),),
        metadata=QUALTRICS_METADATA,
        metadata_patterns=QUALTRICS_PATTERNS,
        free_text=QUALTRICS_FREE_TEXT,
        download_stamp=QUALTRICS_DOWNLOAD_STAMP,
    ),
    ExportFormat(
        name="qualtrics_insights",
        tool="Qualtrics",
        header_rows=3,
        signatures=(Signature(row=2, first_cell=r"\{'ImportId'.*"),),
        metadata=QUALTRICS_METADATA,
        metadata_patterns=QUALTRICS_PATTERNS,
        free_text=QUALTRICS_FREE_TEXT,
        download_stamp=QUALTRICS_DOWNLOAD_STAMP,
    ),
    ExportFormat(
        name="qualtrics_legacy",
        tool="Qualtrics",
        header_rows=2,
        signatures=(
            Signature(row=0, cells=tuple(f"V{number}" for number in range(1, 11))),
            Signature(row=1, cells=("ResponseID",)),
        ),
        metadata=QUALTRICS_METADATA,
        metadata_patterns=QUALTRICS_PATTERNS,
        free_text=QUALTRICS_FREE_TEXT,
        column_names=qualtrics_legacy_names,
        download_stamp=QUALTRICS_DOWNLOAD_STAMP,
    ),
    ExportFormat(
        name="redcap_dictionary",
        tool="REDCap",
        header_rows=1,
        signatures=(Signature(cells=("Variable / Field Name", "Form Name", "Field Type")),),
        is_export=False,
    ),
    ExportFormat(
        name="surveymonkey",
        tool="SurveyMonkey",
        header_rows=2,
        signatures=(
            Signature(row=0, any_cell=r"Respondent ?ID"),
            Signature(row=1, any_cell=r"Response|Open-Ended Response"),
        ),
        metadata=SURVEYMONKEY_METADATA,
        metadata_patterns=((r"Custom Data ?\d*", "identifying"),),
        free_text=r"^(Open-Ended Response|Other \(please specify\))$",
        column_names=surveymonkey_names,
    ),
    ExportFormat(
        name="limesurvey",
        tool="LimeSurvey",
        header_rows=1,
        signatures=(Signature(cells=("id", "submitdate", "lastpage", "startlanguage")),),
        metadata=LIMESURVEY_METADATA,
        metadata_patterns=(
            (r"attribute_\d+", "identifying"),
            (r"groupTime\d+|\w+Time", "dropped"),
        ),
        free_text=LIMESURVEY_FREE_TEXT,
    ),
    ExportFormat(
        name="limesurvey_full_text",
        tool="LimeSurvey",
        header_rows=1,
        signatures=(Signature(cells=("Response ID", "Date submitted", "Last page")),),
        metadata=LIMESURVEY_FULL_TEXT_METADATA,
        metadata_patterns=(
            (r"Attribute \d+|attribute_\d+", "identifying"),
            (r"(Group|Question) time: .*|Total time", "dropped"),
        ),
        free_text=LIMESURVEY_FREE_TEXT,
    ),
    ExportFormat(
        name="microsoft_forms",
        tool="Microsoft Forms",
        header_rows=1,
        signatures=(Signature(cells=("ID", "Start time", "Completion time")),),
        metadata=MICROSOFT_FORMS_METADATA,
        metadata_patterns=((r"(Points|Feedback) - .*", "dropped"),),
        download_stamp=MICROSOFT_FORMS_DOWNLOAD_STAMP,
    ),
    ExportFormat(
        name="redcap_labels",
        tool="REDCap",
        header_rows=1,
        signatures=(Signature(cells=("Complete?",)),),
        metadata=REDCAP_METADATA,
        metadata_patterns=REDCAP_PATTERNS,
        record_id_first=True,
        download_stamp=REDCAP_DOWNLOAD_STAMP,
    ),
    ExportFormat(
        name="redcap_raw",
        tool="REDCap",
        header_rows=1,
        signatures=(
            Signature(every_cell=r"[a-z][a-z0-9_]*", any_cell=r"[a-z0-9_]+_complete|redcap_.+"),
        ),
        metadata=REDCAP_METADATA,
        metadata_patterns=REDCAP_PATTERNS,
        record_id_first=True,
        download_stamp=REDCAP_DOWNLOAD_STAMP,
    ),
    ExportFormat(
        name="google_forms",
        tool="Google Forms",
        header_rows=1,
        signatures=(Signature(first_cell=GOOGLE_TIMESTAMP),),
        metadata={
            **dict.fromkeys(GOOGLE_TIMESTAMP.split("|"), "recorded_at"),
            "Email Address": "identifying",
            "Username": "identifying",
            "Score": "dropped",
        },
    ),
    ExportFormat(
        name="plain",
        tool="plain table",
        header_rows=1,
        signatures=(),
        metadata=PLAIN_METADATA,
    ),
)


FORMATS_BY_NAME = {export_format.name: export_format for export_format in FORMATS}


def survey_name(file_name: str, format_name: str) -> str:
    """The name of the survey an export of `format_name` called `file_name` is a download of:
    its name without suffix, a browser's copy number or the tool's download stamp. Downloads of
    one survey on different days share it; per-wave exports ("staff_survey_2026-01.csv") keep
    their wave label, so they do not."""
    name = Path(file_name).stem
    name = re.sub(f"(?:{COPY_SUFFIX})$", "", name)
    export_format = FORMATS_BY_NAME.get(format_name)
    if export_format is not None and export_format.download_stamp:
        name = re.sub(f"(?:{export_format.download_stamp})$", "", name, flags=re.IGNORECASE)
    return name


def identify_format(records: Sequence[Sequence[str]]) -> ExportFormat:
    """The format of a file whose first records are `records` (`plain` when nothing else fits)."""
    return next(f for f in FORMATS if all(s.holds(records) for s in f.signatures))


def unique_column_ids(names: Sequence[str]) -> list[str]:
    """Column names with runs of whitespace collapsed; a repeated name becomes `name.1`, ..."""
    seen: dict[str, int] = {}
    ids = []
    for name in (collapse_whitespace(name) for name in names):
        count = seen.get(name, 0)
        seen[name] = count + 1
        ids.append(f"{name}.{count}" if count else name)
    return ids


@dataclass(frozen=True)
class DictionaryField:
    """One field of a REDCap data dictionary."""

    name: str
    label: str
    field_type: str
    validation: str
    identifier: bool


# REDCap text fields validated as numbers hold no free text.
NUMERIC_VALIDATIONS = re.compile(r"integer|number.*|zipcode", re.IGNORECASE)


@dataclass(frozen=True)
class RedcapDictionary:
    path: Path
    fields: tuple[DictionaryField, ...]

    def field_for(self, column_name: str) -> DictionaryField | None:
        """The field behind a raw (`consent___1`) or label (`Consent (choice=Yes)`) column."""
        raw = column_name.split("___")[0]
        label = collapse_whitespace(column_name.split(" (choice=")[0]).casefold()
        for candidate in self.fields:
            if candidate.name == raw or collapse_whitespace(candidate.label).casefold() == label:
                return candidate
        return None

    def identifier_reason(self, column_name: str) -> str | None:
        found = self.field_for(column_name)
        return "identifier in the REDCap data dictionary" if found and found.identifier else None

    def free_text_reason(self, column_name: str) -> str | None:
        found = self.field_for(column_name)
        if found is None:
            return None
        if found.field_type == "file":
            return "file upload in the REDCap data dictionary"
        if found.field_type == "notes" or (
            found.field_type == "text" and not NUMERIC_VALIDATIONS.fullmatch(found.validation)
        ):
            return "free-text field in the REDCap data dictionary"
        return None


def redcap_dictionary_from_records(
    path: Path, records: Sequence[Sequence[str]]
) -> RedcapDictionary:
    header = [collapse_whitespace(cell) for cell in records[0]]

    def column(name: str) -> int:
        if name not in header:
            raise UnreadableExport(f"{path.name}: no {name!r} column in the data dictionary")
        return header.index(name)

    name, label, kind = column("Variable / Field Name"), column("Field Label"), column("Field Type")
    validation = column("Text Validation Type OR Show Slider Number")
    identifier = column("Identifier?")
    fields = tuple(
        DictionaryField(
            name=row[name].strip(),
            label=row[label],
            field_type=row[kind].strip().lower(),
            validation=row[validation].strip(),
            identifier=row[identifier].strip().lower() == "y",
        )
        for row in records[1:]
        if len(row) > max(name, label, kind, validation, identifier) and row[name].strip()
    )
    return RedcapDictionary(path=path, fields=fields)


@dataclass(frozen=True)
class SourceMapping:
    """Export columns -> canonical ids for one survey source (a TOML file in `mappings/`)."""

    source: str
    match: str
    columns: Mapping[str, str] = field(default_factory=dict)
    answers: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Instrument or item id -> the export's answer value -> answer code."""
    free_text: Mapping[str, str] = field(default_factory=dict)
    """Export column -> the `text_<name>` column it is kept as."""
    dictionary: Path | None = None
    missing_answers: tuple[str, ...] = ()
    """Answers meaning "not answered" in this source, beside the instruments' own."""
    wave: str | None = None
    """The wave of every response in the source's files."""
    wave_from_file: str | None = None
    """A regular expression whose first group, found in the file name, is the wave."""
    recorded_date: str | None = None
    """The column whose date is each response's recorded date, in place of the tool's own."""
    path: Path | None = None
    """The mapping file."""

    def applies_to(self, path: Path) -> bool:
        return fnmatch.fnmatch(path.name, self.match)

    def file_wave(self, path: Path) -> str | None:
        """The wave the mapping gives every response of `path`, if it gives one."""
        if self.wave is not None:
            return self.wave
        if self.wave_from_file is None:
            return None
        found = re.search(self.wave_from_file, path.name)
        return found.group(1) if found else None


def _string_table(data: object, where: str) -> dict[str, str]:
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise MappingError(f"{where} must map column names to text")
    return dict(data)


def _mapping_from_toml(path: Path) -> SourceMapping:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise MappingError(f"{path.name}: not valid TOML ({error})") from error
    for key in ("source", "match"):
        if not isinstance(data.get(key), str):
            raise MappingError(f"{path.name}: '{key}' must be given as text")
    answers = data.get("answers", {})
    if not isinstance(answers, dict) or not all(
        isinstance(table, dict)
        and all(isinstance(code, int) and not isinstance(code, bool) for code in table.values())
        for table in answers.values()
    ):
        raise MappingError(f"{path.name}: [answers.<id>] tables must map answers to whole numbers")
    free_text = _string_table(data.get("free_text", {}), f"{path.name}: [free_text]")
    misnamed = [name for name in free_text.values() if not FREE_TEXT_TARGET.fullmatch(name)]
    if misnamed:
        raise MappingError(
            f"{path.name}: [free_text] names must look like text_<name> (lower case): "
            + ", ".join(misnamed)
        )
    dictionary = data.get("dictionary")
    if dictionary is not None and not (path.parent / str(dictionary)).is_file():
        raise MappingError(f"{path.name}: dictionary file {dictionary!r} not found")
    missing = data.get("missing_answers", [])
    if not isinstance(missing, list):
        raise MappingError(f"{path.name}: 'missing_answers' must be a list")
    for key in ("wave", "wave_from_file", "recorded_date"):
        if key in data and not isinstance(data[key], str):
            raise MappingError(f"{path.name}: '{key}' must be given as text")
    pattern = data.get("wave_from_file")
    if pattern is not None:
        try:
            groups = re.compile(pattern).groups
        except re.error as error:
            raise MappingError(
                f"{path.name}: 'wave_from_file' is no regular expression ({error})"
            ) from error
        if groups < 1:
            raise MappingError(f"{path.name}: 'wave_from_file' needs a (group) around the wave")
    return SourceMapping(
        source=data["source"],
        match=data["match"],
        columns=_string_table(data.get("columns", {}), f"{path.name}: [columns]"),
        answers={key: {str(k): v for k, v in table.items()} for key, table in answers.items()},
        free_text=free_text,
        dictionary=(path.parent / str(dictionary)).resolve() if dictionary else None,
        missing_answers=tuple(str(answer) for answer in missing),
        wave=data.get("wave"),
        wave_from_file=pattern,
        recorded_date=data.get("recorded_date"),
        path=path,
    )


def load_mappings(directory: Path) -> list[SourceMapping]:
    """Every mapping file in `directory`. Raises MappingError naming a malformed file."""
    if not directory.is_dir():
        return []
    return [_mapping_from_toml(path) for path in sorted(directory.glob("*.toml"))]


def mapping_for(path: Path, mappings: list[SourceMapping]) -> SourceMapping | None:
    return next((mapping for mapping in mappings if mapping.applies_to(path)), None)


@dataclass(frozen=True)
class ColumnHeader:
    """One column as its header rows describe it."""

    position: int
    column_id: str
    """The name mappings use: unique within the file."""
    name: str
    """The name as written, shared by columns whose header repeats it."""
    cells: tuple[str, ...]
    """The column's cell in every header row."""


@dataclass(frozen=True)
class ColumnRole:
    role: Role
    target: str | None = None
    reason: str | None = None
    """Why the column is not kept, when it is not."""


# Why a metadata column is not kept, by its role.
METADATA_REASONS: dict[Role, str] = {
    "response_id": "the response id: only its salted hash is kept",
    "identifying": "{tool} metadata that identifies a person, a place or a time of day",
    "dropped": "{tool} bookkeeping",
}


def _metadata(role: Role, export_format: ExportFormat) -> ColumnRole:
    reason = METADATA_REASONS.get(role)
    return ColumnRole(role, reason=reason.format(tool=export_format.tool) if reason else None)


def column_role(
    column: ColumnHeader,
    export_format: ExportFormat,
    mapping: SourceMapping | None,
    dictionary: RedcapDictionary | None,
    canonical_ids: frozenset[str],
) -> ColumnRole:
    """The role of one export column, its canonical id, and why it is not kept when it is not.

    What identifies a person can never be mapped in: the tool's identifying metadata and fields a
    REDCap dictionary flags as identifiers are decided first. Free text is kept only when the
    mapping's [free_text] names it.
    """
    metadata = export_format.metadata_role(column.name)
    if export_format.record_id_first and column.position == 0:
        metadata = "response_id"
    if mapping and mapping.recorded_date is not None:
        # The mapping's date replaces the tool's; only its date is ever kept.
        if column.column_id == mapping.recorded_date:
            return ColumnRole("recorded_at")
        if metadata == "recorded_at":
            metadata = "identifying"
    if metadata in ("identifying", "response_id"):
        return _metadata(metadata, export_format)
    identifier = dictionary.identifier_reason(column.name) if dictionary else None
    if identifier:
        return ColumnRole("identifying", reason=identifier)
    if mapping and column.column_id in mapping.free_text:
        return ColumnRole("text", mapping.free_text[column.column_id])
    target = mapping.columns.get(column.column_id) if mapping else None
    if target is not None:
        if target not in canonical_ids:
            return ColumnRole("unmapped", reason=f"mapped to unknown id {target!r}")
        return ColumnRole(target if target in ("team", "wave") else "item", target)
    if metadata is not None:
        return _metadata(metadata, export_format)
    if column.name in canonical_ids:
        return ColumnRole(column.name if column.name in ("team", "wave") else "item", column.name)
    free_text = dictionary.free_text_reason(column.name) if dictionary else None
    if free_text:
        return ColumnRole("identifying", reason=free_text)
    if export_format.is_free_text(column.cells):
        return ColumnRole("identifying", reason="free text")
    if not column.name:
        return ColumnRole("dropped", reason="no column name")
    if IDENTIFYING_NAME_PATTERN.search(column.name):
        return ColumnRole("identifying", reason="name suggests personal data")
    return ColumnRole("unmapped", reason="matches no canonical id")
