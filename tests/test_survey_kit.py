"""Survey kits: each is written in its tool's documented import format, carries no instrument's
wording, and an export shaped as that tool returns it is read with no mapping or with the kit's
own."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pytest

from resilience.cli import main
from resilience.formats import load_mappings
from resilience.ingest import plan_export
from resilience.instruments import Registry
from resilience.readers import read_redcap_dictionary
from resilience.settings import WaveWindow
from resilience.site import ReadingRules
from resilience.survey_kit import LIMESURVEY_COLUMNS, REDCAP_COLUMNS

RULES = ReadingRules(
    wave_windows={"2026-01": WaveWindow(start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 31))}
)
PLACEHOLDER = re.compile(r".*(enter the official wording|enter your wording)$")


def kit(tmp_path: Path, tool: str) -> Path:
    out = tmp_path / tool
    assert main(["survey-kit", "--tool", tool, "--out", str(out), "--wave", "2026-01"]) == 0
    return out


def write_csv(path: Path, records: list[list[str]], delimiter: str = ",") -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(records)
    return path


def assert_every_item_read(plan, registry: Registry) -> None:
    assert plan.blocking_problems == ()
    assert sorted(c.target for c in plan.with_role("item")) == sorted(registry.item_ids)
    assert [c.target for c in plan.with_role("team")] == ["team"]


def test_the_redcap_kit_is_a_data_dictionary_whose_raw_export_needs_no_mapping(
    tmp_path: Path, registry: Registry
) -> None:
    dictionary_path = kit(tmp_path, "redcap") / "redcap_data_dictionary.csv"
    records = list(csv.reader(io.StringIO(dictionary_path.read_text(encoding="utf-8"))))
    assert tuple(records[0]) == REDCAP_COLUMNS
    fields = {row[0]: row for row in records[1:]}
    assert all(re.fullmatch(r"[a-z][a-z0-9_]{0,99}", name) for name in fields)
    for item in registry.items:
        row = fields[item.id]
        assert row[3] == "radio"
        assert PLACEHOLDER.fullmatch(row[4]), row[4]
        assert row[5] == " | ".join(f"{o.code}, {o.label}" for o in item.options)
    assert "@DEFAULT='2026-01'" in fields["wave"][17]
    # The project's own dictionary reader (used beside REDCap exports) reads it.
    assert {f.name for f in read_redcap_dictionary(dictionary_path).fields} == set(fields)

    header = ["record_id", "redcap_survey_identifier", "staff_resilience_timestamp", "team"]
    header += ["wave", *registry.item_ids, "staff_resilience_complete"]
    row = ["1", "", "2026-01-14 10:15:00", "T1", "2026-01"]
    row += [str(item.codes[0]) for item in registry.items] + ["2"]
    export = write_csv(tmp_path / "StaffResilience_DATA_2026-01-31.csv", [header, row])
    plan = plan_export(export, [], registry)
    assert plan.layout.format == "redcap_raw"
    assert_every_item_read(plan, registry)


def test_the_qualtrics_kit_is_advanced_format_with_the_mapping_its_export_needs(
    tmp_path: Path, registry: Registry
) -> None:
    out = kit(tmp_path, "qualtrics")
    text = (out / "qualtrics_survey.txt").read_text(encoding="utf-8")
    assert text.startswith("[[AdvancedFormat]]\n")
    questions = text.split("[[Question:")[1:]
    ids = [re.search(r"\[\[ID:([A-Za-z0-9_]+)\]\]", q).group(1) for q in questions]
    assert len(ids) == len(set(ids))
    for question in questions:
        kind = question.split("]]", 1)[0]
        assert kind in ("TE:SingleLine", "Matrix", "MC:SingleAnswer:Vertical")
        if kind == "Matrix":
            choices = question.split("[[Choices]]\n")[1].split("[[Answers]]")[0].split("\n")
            assert all(PLACEHOLDER.fullmatch(line) for line in choices if line)
    [mapping] = load_mappings(out / "mappings")

    metadata = ["StartDate", "EndDate", "Status", "Progress", "RecordedDate", "ResponseId"]
    columns = [*metadata, "team", *mapping.columns]
    values = {
        target: registry.items[registry.item_ids.index(target)]
        for target in mapping.columns.values()
    }
    row = ["2026-01-14 10:01:00", "2026-01-14 10:15:00", "IP Address", "100"]
    row += ["2026-01-14 10:15:00", "R_1", "T1"]
    row += [values[target].options[-1].label for target in mapping.columns.values()]
    records = [columns, columns, [f'{{"ImportId":"{c}"}}' for c in columns], row]
    export = write_csv(tmp_path / "Staff resilience_January 31, 2026_10.15.csv", records)
    plan = plan_export(export, [mapping], registry, RULES)
    assert plan.layout.format == "qualtrics_modern"
    assert_every_item_read(plan, registry)


def test_the_limesurvey_kit_is_a_survey_structure_with_the_mapping_its_export_needs(
    tmp_path: Path, registry: Registry
) -> None:
    out = kit(tmp_path, "limesurvey")
    records = list(
        csv.reader(io.StringIO((out / "limesurvey_survey.txt").read_text()), delimiter="\t")
    )
    assert tuple(records[0]) == LIMESURVEY_COLUMNS
    classes = [record[0] for record in records[1:]]
    assert set(classes) == {"S", "SL", "G", "Q", "SQ", "A"}
    assert classes.index("G") < classes.index("Q")
    codes = [record[2] for record in records[1:] if record[0] == "Q"]
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", code) for code in codes)
    assert len(codes) == len(set(codes))
    [mapping] = load_mappings(out / "mappings")

    header = ["id", "submitdate", "lastpage", "startlanguage", "seed", "team", *mapping.columns]
    row = ["7", "2026-01-14 10:15:00", "3", "en", "4711", "T1"]
    row += [
        str(registry.items[registry.item_ids.index(t)].codes[0]) for t in mapping.columns.values()
    ]
    export = write_csv(tmp_path / "results-survey482913.csv", [header, row])
    plan = plan_export(export, [mapping], registry, RULES)
    assert plan.layout.format == "limesurvey"
    assert_every_item_read(plan, registry)


def test_the_csv_template_is_read_as_canonical_columns(tmp_path: Path, registry: Registry) -> None:
    template = kit(tmp_path, "csv") / "staff_resilience_template.csv"
    header = template.read_text(encoding="utf-8").strip().split(",")
    row = ["a1", "2026-01-14", "T1", "2026-01", *(str(i.codes[0]) for i in registry.items)]
    plan = plan_export(write_csv(tmp_path / "filled.csv", [header, row]), [], registry)
    assert plan.layout.format == "plain"
    assert_every_item_read(plan, registry)


def test_a_kit_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kit(tmp_path, "csv")
    assert main(["survey-kit", "--tool", "csv", "--out", str(tmp_path / "csv")]) == 2
    assert "exists already" in capsys.readouterr().err
