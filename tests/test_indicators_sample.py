"""The indicators on the committed sample, run through the pipeline's stages and checked against an
independent pandas scoring of the exports, numpy, and the sample's own ground truth."""

from __future__ import annotations

import csv
import json
import re
import shutil
import tomllib
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from resilience import pipeline
from resilience.instruments import Registry, load_registry
from resilience.settings import Settings, load_settings
from resilience.sqlfiles import published_model_names, set_variables
from resilience.warehouse import build_candidate
from tests.conftest import SAMPLE_DIR, make_project, materialize
from tests.test_indicators import cronbach_alpha

DEFINITIONS = SAMPLE_DIR.parent.parent / "instruments"
KEPT_STATUSES = {"0", "4", "16"}  # DOMAIN.md: IP address, imported, offline
MIN_GROUP_SIZE = 5


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    config = make_project(tmp_path_factory.mktemp("project"))
    # Every valid response is scored, so that an independent scoring of the exports sees the same
    # responses (make_project includes the sample's action log).
    config.write_text(
        config.read_text(encoding="utf-8") + "[quality]\nexclude = []\n", encoding="utf-8"
    )
    return load_settings(config)


@pytest.fixture(scope="module")
def published(settings: Settings, registry: Registry) -> Path:
    """The sample through ingest, validation, load and transform, then the published file."""
    report = pipeline.new_run()
    for stage in (pipeline.ingest_exports, pipeline.validate):
        report = stage(settings, report, registry)
    pipeline.load(settings, report)
    pipeline.transform(settings, registry)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        return build_candidate(con, settings.analytics_path)


def query(path: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).df()


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((SAMPLE_DIR / "sample.json").read_text())


# --- an independent scoring: the exports as pandas reads them, the rules as the TOML files state


def read_exports() -> pd.DataFrame:
    """Every kept response once, with canonical column names."""
    mapping = tomllib.loads(
        (SAMPLE_DIR / "mappings" / "qualtrics_staff_survey.toml").read_text(encoding="utf-8")
    )["columns"]
    frames = [
        pd.read_csv(path, skiprows=[1, 2], dtype=str)  # Qualtrics: 3 header rows
        for path in sorted((SAMPLE_DIR / "exports").glob("*.csv"))
    ]
    responses = pd.concat(frames, ignore_index=True)
    responses = responses[responses["Status"].isin(KEPT_STATUSES)]
    responses = responses.drop_duplicates("ResponseId")  # cumulative exports repeat responses
    return responses.rename(columns=mapping).set_index("ResponseId")


def scale_rules() -> list[dict]:
    """Each scale with its items' scored values (reversed where the definition says so)."""
    scales = []
    for path in sorted(DEFINITIONS.glob("*.toml")):
        definition = tomllib.loads(path.read_text(encoding="utf-8"))
        values = {o["code"]: o["value"] for o in definition.get("answers", {}).get("options", [])}
        low, high = min(values.values(), default=0), max(values.values(), default=0)
        for scale in definition.get("scales", []):
            items = {}
            for number in scale["items"]:
                mapping = values
                if number in scale.get("reversed", []):
                    mapping = {code: low + high - value for code, value in values.items()}
                items[f"{definition['id']}_{number}"] = mapping
            scales.append(
                {**scale, "indicator": f"{definition['id']}_{scale['id']}", "items": items}
            )
    return scales


def score_with_pandas(responses: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Scores (one column per indicator) and, per indicator, the scored item values."""
    scores = pd.DataFrame({"team": responses["team"], "wave": responses["wave"]})
    item_values = {}
    for scale in scale_rules():
        values = pd.DataFrame(
            {
                item: pd.to_numeric(responses[item]).map(mapping)
                for item, mapping in scale["items"].items()
            }
        )
        answered = values.notna().sum(axis=1)
        score = values.mean(axis=1) * (len(values.columns) if scale["method"] == "sum" else 1)
        scores[scale["indicator"]] = score.where(answered >= scale["min_answered"])
        item_values[scale["indicator"]] = values
    return scores, item_values


@pytest.fixture(scope="module")
def pandas_scores() -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    return score_with_pandas(read_exports())


def test_organization_means_equal_a_pandas_scoring_of_the_exports(
    published, pandas_scores, truth
) -> None:
    scores, _ = pandas_scores
    assert len(scores) == truth["responses"]
    indicators = [c for c in scores.columns if c not in ("team", "wave")]
    expected = scores.melt(["team", "wave"], indicators, "indicator", "score").dropna()
    organization = expected.groupby(["wave", "indicator"])["score"].agg(["mean", "count"])
    found = query(
        published,
        "select wave, indicator, value, n from org_indicators where indicator not like '%_share_%'",
    ).set_index(["wave", "indicator"])
    assert len(found) == len(organization) == 3 * len(indicators)
    joined = found.join(organization)
    assert (joined["n"] == joined["count"]).all()
    # Scores are kept to 6 decimals.
    assert np.allclose(joined["value"], joined["mean"], rtol=0, atol=1e-6)


def test_team_means_equal_the_pandas_scoring_where_shown(published, pandas_scores) -> None:
    scores, _ = pandas_scores
    indicators = [c for c in scores.columns if c not in ("team", "wave")]
    expected = (
        scores.melt(["team", "wave"], indicators, "indicator", "score")
        .dropna()
        .groupby(["wave", "team", "indicator"])["score"]
        .agg(["mean", "count"])
    )
    found = query(
        published,
        "select wave, team_id as team, indicator, value, n, suppressed from team_indicators "
        "where indicator not like '%_share_%'",
    ).set_index(["wave", "team", "indicator"])
    joined = found.join(expected, how="outer")
    shown = joined[~joined["suppressed"]]
    assert np.allclose(shown["value"], shown["mean"], rtol=0, atol=1e-6)
    assert (shown["n"] == shown["count"]).all()
    # Every cell of fewer than five scored responses is hidden; a larger one only when a
    # container minus it would give a small one away (complementary suppression).
    assert joined.loc[joined["count"] < MIN_GROUP_SIZE, "suppressed"].all()


def test_alpha_matches_item_variances_computed_with_numpy(published, pandas_scores) -> None:
    scores, item_values = pandas_scores
    found = query(published, "select wave, indicator, n, alpha from instrument_reliability")
    assert set(found["indicator"]) == {i for i, v in item_values.items() if v.shape[1] > 1}
    for row in found.itertuples():
        values = item_values[row.indicator][scores["wave"] == row.wave].dropna().to_numpy()
        assert row.n == len(values)
        # The total comes from the score, which is kept to 6 decimals.
        assert row.alpha == pytest.approx(cronbach_alpha(values), abs=1e-6), row
    # The sample's scales hang together about as the publishers report (ProQOL burnout weakest).
    latest = found[found["wave"] == found["wave"].max()].set_index("indicator")["alpha"]
    assert latest.min() > 0.6
    assert latest.idxmin() == "proqol_bo"


def test_the_worsening_team_is_warned_about_and_the_improving_team_is_not(published, truth) -> None:
    warnings = query(published, "select * from early_warnings")
    latest = warnings["wave"].max()
    worsening = warnings[(warnings["team_id"] == truth["worsening_team"])]
    assert {"proqol_bo", "proqol_sts", "cbi_client"} <= set(
        worsening.loc[worsening["wave"] == latest, "indicator"]
    )
    worsened = worsening[worsening["rule"] == "worsened"]
    assert not worsened.empty
    # Worse is up where higher is worse (burnout, stress) and down where it is better.
    worse_way = worsened["direction"].map({"higher is worse": 1, "higher is better": -1})
    assert (worsened["change"] * worse_way > 0).all()
    assert (worsened["change_p_value"] < 0.05).all()
    assert worsened["evidence"].str.contains(r"(?:rose|fell) from \d+\.\d+ in .* \(change ").all()
    # Every scale is watched: the team's personal burnout (CBI) is among its warnings.
    assert "cbi_personal" in set(worsening["indicator"])
    assert truth["improving_team"] not in set(warnings["team_id"])


def test_early_warning_rules_follow_the_configuration(published, settings, tmp_path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(settings.warehouse_path, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        set_variables(
            con,
            {**settings.indicator_variables(), "early_warning_rules": ["crossed_band"]},
        )
        set_variables(con, {"min_group_size": MIN_GROUP_SIZE})
        materialize(con, "early_warnings")
        rules = con.execute("select distinct rule from early_warnings").fetchall()
    assert rules == [("crossed_band",)]


def test_small_teams_have_no_response_rate_and_large_ones_do(published, truth) -> None:
    rates = query(published, "select * from response_rates where group_type = 'team'")
    small = rates[rates["group_id"].isin(truth["small_teams"])]
    assert small["suppressed"].all() and small["response_rate"].isna().all()
    shown = rates[~rates["suppressed"]]
    assert (shown["respondents"] >= MIN_GROUP_SIZE).all()
    assert (shown["invited"] >= MIN_GROUP_SIZE).all()
    [(organization,)] = query(
        published,
        "select sum(respondents) from response_rates where group_type = 'organization'",
    ).itertuples(index=False)
    assert organization == truth["responses"]


def test_less_supervision_goes_with_more_burnout(published) -> None:
    effects = query(
        published,
        "select * from exposure_effects where group_type = 'organization' "
        "and exposure_item = 'ctx_supervision' and indicator = 'proqol_bo'",
    )
    most = effects[effects["exposure_band"] == "every_two_weeks"]
    # In every wave the best-supervised report clearly less burnout than the least supervised.
    assert len(most) == 3
    assert (most["difference_from_first_band"] < -2).all()
    least = effects[effects["exposure_band_order"] == 1]
    assert most["ci_high"].max() < least["ci_low"].min()


def test_actions_show_the_improving_team_before_and_after(published, truth) -> None:
    actions = query(
        published,
        f"select * from actions where team_id = '{truth['improving_team']}' "
        "and indicator = 'proqol_bo' order by action_date",
    )
    assert len(actions) == 2
    assert list(actions["wave_before"]) == truth["waves"][:2]
    assert list(actions["wave_after"]) == truth["waves"][1:]
    assert (actions["value_after"] < actions["value_before"]).all()


# --- every published table: its documented key, and the minimum group size


def documented_keys(path: Path) -> dict[str, list[str]]:
    descriptions = query(path, "select distinct table_name, table_description from data_dictionary")
    keys = {}
    for table, description in descriptions.itertuples(index=False):
        match = re.search(r"\(key: ([a-z_, ]+)\)", description)
        assert description.startswith("One row per") and match, f"{table}: grain and key"
        keys[table] = [column.strip() for column in match.group(1).split(",")]
    return keys


def test_every_published_table_states_its_grain_and_key_and_keeps_it(published) -> None:
    keys = documented_keys(published)
    assert set(keys) == {*published_model_names(), "data_dictionary"}
    for table, key in keys.items():
        columns = ", ".join(key)
        [(rows, distinct, null_keys)] = query(
            published,
            f"select count(*), count(distinct ({columns})), "
            f"count(*) filter (where {' or '.join(f'{c} is null' for c in key)}) from {table}",
        ).itertuples(index=False)
        assert rows == distinct, f"{table}: key ({columns}) is not unique"
        assert null_keys == 0, f"{table}: null key"


INDICATOR_TABLES = ("team_indicators", "org_indicators", "group_indicators", "exposure_effects")


@pytest.mark.parametrize("table", INDICATOR_TABLES)
def test_shares_and_their_intervals_lie_within_0_and_1(published, table) -> None:
    [(low, high)] = query(
        published,
        f"select min(least(value, ci_low, ci_high)), max(greatest(value, ci_low, ci_high)) "
        f"from {table} where indicator like '%_share_%'",
    ).itertuples(index=False)
    assert 0 <= low <= high <= 1


@pytest.mark.parametrize("table", INDICATOR_TABLES)
def test_no_published_cell_describes_fewer_than_the_minimum(published, table) -> None:
    [(shown_small, hidden_with_numbers, shown)] = query(
        published,
        f"select count(*) filter (where not suppressed and (n is null or n < {MIN_GROUP_SIZE})), "
        "count(*) filter (where suppressed and "
        "(n is not null or value is not null or ci_low is not null or ci_high is not null)), "
        f"count(*) filter (where not suppressed) from {table}",
    ).itertuples(index=False)
    assert (shown_small, hidden_with_numbers) == (0, 0)
    assert shown > 0


def test_tables_without_n_take_their_numbers_from_shown_cells_only(published) -> None:
    checks = {
        "response rates": "select count(*) from response_rates where not suppressed "
        f"and (respondents < {MIN_GROUP_SIZE} or invited < {MIN_GROUP_SIZE}) "
        "or suppressed and (respondents is not null or response_rate is not null)",
        "reliability": "select count(*) from instrument_reliability where not suppressed "
        f"and n < {MIN_GROUP_SIZE} or suppressed and alpha is not null",
        "warnings": f"select count(*) from early_warnings where n < {MIN_GROUP_SIZE}",
        "actions": "select count(*) from actions "
        "left join team_indicators as shown on shown.team_id = actions.team_id "
        "and shown.indicator = actions.indicator and not shown.suppressed "
        "and shown.wave in (actions.wave_before, actions.wave_after) "
        "where (value_before is not null or value_after is not null) and shown.wave is null",
    }
    for name, sql in checks.items():
        assert query(published, sql).iloc[0, 0] == 0, name


ROLE_CODES = {
    "Peer support worker": 1,
    "Outreach worker": 2,
    "Nurse": 3,
    "Physician or prescriber": 5,
}


def add_role_column(export: Path) -> None:
    """Give every row of a Qualtrics export a role as column Q12: one of three common roles, and a
    rare one for every 400th row (three people)."""
    with export.open(encoding="utf-8", newline="") as handle:
        lines = list(csv.reader(handle))
    lines[0].append("Q12")
    lines[1].append("What is your role?")
    lines[2].append('{"ImportId":"QID12"}')
    common = ["Peer support worker", "Outreach worker", "Nurse"]
    for number, line in enumerate(lines[3:]):
        role = "Physician or prescriber" if number % 400 == 0 else common[number % 3]
        line.append(str(ROLE_CODES[role]))
    with export.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(lines)


def test_a_mapped_role_column_is_reported_by_role(tmp_path: Path) -> None:
    definitions = tmp_path / "instruments"
    shutil.copytree(DEFINITIONS, definitions, ignore=shutil.ignore_patterns("examples"))
    shutil.copy(DEFINITIONS / "examples" / "profile.toml", definitions)
    registry = load_registry(definitions)
    settings = load_settings(make_project(tmp_path))
    mapping = settings.paths.mappings / "qualtrics_staff_survey.toml"
    mapping.write_text(mapping.read_text(encoding="utf-8") + '"Q12" = "role"\n', encoding="utf-8")
    add_role_column(settings.paths.exports / "staff_survey_2025-05.csv")

    report = pipeline.new_run()
    for stage in (pipeline.ingest_exports, pipeline.validate):
        report = stage(settings, report, registry)
    pipeline.load(settings, report)
    pipeline.transform(settings, registry)

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        roles = con.execute(
            "select groups.group_id, cells.n, cells.suppressed "
            "from int_groups as groups inner join group_indicators as cells "
            "on cells.wave = groups.wave and cells.group_type = groups.group_type "
            "and cells.group_id = groups.group_id "
            "where groups.group_type = 'role' and cells.indicator = 'proqol_bo'"
        ).df()
        cuts = {
            row[0] for row in con.execute("select distinct group_type from int_groups").fetchall()
        }
        [(waves,)] = con.execute(
            "select count(distinct wave) from group_indicators where group_type = 'role'"
        ).fetchall()
    # The role column came with one export only: one wave has roles.
    assert waves == 1
    by_role = roles.set_index("group_id")
    assert set(by_role.index) == {
        "Peer support worker",
        "Outreach worker",
        "Nurse",
        "Physician or prescriber",
    }
    # A rare role (a handful of people) is hidden, and so is one common role: otherwise the
    # organization minus the three common ones would describe the rare one.
    assert by_role.loc["Physician or prescriber", "suppressed"]
    assert pd.isna(by_role.loc["Physician or prescriber", "n"])
    shown = by_role[~by_role["suppressed"]]
    assert len(shown) == 2 and (shown["n"] >= MIN_GROUP_SIZE).all()
    # Role is a cut of its own, never crossed with team.
    assert "role" in cuts and not any("role" in cut and cut != "role" for cut in cuts)
