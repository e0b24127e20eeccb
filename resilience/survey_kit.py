"""`resilience survey-kit`: a survey definition a survey tool imports, whose exports the pipeline
reads with no mapping, or with the mapping the kit writes beside it.

Variable names are the canonical item ids and answer codes are the instrument files' own, wherever
the tool's import format can carry them: a REDCap data dictionary, a LimeSurvey tab-separated
survey structure (answer codes; its column names need the mapping), a Qualtrics Advanced Format
TXT (export tags; its matrices of mixed answer scales and its default recodes need the mapping),
and a plain CSV template. Every question's wording is a placeholder naming the item: the kit never
carries an instrument's text, which organizations enter from their licensed copy.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from resilience.instruments import Instrument, Item, Registry
from resilience.settings import UsageError, display_path

TOOLS = ("redcap", "qualtrics", "limesurvey", "csv")
FORM = "staff_resilience"
SURVEY_TITLE = "Staff resilience"
TEAM_PROMPT = "Your team: enter its name or code as the roster gives it"
REDCAP_COLUMNS = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
LIMESURVEY_COLUMNS = (
    "class",
    "type/scale",
    "name",
    "relevance",
    "text",
    "help",
    "language",
    "validation",
    "mandatory",
    "other",
    "default",
    "same_default",
)


def placeholder(item: Item, instrument: Instrument) -> str:
    """The wording a kit gives an item: its name and where the real wording comes from."""
    number = item.id.removeprefix(f"{instrument.id}_")
    if number.isdigit():
        return f"{instrument.name} item {number}: enter the official wording"
    return f"{item.label}: enter your wording"


def instructions(instrument: Instrument) -> str:
    return f"{instrument.title}: enter the official instructions (recall: {instrument.recall})"


@dataclass(frozen=True)
class ItemRun:
    """Consecutive items of one instrument that share one answer scale: one matrix question."""

    instrument: Instrument
    items: tuple[Item, ...]

    @property
    def is_matrix(self) -> bool:
        return len(self.items) > 1


def item_runs(instrument: Instrument) -> Iterator[ItemRun]:
    """The instrument's items as runs sharing answer labels (the CBI has two scales)."""
    run: list[Item] = []
    for item in instrument.items:
        if run and [o.label for o in run[-1].options] != [o.label for o in item.options]:
            yield ItemRun(instrument, tuple(run))
            run = []
        run.append(item)
    if run:
        yield ItemRun(instrument, tuple(run))


def _csv(rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _redcap_row(**cells: str) -> list[str]:
    by_column = {
        "Variable / Field Name": cells.get("name", ""),
        "Form Name": FORM,
        "Section Header": cells.get("section", ""),
        "Field Type": cells.get("kind", ""),
        "Field Label": cells.get("label", ""),
        "Choices, Calculations, OR Slider Labels": cells.get("choices", ""),
        "Field Annotation": cells.get("annotation", ""),
        "Matrix Group Name": cells.get("matrix", ""),
        "Required Field?": cells.get("required", ""),
    }
    return [by_column.get(column, "") for column in REDCAP_COLUMNS]


def redcap_dictionary(registry: Registry, wave: str) -> str:
    """A REDCap data dictionary: field names are the canonical ids, choices the answer codes."""
    rows = [
        list(REDCAP_COLUMNS),
        _redcap_row(name="record_id", kind="text", label="Record ID"),
        _redcap_row(name="team", kind="text", label=TEAM_PROMPT, required="y"),
        _redcap_row(
            name="wave",
            kind="text",
            label="Survey wave (set by the administrator)",
            annotation=f"@HIDDEN @DEFAULT='{wave}'",
        ),
    ]
    for instrument in registry.instruments:
        for run in item_runs(instrument):
            for position, item in enumerate(run.items):
                rows.append(
                    _redcap_row(
                        name=item.id,
                        kind="radio",
                        label=placeholder(item, instrument),
                        choices=" | ".join(f"{o.code}, {o.label}" for o in item.options),
                        section=instructions(instrument)
                        if position == 0 and run.items[0] == instrument.items[0]
                        else "",
                        matrix=_matrix_name(run) if run.is_matrix else "",
                    )
                )
    return _csv(rows)


def _matrix_name(run: ItemRun) -> str:
    return f"{run.items[0].id}_to_{run.items[-1].id.rsplit('_', 1)[-1]}"


def qualtrics_advanced_format(registry: Registry) -> tuple[str, dict[str, str], dict]:
    """A Qualtrics Advanced Format TXT, the columns its export will have -> canonical ids, and
    the recodes of items whose codes do not run 1, 2, 3 ... in answer order."""
    lines = ["[[AdvancedFormat]]", "", f"[[Block:{SURVEY_TITLE}]]", ""]
    lines += ["[[Question:TE:SingleLine]]", "[[ID:team]]", TEAM_PROMPT, ""]
    columns: dict[str, str] = {}
    recodes: dict[str, dict[str, int]] = {}
    for instrument in registry.instruments:
        for run in item_runs(instrument):
            tag = run.items[0].id if not run.is_matrix else _matrix_name(run)
            if run.is_matrix:
                lines += ["[[Question:Matrix]]", f"[[ID:{tag}]]", instructions(instrument)]
                lines += ["[[Choices]]", *(placeholder(i, instrument) for i in run.items)]
                for number, item in enumerate(run.items, start=1):
                    columns[f"{tag}_{number}"] = item.id
            else:
                [item] = run.items
                lines += ["[[Question:MC:SingleAnswer:Vertical]]", f"[[ID:{tag}]]"]
                lines += [placeholder(item, instrument), "[[Choices]]"]
                columns[tag] = item.id
            options = run.items[0].options
            lines += (["[[Answers]]"] if run.is_matrix else []) + [o.label for o in options]
            lines.append("")
            # Qualtrics recodes choices 1, 2, 3 ... in order unless told otherwise.
            if [o.code for o in options] != list(range(1, len(options) + 1)):
                for item in run.items:
                    recodes[item.id] = {str(n): o.code for n, o in enumerate(options, start=1)}
    return "\n".join(lines), columns, recodes


def limesurvey_structure(registry: Registry) -> tuple[str, dict[str, str]]:
    """A LimeSurvey tab-separated survey structure, and the columns of its code-heading export
    -> canonical ids. Answer codes are the instrument's."""
    rows = [list(LIMESURVEY_COLUMNS)]

    def row(**cells: str) -> list[str]:
        return [cells.get(column.replace("/", "_"), "") for column in LIMESURVEY_COLUMNS]

    rows += [
        row(**{"class": "S", "name": "language", "text": "en"}),
        row(**{"class": "SL", "name": "surveyls_title", "text": SURVEY_TITLE, "language": "en"}),
        row(**{"class": "G", "name": SURVEY_TITLE, "relevance": "1", "language": "en"}),
        row(
            **{
                "class": "Q",
                "type_scale": "S",
                "name": "team",
                "relevance": "1",
                "text": TEAM_PROMPT,
                "language": "en",
                "mandatory": "Y",
            }
        ),
    ]
    columns: dict[str, str] = {}
    for instrument in registry.instruments:
        for run in item_runs(instrument):
            code = (_matrix_name(run) if run.is_matrix else run.items[0].id).replace("_", "")
            text = (
                instructions(instrument) if run.is_matrix else placeholder(run.items[0], instrument)
            )
            kind = "F" if run.is_matrix else "L"
            rows.append(
                row(
                    **{
                        "class": "Q",
                        "type_scale": kind,
                        "name": code,
                        "relevance": "1",
                        "text": text,
                        "language": "en",
                        "mandatory": "N",
                    }
                )
            )
            if run.is_matrix:
                for number, item in enumerate(run.items, start=1):
                    sub = f"SQ{number:03d}"
                    rows.append(
                        row(
                            **{
                                "class": "SQ",
                                "name": sub,
                                "relevance": "1",
                                "text": placeholder(item, instrument),
                                "language": "en",
                            }
                        )
                    )
                    columns[f"{code}[{sub}]"] = item.id
            else:
                columns[code] = run.items[0].id
            rows += [
                row(**{"class": "A", "name": str(o.code), "text": o.label, "language": "en"})
                for o in run.items[0].options
            ]
    return _csv(rows, delimiter="\t"), columns


def csv_template(registry: Registry) -> str:
    header = ["response_id", "recorded_date", "team", "wave", *registry.item_ids]
    return _csv([header])


def _mapping_toml(source: str, match: str, columns: dict[str, str], recodes: dict) -> str:
    lines = [
        f"# Mapping for exports of the '{SURVEY_TITLE}' survey made from the {source} kit",
        "# ('resilience survey-kit'). Responses are placed in waves by their recorded date.",
        f'source = "{source}"',
        f'match = "{match}"',
        "",
        "[columns]",
        *(f'"{column}" = "{target}"' for column, target in columns.items()),
    ]
    for item_id, table in recodes.items():
        lines += ["", f"[answers.{item_id}]", *(f'"{k}" = {v}' for k, v in table.items())]
    return "\n".join(lines) + "\n"


def write_kit(tool: str, out: Path, registry: Registry, wave: str) -> list[Path]:
    """Write the kit for `tool` into `out`; return the files written. Raises UsageError when a
    file to write exists already."""
    files: dict[str, str] = {}
    if tool == "redcap":
        files["redcap_data_dictionary.csv"] = redcap_dictionary(registry, wave)
    elif tool == "qualtrics":
        survey, columns, recodes = qualtrics_advanced_format(registry)
        files["qualtrics_survey.txt"] = survey
        files["mappings/qualtrics_staff_resilience.toml"] = _mapping_toml(
            "qualtrics_staff_resilience", f"{SURVEY_TITLE}*.csv", columns, recodes
        )
    elif tool == "limesurvey":
        survey, columns = limesurvey_structure(registry)
        files["limesurvey_survey.txt"] = survey
        files["mappings/limesurvey_staff_resilience.toml"] = _mapping_toml(
            "limesurvey_staff_resilience", "results-survey*.csv", columns, {}
        )
    else:
        files["staff_resilience_template.csv"] = csv_template(registry)
    existing = [out / name for name in files if (out / name).exists()]
    if existing:
        raise UsageError(f"{display_path(existing[0])} exists already: nothing was written")
    written = []
    for name, text in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
