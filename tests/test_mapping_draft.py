"""`resilience map` on exports it must place, and on blocks it must not guess; `resilience init`;
and the onboarding commands run without the pipeline's heavy imports."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from resilience.cli import main
from resilience.formats import UnreadableExport, load_mappings
from resilience.ingest import plan_export
from resilience.instruments import Registry
from resilience.mapping_draft import draft_mapping, draft_toml, match_pattern
from resilience.settings import PROJECT_ROOT, load_settings
from resilience.site import read_team_keys
from tests.conftest import REAL_EXPORTS, SAMPLE_DIR
from tests.test_onboarding_tools import LIMESURVEY_RESPONSE_COLUMNS


def test_the_samples_numbered_matrices_are_placed_by_their_grouping(registry: Registry) -> None:
    export = SAMPLE_DIR / "exports" / "staff_survey_2026-01.csv"
    draft = draft_mapping(export, registry, read_team_keys(SAMPLE_DIR / "roster.csv"))

    placed = [(b.instrument.id, b.columns[0].label, b.answers) for b in draft.placed]
    assert placed == [
        ("proqol", "Q1_1", "codes"),
        ("cbi", "Q2_1", "codes"),
        ("brs", "Q3_1", "codes"),
    ]
    # Bare numbers fit every instrument: single questions that no grouping confirms stay unplaced.
    assert [block.columns[0].label for block in draft.unplaced][:1] == ["Q4"]
    assert all(block.reason for block in draft.unplaced)
    text = draft_toml(draft)
    mapping = tomllib.loads(text)
    assert mapping["columns"]["Q2_19"] == "cbi_19"
    assert "CHECK: in the survey tool, 1 = Never" in text


def test_a_block_of_bare_numbers_without_grouping_is_listed_not_guessed(
    tmp_path: Path, registry: Registry
) -> None:
    names = [f"Statement {chr(65 + n // 26)}{chr(65 + n % 26)}" for n in range(55)]
    rows = [",".join(str(1 + (r + c) % 5) for c in range(55)) for r in range(8)]
    export = tmp_path / "pulse.csv"
    export.write_text(",".join(["Team", *names]) + "\n" + "\n".join(f"T1,{r}" for r in rows))
    draft = draft_mapping(export, registry, {})

    assert draft.placed == ()
    [block] = draft.unplaced
    assert (block.columns[0].label, block.columns[-1].label) == ("Statement AA", "Statement CC")
    assert "ambiguous: the answers fit ProQOL 5 (30 items), CBI (19 items), BRS (6 items)" in (
        block.reason
    )
    text = draft_toml(draft)
    assert "pulse.csv" in text
    assert '# - "Statement AA" .. "Statement CC" (55 columns): ambiguous' in text
    assert "proqol_1" not in text


def test_map_writes_a_draft_that_loads_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = SAMPLE_DIR / "exports" / "staff_survey_2026-01.csv"
    out = tmp_path / "mappings" / "staff.toml"
    roster = str(SAMPLE_DIR / "roster.csv")
    assert main(["map", str(export), "--roster", roster, "--out", str(out)]) == 0
    assert "ProQOL 5: 30 columns from 'Q1_1'" in capsys.readouterr().out
    [mapping] = load_mappings(out.parent)
    assert (mapping.source, mapping.match) == ("staff", "staff_survey_*.csv")
    assert main(["map", str(export), "--out", str(out)]) == 2
    assert "exists already" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("file_name", "pattern"),
    [
        ("staff_survey_2026-01.csv", "staff_survey_*.csv"),
        ("StaffWellbeing_DATA_LABELS_2026-01-31_1015.csv", "StaffWellbeing_DATA_LABELS_*.csv"),
        ("results-survey482913.csv", "results-survey*.csv"),
        ("Staff survey.xlsx", "Staff survey.xlsx"),
    ],
)
def test_the_file_pattern_covers_later_exports_of_the_same_survey(
    file_name: str, pattern: str
) -> None:
    assert match_pattern(file_name) == pattern


def test_init_writes_a_site_whose_paths_stay_inside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    assert main(["init", str(site)]) == 0
    settings = load_settings(site / "resilience.toml")
    for path in (settings.paths.exports, settings.paths.mappings, settings.paths.out):
        assert path.is_relative_to(site.resolve())
    assert settings.paths.roster.read_text().startswith("team_id,team_name,")
    assert settings.paths.waves.read_text() == "wave,opens,closes\n"
    assert settings.paths.actions.read_text() == "team_id,date,action\n"
    assert not any(settings.paths.exports.iterdir())
    assert settings.quality.waves == {}
    capsys.readouterr()
    assert main(["init", str(site)]) == 2
    assert "exists already: nothing was changed" in capsys.readouterr().err


def test_limesurvey_question_text_headings_are_recognised(
    tmp_path: Path, registry: Registry
) -> None:
    header = [*LIMESURVEY_RESPONSE_COLUMNS, "Overall [Statement 1]", "What helps? [Other]"]
    row = ["7", "2026-01-14 10:15:33", "3", "en", "1234", "2026-01-14 10:01:00"]
    row += ["2026-01-14 10:15:33", "198.51.100.2", "https://example.org", "T1", "Agree", "Sam"]
    export = tmp_path / "results-survey1.csv"
    export.write_text(
        "\n".join(",".join(f'"{cell}"' for cell in record) for record in (header, row)) + "\n"
    )
    plan = plan_export(export, [], registry)

    assert plan.layout.format == "limesurvey_full_text"
    assert set(plan.identifying_columns) == {
        "Response ID",
        "Seed",
        "Date started",
        "Date last action",
        "IP address",
        "Referrer URL",
        "What helps? [Other]",
    }
    assert [c.column_id for c in plan.with_role("recorded_at")] == ["Date submitted"]


ALONE = textwrap.dedent(
    """
    import sys
    from resilience.cli import main
    site, export = sys.argv[1], sys.argv[2]
    codes = [
        main(["init", site]),
        main(["map", export, "--config", site + "/resilience.toml"]),
        main(["inspect", export, "--config", site + "/resilience.toml"]),
        main(["survey-kit", "--tool", "redcap", "--out", site + "/kit"]),
    ]
    heavy = sorted({"prefect", "great_expectations"} & set(sys.modules))
    wrong = codes != [0, 0, 1, 0]
    sys.exit(f"imported {heavy}" if heavy else f"exit codes {codes}" if wrong else 0)
    """
)


def test_onboarding_commands_run_without_the_pipelines_heavy_imports(tmp_path: Path) -> None:
    export = SAMPLE_DIR / "exports" / "staff_survey_2026-01.csv"
    subprocess.run(
        [sys.executable, "-c", ALONE, str(tmp_path / "site"), str(export)],
        check=True,
        cwd=PROJECT_ROOT,
        capture_output=True,
    )


def test_a_tools_own_numbers_are_recoded_by_the_draft_and_flagged(
    tmp_path: Path, registry: Registry
) -> None:
    # Qualtrics numbers choices as they were added: here 10 .. 14 (as in the real Insights file).
    header = ["ResponseId", "Team", *(f"Q3_{n}" for n in range(1, 7))]
    rows = [[f"R_{r}", "T001", *(str(10 + (r + n) % 5) for n in range(6))] for r in range(6)]
    export = tmp_path / "pulse_2026-01.csv"
    export.write_text("\n".join(",".join(row) for row in [header, *rows]) + "\n")
    draft = draft_mapping(export, registry, read_team_keys(SAMPLE_DIR / "roster.csv"))

    [block] = draft.placed
    assert (block.instrument.id, block.answers, block.confidence) == ("brs", "recodes", "low")
    text = draft_toml(draft)
    assert "# CHECK: the lowest number written (10) is taken to mean 'Strongly disagree'" in text
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "pulse.toml").write_text(text.replace('match = "pulse_*.csv"', 'match = "pulse_*"'))
    [mapping] = load_mappings(mappings)
    assert mapping.answers["brs"] == {"10": 1, "11": 2, "12": 3, "13": 4, "14": 5}
    assert mapping.columns["Team"] == "team"


@pytest.mark.skipif(not REAL_EXPORTS.is_dir(), reason=f"real exports not found at {REAL_EXPORTS}")
def test_real_exports_holding_no_instrument_get_no_guessed_block(registry: Registry) -> None:
    for path in sorted(REAL_EXPORTS.glob("*.csv")):
        if path.name == "redcap_survey_dictionary.csv":
            with pytest.raises(UnreadableExport, match="codebook, not an export"):
                draft_mapping(path, registry, {})
            continue
        draft = draft_mapping(path, registry, {})
        assert draft.placed == (), path.name
        assert draft.unplaced, path.name
        # Whatever the draft says, it maps nothing: a person decides.
        assert tomllib.loads(draft_toml(draft)).get("columns", {}) == {}, path.name
