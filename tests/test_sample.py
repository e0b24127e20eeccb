"""The sample generator: real files in a temporary folder, read back the way an ingest would."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import tomllib
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from resilience.cli import EXIT_OK, main
from resilience.instruments import Registry, load_registry
from resilience.sample import METADATA_COLUMNS, SampleSummary, generate_sample, wave_labels

SMALL = {"responses": 720, "teams": 8, "waves": 3, "seed": 7}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleSummary:
    return generate_sample(tmp_path_factory.mktemp("sample"), **SMALL)


def read_export(path: Path) -> tuple[list[list[str]], list[dict[str, str]]]:
    """The three header rows, and the data rows keyed by column id."""
    with path.open(encoding="utf-8", newline="") as handle:
        lines = list(csv.reader(handle))
    header = lines[:3]
    return header, [dict(zip(header[0], line, strict=True)) for line in lines[3:]]


def all_rows(summary: SampleSummary) -> list[dict[str, str]]:
    return [row for path in summary.exports for row in read_export(path)[1]]


def genuine_responses(summary: SampleSummary) -> list[dict[str, str]]:
    """Status 0 rows, each response once: what the pipeline keeps."""
    unique = {row["ResponseId"]: row for row in all_rows(summary) if row["Status"] == "0"}
    return list(unique.values())


def mapping_of(summary: SampleSummary) -> dict:
    return tomllib.loads(summary.mapping.read_text(encoding="utf-8"))


def test_same_arguments_give_byte_identical_files(tmp_path: Path) -> None:
    first = generate_sample(tmp_path / "first", **SMALL)
    second = generate_sample(tmp_path / "second", **SMALL)

    def contents(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    assert contents(first.out_dir) == contents(second.out_dir)
    assert sorted(contents(first.out_dir)) == [
        "exports/staff_survey_2025-05.csv",
        "exports/staff_survey_2025-09.csv",
        "exports/staff_survey_2026-01.csv",
        "mappings/qualtrics_staff_survey.toml",
        "roster.csv",
        "sample.json",
    ]


def test_another_seed_gives_other_answers(tmp_path: Path, sample: SampleSummary) -> None:
    other = generate_sample(tmp_path, **{**SMALL, "seed": SMALL["seed"] + 1})
    assert other.exports[0].read_bytes() != sample.exports[0].read_bytes()


def test_three_header_rows_with_the_exact_columns(sample: SampleSummary) -> None:
    expected = [name for name, _, _ in METADATA_COLUMNS]
    expected += [f"Q1_{n}" for n in range(1, 31)] + [f"Q2_{n}" for n in range(1, 20)]
    expected += [f"Q3_{n}" for n in range(1, 7)] + [f"Q{n}" for n in range(4, 12)]
    expected += ["team", "wave"]
    for path in sample.exports:
        (ids, texts, import_ids), rows = read_export(path)
        assert ids == expected
        assert len(texts) == len(import_ids) == len(expected)
        assert any("\n" in text and "," in text for text in texts)
        assert texts[ids.index("Q11")] == "Anything else you want to tell us?"
        assert [json.loads(cell) for cell in import_ids][:2] == [
            {"ImportId": "startDate"},
            {"ImportId": "endDate"},
        ]
        assert json.loads(import_ids[ids.index("Q1_1")]) == {"ImportId": "QID1_1"}
        assert all(len(row) == len(expected) for row in rows)
    # Quoted like real Qualtrics: the JSON's quotes doubled inside a quoted cell.
    assert '"{""ImportId"":""QID1_1""}"' in sample.exports[0].read_text(encoding="utf-8")


def test_counts_per_status_match_the_summary_and_ground_truth(sample: SampleSummary) -> None:
    statuses = Counter(int(row["Status"]) for row in all_rows(sample))
    assert statuses == sample.rows_by_status
    assert set(statuses) == {0, 1, 2, 8}
    assert statuses[0] == sample.responses + sample.duplicate_rows
    assert len(genuine_responses(sample)) == sample.responses == SMALL["responses"]
    truth = json.loads(sample.ground_truth.read_text(encoding="utf-8"))
    assert truth["rows_by_status"] == {str(k): v for k, v in sample.rows_by_status.items()}
    assert truth["worsening_team"] == sample.worsening_team
    assert truth["small_teams"] == list(sample.small_teams)
    for path in sample.exports:
        per_file = Counter(row["Status"] for row in read_export(path)[1])
        assert per_file["1"] >= 1 and per_file["2"] >= 1 and per_file["8"] >= 1


def test_duplicates_are_exact_copies_of_a_row(sample: SampleSummary) -> None:
    rows = all_rows(sample)
    seen = Counter(row["ResponseId"] for row in rows)
    duplicated = sorted(response_id for response_id, n in seen.items() if n > 1)
    assert duplicated and duplicated == sorted(sample.duplicated_response_ids)
    for response_id in duplicated:
        copies = [row for row in rows if row["ResponseId"] == response_id]
        assert all(copy == copies[0] for copy in copies)


def test_response_ids_and_timestamps_look_like_qualtrics(sample: SampleSummary) -> None:
    for path, label in zip(sample.exports, wave_labels(SMALL["waves"]), strict=True):
        opens = datetime.strptime(f"{label}-01", "%Y-%m-%d")
        for row in read_export(path)[1]:
            assert re.fullmatch(r"R_[0-9A-Za-z]{15}", row["ResponseId"])
            start, end, recorded = (
                datetime.strptime(row[name], "%Y-%m-%d %H:%M:%S")
                for name in ("StartDate", "EndDate", "RecordedDate")
            )
            assert opens <= start <= end <= recorded < opens + timedelta(weeks=3)
            assert row["wave"] == label


def test_mapping_covers_every_registry_item_exactly_once(sample: SampleSummary) -> None:
    mapping = mapping_of(sample)
    assert mapping["source"] == "qualtrics_staff_survey"
    assert mapping["match"] == "staff_survey_*.csv"
    columns = mapping["columns"]
    assert columns.pop("team") == "team" and columns.pop("wave") == "wave"
    assert sorted(columns.values()) == sorted(load_registry().item_ids)
    header = read_export(sample.exports[0])[0][0]
    assert set(columns) <= set(header)
    assert "Q11" not in columns


def test_answers_are_codes_of_the_mapped_item(sample: SampleSummary) -> None:
    registry = load_registry()
    codes = {item.id: {str(code) for code in item.codes} | {""} for item in registry.items}
    columns = mapping_of(sample)["columns"]
    for row in genuine_responses(sample):
        for column, item_id in columns.items():
            if item_id not in ("team", "wave"):
                assert row[column] in codes[item_id], (column, row[column])


def test_partial_responses_stop_answering(sample: SampleSummary) -> None:
    questions = [column for column in read_export(sample.exports[0])[0][0] if column[0] == "Q"]
    partial = [row for row in genuine_responses(sample) if row["Finished"] == "0"]
    assert len(partial) == sample.partial_responses > 0
    for row in partial:
        answered = [bool(row[column]) for column in questions]
        stop = answered.index(False)
        assert all(answered[:stop]) and not any(answered[stop:])
        assert int(row["Progress"]) == 100 * stop // len(questions) < 100
        assert row["team"] and row["wave"]


def test_straight_liners_and_speeders_are_planted(sample: SampleSummary) -> None:
    by_id = {row["ResponseId"]: row for row in genuine_responses(sample)}
    assert sample.straight_liner_response_ids and sample.fast_response_ids
    for response_id in sample.straight_liner_response_ids:
        proqol = {by_id[response_id][f"Q1_{n}"] for n in range(1, 31)}
        assert len(proqol) == 1
    item_count = len(load_registry().item_ids)
    for response_id in sample.fast_response_ids:
        assert int(by_id[response_id]["Duration (in seconds)"]) < 2 * item_count


def mean_sts_by_wave(summary: SampleSummary, team: str) -> list[float]:
    # STS has no reversed item, so its score is the plain sum of its ten codes.
    sts = load_registry().instrument("proqol").scales[2]
    assert sts.id == "sts" and not sts.reversed_item_ids
    column_of = {item: column for column, item in mapping_of(summary)["columns"].items()}
    columns = [column_of[item_id] for item_id in sts.item_ids]
    means = []
    for label in summary.waves:
        scores = [
            sum(int(row[column]) for column in columns)
            for row in genuine_responses(summary)
            if row["team"] == team and row["wave"] == label and all(row[c] for c in columns)
        ]
        means.append(sum(scores) / len(scores))
    return means


def test_worsening_team_rises_and_improving_team_falls(sample: SampleSummary) -> None:
    assert sample.worsening_team != sample.improving_team
    worsening = mean_sts_by_wave(sample, sample.worsening_team)
    improving = mean_sts_by_wave(sample, sample.improving_team)
    assert worsening[-1] - worsening[0] > 2
    assert improving[-1] - improving[0] < -2


def test_small_teams_exist_and_are_reported(sample: SampleSummary) -> None:
    counts = Counter((row["team"], row["wave"]) for row in genuine_responses(sample))
    small = sorted({team for (team, _), n in counts.items() if n < 5})
    assert small and small == list(sample.small_teams)
    assert counts == Counter(
        {(team, wave): n for wave, teams in sample.respondents.items() for team, n in teams.items()}
    )


def test_roster_has_one_row_per_team_and_wave_covering_respondents(sample: SampleSummary) -> None:
    with sample.roster.open(encoding="utf-8", newline="") as handle:
        roster = list(csv.DictReader(handle))
    assert list(roster[0]) == [
        "team_id",
        "team_name",
        "service_line",
        "parent_unit",
        "wave",
        "headcount",
    ]
    assert len(roster) == SMALL["teams"] * SMALL["waves"]
    assert len({(row["team_id"], row["wave"]) for row in roster}) == len(roster)
    assert len({row["team_name"] for row in roster}) == SMALL["teams"]
    for row in roster:
        assert int(row["headcount"]) >= sample.respondents[row["wave"]][row["team_id"]]
    assert sum(int(row["headcount"]) for row in roster) == sample.headcount
    assert 0.55 < sample.responses / sample.headcount < 0.85


@pytest.mark.parametrize(
    "arguments",
    [
        {**SMALL, "teams": 3},
        {**SMALL, "waves": 1},
        {**SMALL, "responses": 5 * SMALL["teams"] * SMALL["waves"] - 1},
    ],
)
def test_rejects_samples_too_small_to_plant_the_ground_truth(
    tmp_path: Path, arguments: dict
) -> None:
    with pytest.raises(ValueError):
        generate_sample(tmp_path, **arguments)


def test_refuses_an_instrument_it_has_no_model_for(tmp_path: Path) -> None:
    registry = load_registry()
    unknown = dataclasses.replace(registry.instrument("brs"), id="phq9")
    with pytest.raises(ValueError, match="phq9"):
        generate_sample(tmp_path, **SMALL, registry=Registry((*registry.instruments, unknown)))


def test_wave_labels_are_four_months_apart() -> None:
    assert wave_labels(4) == ("2025-05", "2025-09", "2026-01", "2026-05")


def test_the_sample_command_says_what_it_wrote_in_a_few_lines(tmp_path: Path, capsys) -> None:
    arguments = ["--responses", "600", "--teams", "12", "--waves", "3", "--seed", "5"]
    assert main(["sample", *arguments, "--out", str(tmp_path)]) == EXIT_OK

    printed = capsys.readouterr().out
    summary = generate_sample(tmp_path / "again", responses=600, teams=12, waves=3, seed=5)
    assert len(printed.splitlines()) == 5
    assert all(path.name in printed for path in summary.exports)
    assert "600 responses from 12 teams over 3 waves" in printed
    assert f"worsening team {summary.worsening_team}" in printed
    # The planted ids are for tests to read from the ground truth file, not for the terminal.
    assert not any(response_id in printed for response_id in summary.duplicated_response_ids)
