"""Reading a real organization's export as it comes: every answer label of every instrument,
answers that mean "not answered", teams by name or alias, and waves from fieldwork windows, a
constant or the file name. Plans, archives and stages with the pipeline's own functions (no
validation: the staged batch shows what each cell became)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import pytest

from resilience.formats import MappingError, load_mappings
from resilience.ingest import ExportPlan, archive_export, plan_export, stage_batch
from resilience.inspection import inspect_export, inspection_text
from resilience.instruments import DEFAULT_MISSING_ANSWERS, DEFINITIONS_DIR, Registry, load_registry
from resilience.settings import Settings, UsageError, WaveWindow
from resilience.site import ReadingRules, actions_off_roster, read_team_keys, wave_windows
from resilience.sqlfiles import set_variables
from resilience.warehouse import ensure_schema


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def stage(
    tmp_path: Path,
    path: Path,
    registry: Registry,
    rules: ReadingRules | None = None,
    mappings_dir: Path | None = None,
) -> tuple[duckdb.DuckDBPyConnection, ExportPlan]:
    con = duckdb.connect()
    ensure_schema(con, registry)
    set_variables(con, {"response_key_salt": "test-salt"})
    plan = plan_export(path, load_mappings(mappings_dir) if mappings_dir else [], registry, rules)
    assert not plan.blocking_problems, plan.blocking_problems
    archive = tmp_path / "archive" / f"{plan.sha256}.parquet"
    archive_export(con, plan, archive)
    stage_batch(con, plan, archive, registry, rules=rules)
    return con, plan


@pytest.mark.parametrize("instrument_id", ["proqol", "cbi", "brs", "miniz", "ctx"])
def test_every_answer_label_of_every_item_is_read_as_its_code(
    tmp_path: Path, registry: Registry, instrument_id: str
) -> None:
    items = registry.instrument(instrument_id).items
    depth = max(len(item.options) for item in items)
    rows = []
    for row in range(depth):
        # Labels as people type them: other case, doubled and outer spaces.
        cells = [item.options[row % len(item.options)].label for item in items]
        rows.append([f"r{row}", "T1", "2026-01", *(f"  {cell.upper()}  " for cell in cells)])
    path = write_csv(
        tmp_path / "labels.csv",
        ["response_id", "team", "wave", *(item.id for item in items)],
        rows,
    )
    con, _ = stage(tmp_path, path, registry)

    staged = con.execute(
        f"select {', '.join(item.id for item in items)} from ingest_batch order by source_row"
    ).fetchall()
    expected = [
        tuple(str(item.options[row % len(item.options)].code) for item in items)
        for row in range(depth)
    ]
    assert staged == expected


def test_both_cbi_answer_scales_are_read(tmp_path: Path, registry: Registry) -> None:
    intensity = ["To a very high degree", "To a high degree", "Somewhat", "To a low degree"]
    path = write_csv(
        tmp_path / "cbi.csv",
        ["response_id", "team", "wave", "cbi_1", "cbi_7", "cbi_13", "cbi_14", "cbi_19"],
        [
            ["a", "T1", "w", "Always", intensity[0], "Seldom", intensity[3], "Almost never"],
            ["b", "T1", "w", "Never/almost never", intensity[1], "Often", intensity[2], "Seldom"],
            ["c", "T1", "w", "Sometimes", "To a very low degree", "never", intensity[2], "Often"],
        ],
    )
    con, _ = stage(tmp_path, path, registry)

    assert con.execute(
        "select cbi_1, cbi_7, cbi_13, cbi_14, cbi_19 from ingest_batch order by source_row"
    ).fetchall() == [
        ("1", "1", "4", "4", "5"),
        ("5", "2", "2", "3", "4"),
        ("3", "5", "5", "3", "2"),
    ]


def test_missing_answers_are_unanswered_items_and_counted_per_item(
    tmp_path: Path, registry: Registry
) -> None:
    header = ["response_id", "team", "wave", "proqol_1", "brs_1", "ctx_debrief"]
    rows = [
        ["a", "T1", "w", "Prefer not to answer", "-99", "Not applicable"],
        ["b", "T1", "w", "n/a", "Don\u2019t know", "Yes"],
        ["c", "T1", "w", "", "Agree", "-77"],
        ["d", "T1", "w", "Skipped", "-88", "No"],
        ["e", "T1", "w", "Often", "Strongly agree", "Don't know"],
    ]
    path = write_csv(tmp_path / "missing_export.csv", header, rows)
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "missing.toml").write_text(
        'source = "missing"\nmatch = "missing_*"\nmissing_answers = ["Skipped"]\n'
    )
    con, plan = stage(tmp_path, path, registry, mappings_dir=mappings)

    # The debrief item's own "Not applicable" option (code 9) stays an answer.
    assert con.execute(
        "select proqol_1, brs_1, ctx_debrief from ingest_batch order by source_row"
    ).fetchall() == [
        (None, None, "9"),
        (None, None, "1"),
        (None, "4", None),
        (None, None, "0"),
        ("4", "5", None),
    ]
    counted = con.execute(
        "select item_id, answer, answers from batch_unanswered where file_sha256 = ? "
        "order by item_id, answer",
        [plan.sha256],
    ).fetchall()
    assert counted == [
        ("brs_1", "-88", 1),
        ("brs_1", "-99", 1),
        ("brs_1", "don\u2019t know", 1),
        ("ctx_debrief", "-77", 1),
        ("ctx_debrief", "don't know", 1),
        ("proqol_1", "", 1),
        ("proqol_1", "n/a", 1),
        ("proqol_1", "prefer not to answer", 1),
        ("proqol_1", "skipped", 1),
    ]
    assert "Prefer not to answer" in DEFAULT_MISSING_ANSWERS


ROSTER_HEADER = "team_id,team_name,service_line,parent_unit,wave,headcount,aliases\n"


def test_teams_are_read_by_id_name_or_alias(tmp_path: Path, registry: Registry) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(
        ROSTER_HEADER
        + "T1,Syringe services North,Harm reduction,North,2026-01,12,SSP North; Needle exchange\n"
        + "T1,Syringe services North,Harm reduction,North,2026-02,12,SSP North\n"
        + "T2,Detox unit,Inpatient,North,2026-01,9,\n"
    )
    path = write_csv(
        tmp_path / "teams.csv",
        ["response_id", "team", "wave", "brs_1"],
        [
            ["a", "T1", "w", "1"],
            ["b", "  syringe   SERVICES north ", "w", "1"],
            ["c", "needle exchange", "w", "1"],
            ["d", "Detox Unit", "w", "1"],
            ["e", "Night shelter", "w", "1"],
        ],
    )
    con, _ = stage(tmp_path, path, registry, ReadingRules(team_keys=read_team_keys(roster)))

    assert [
        team
        for (team,) in con.execute("select team from ingest_batch order by source_row").fetchall()
    ] == [
        "T1",
        "T1",
        "T1",
        "T2",
        "Night shelter",
    ]


def test_a_name_two_teams_share_is_an_error_naming_row_and_column(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(
        ROSTER_HEADER
        + "T1,Outreach,Harm reduction,North,2026-01,12,\n"
        + "T2,Outreach South,Harm reduction,South,2026-01,9,outreach\n"
    )
    with pytest.raises(
        UsageError, match=r"roster.csv row 3, column aliases: 'outreach' names both"
    ):
        read_team_keys(roster)


def settings_with_waves(tmp_path: Path, lines: str) -> Settings:
    waves = tmp_path / "waves.csv"
    waves.write_text("wave,opens,closes\n" + lines)
    return Settings(paths={"waves": waves}, quality={"waves": {}})


def test_responses_fall_into_the_window_holding_their_date_or_are_marked(
    tmp_path: Path, registry: Registry
) -> None:
    settings = settings_with_waves(
        tmp_path, "2026-01,2026-01-05,2026-01-31\n2026-04,2026-04-01,2026-04-30\n"
    )
    path = write_csv(
        tmp_path / "dated.csv",
        ["response_id", "team", "recorded_date", "brs_1"],
        [
            ["a", "T1", "2026-01-05 09:12:00", "1"],
            ["b", "T1", "2026-04-30", "1"],
            ["c", "T1", "2026-02-14", "1"],
            ["d", "T1", "", "1"],
        ],
    )
    con, plan = stage(tmp_path, path, registry, ReadingRules(wave_windows=wave_windows(settings)))

    assert plan.waves_from_dates
    assert con.execute(
        "select wave, date_in_no_wave from ingest_batch order by source_row"
    ).fetchall() == [
        ("2026-01", None),
        ("2026-04", None),
        (None, "2026-02-14"),
        (None, "no recorded date"),
    ]


def test_overlapping_windows_are_an_error_naming_file_and_row(tmp_path: Path) -> None:
    settings = settings_with_waves(
        tmp_path, "2026-01,2026-01-01,2026-01-31\n2026-02,2026-01-31,2026-02-28\n"
    )
    with pytest.raises(UsageError, match=r"waves.csv row 3: wave 2026-02 .* overlaps wave 2026-01"):
        wave_windows(settings)
    settings = settings_with_waves(tmp_path, "2026-01,2026-01-01,someday\n")
    with pytest.raises(UsageError, match=r"waves.csv row 2, column closes: 'someday'"):
        wave_windows(settings)


def test_the_configured_windows_and_the_file_combine(tmp_path: Path) -> None:
    waves = tmp_path / "waves.csv"
    waves.write_text("wave,opens,closes\n2026-04,2026-04-01,2026-04-30\n")
    settings = Settings(
        paths={"waves": waves},
        quality={"waves": {"2026-01": {"start": "2026-01-01", "end": "2026-01-31"}}},
    )
    assert wave_windows(settings) == {
        "2026-01": WaveWindow(start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 31)),
        "2026-04": WaveWindow(start=dt.date(2026, 4, 1), end=dt.date(2026, 4, 30)),
    }


@pytest.mark.parametrize(
    ("mapping_line", "file_name", "wave"),
    [
        ('wave = "2025-09"', "pulse_2026-01.csv", "2025-09"),
        ('wave_from_file = "_(\\\\d{4}-\\\\d{2})"', "pulse_2026-01.csv", "2026-01"),
    ],
)
def test_a_mapping_gives_the_wave_as_a_constant_or_from_the_file_name(
    tmp_path: Path, registry: Registry, mapping_line: str, file_name: str, wave: str
) -> None:
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "pulse.toml").write_text(f'source = "pulse"\nmatch = "pulse_*"\n{mapping_line}\n')
    path = write_csv(tmp_path / file_name, ["response_id", "team", "brs_1"], [["a", "T1", "2"]])
    con, _ = stage(tmp_path, path, registry, mappings_dir=mappings)
    assert con.execute("select wave, date_in_no_wave from ingest_batch").fetchall() == [
        (wave, None)
    ]


def test_a_file_name_the_pattern_misses_blocks_the_file(tmp_path: Path, registry: Registry) -> None:
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "pulse.toml").write_text(
        'source = "pulse"\nmatch = "pulse*"\nwave_from_file = "_(\\\\d{4})"\n'
    )
    path = write_csv(tmp_path / "pulse.csv", ["response_id", "team", "brs_1"], [["a", "T1", "2"]])
    plan = plan_export(path, load_mappings(mappings), registry)
    assert any("wave_from_file" in problem for problem in plan.blocking_problems)
    (mappings / "pulse.toml").write_text('source = "p"\nmatch = "p*"\nwave_from_file = "x"\n')
    with pytest.raises(MappingError, match="needs a \\(group\\)"):
        load_mappings(mappings)


def test_inspect_counts_waves_and_lists_team_values_no_roster_team_matches(
    tmp_path: Path, registry: Registry
) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER_HEADER + "T1,Syringe services North,Harm reduction,N,2026-01,12,SSP\n")
    settings = settings_with_waves(tmp_path, "2026-01,2026-01-05,2026-01-31\n")
    rules = ReadingRules(team_keys=read_team_keys(roster), wave_windows=wave_windows(settings))
    path = write_csv(
        tmp_path / "pulse.csv",
        ["response_id", "team", "recorded_date", "brs_1"],
        [
            ["a", "ssp", "2026-01-06", "Agree"],
            ["b", "Night shelter", "2026-01-07", "Agree"],
            ["c", "Night shelter", "2026-02-01", "Agree"],
            ["d", "T1", "2026-01-09", "Agree"],
        ],
    )
    result = inspect_export(path, [], registry, rules)

    assert result["waves"] == {"2026-01": 3, "no wave: recorded 2026-02": 1}
    assert result["unmatched_teams"] == {"Night shelter": 2}
    text = inspection_text(result)
    assert "  2026-01  3" in text
    assert "  'Night shelter'  2" in text


def test_an_instrument_may_give_its_own_missing_answers(tmp_path: Path) -> None:
    definition = (DEFINITIONS_DIR / "brs.toml").read_text(encoding="utf-8")
    (tmp_path / "brs.toml").write_text('missing_answers = ["", "Skipped"]\n' + definition)
    [brs] = load_registry(tmp_path).instruments
    assert {item.missing_answers for item in brs.items} == {("", "Skipped")}
    [default] = load_registry(DEFINITIONS_DIR).instrument("brs").items[:1]
    assert default.missing_answers == DEFAULT_MISSING_ANSWERS


def test_actions_of_teams_the_roster_lacks_are_counted(tmp_path: Path) -> None:
    actions = tmp_path / "actions.csv"
    actions.write_text(
        "team_id,date,action\nT1,2026-01-02,Peer support\n T9 ,2026-01-03,A\nT9,2026-01-04,B\n"
    )
    assert actions_off_roster(actions, {"T1"}) == {"T9": 2}
    assert actions_off_roster(None, {"T1"}) == {}
