"""The published file as an analyst meets it, on a real run of the sample: every table and column
described where DuckDB users look and in data_dictionary, labels beside ids, numbers rounded for
reading beside the full ones, the ten questions of docs/analysts.md answered right, and the
Parquet and CSV copies equal to the published tables cell for cell."""

from __future__ import annotations

import csv
import itertools
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from resilience.cli import main
from resilience.instruments import Registry
from resilience.published import (
    ColumnDescription,
    UndocumentedColumns,
    column_comment,
    document_candidate,
    export_tables,
    load_column_descriptions,
)
from resilience.settings import PROJECT_ROOT, Settings, load_settings
from resilience.sqlfiles import published_model_names, quote_literal
from tests.conftest import make_project
from tests.test_pipeline import run_stages

ANALYSTS_DOC = PROJECT_ROOT / "docs" / "analysts.md"
EXPORT_FORMATS = ("parquet", "csv")
# The sample team whose compassion fatigue rises wave after wave (sample.json: worsening_team).
WORSENING_TEAM = "T002"
ROUNDED_COLUMNS = {
    "value_rounded": "value",
    "change_rounded": "change",
    "response_rate_rounded": "response_rate",
}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # make_project includes the sample's action log.
    return load_settings(make_project(tmp_path_factory.mktemp("analysts")))


@pytest.fixture(scope="module")
def published(settings: Settings, registry: Registry) -> Path:
    run_stages(settings, registry)
    return settings.analytics_path


@pytest.fixture(scope="module")
def tables(published: Path) -> dict[str, pd.DataFrame]:
    """Every published table, whole, for answers worked out in pandas."""
    with duckdb.connect(str(published), read_only=True) as con:
        names = [name for (name,) in con.execute("show tables").fetchall()]
        return {name: con.execute(f"select * from {name}").df() for name in names}


def roster(settings: Settings) -> dict[tuple[str, str], dict[str, str]]:
    with settings.paths.roster.open(encoding="utf-8", newline="") as handle:
        return {(row["wave"], row["team_id"]): row for row in csv.DictReader(handle)}


# --- descriptions --------------------------------------------------------------------------------


def bare(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def test_every_published_column_has_a_comment_and_a_dictionary_row(published: Path) -> None:
    with duckdb.connect(str(published), read_only=True) as con:
        columns = con.execute(
            "select table_name, column_name, data_type, comment from duckdb_columns() "
            "where database_name = current_database()"
        ).fetchall()
        table_comments = dict(
            con.execute(
                "select table_name, comment from duckdb_tables() "
                "where database_name = current_database()"
            ).fetchall()
        )
        dictionary = {
            (table, column): rest
            for table, column, *rest in con.execute(
                "select table_name, column_name, data_type, meaning, unit, allowed_values, "
                "precision, table_description from data_dictionary"
            ).fetchall()
        }
    assert set(table_comments) == {*published_model_names(), "data_dictionary"}
    assert {(table, column) for table, column, _, _ in columns} == set(dictionary)
    assert len(columns) > 150
    for table, comment in table_comments.items():
        assert comment.startswith("One row per") and "(key: " in comment, table
    for table, column, data_type, comment in columns:
        where = f"{table}.{column}"
        listed_type, meaning, unit, allowed, precision, table_description = dictionary[
            (table, column)
        ]
        assert listed_type == data_type, where
        assert table_description == table_comments[table], where
        assert comment == column_comment(meaning, unit, allowed, precision), where
        # A description, not the column's name again.
        assert bare(meaning) != bare(column) and len(meaning.split()) >= 4, where
        if data_type == "DOUBLE":
            assert precision.startswith(("full", "rounded")), where


def descriptions_of_the_dictionary() -> list[ColumnDescription]:
    return [d for d in load_column_descriptions() if d.table == "data_dictionary"]


@pytest.mark.parametrize(
    ("descriptions", "message"),
    [
        (
            [ColumnDescription("teams", "team_id", "The team's id on the roster.")],
            "no description of teams.pulse_share",
        ),
        (
            [
                ColumnDescription(None, "team_id", "The team's id on the roster."),
                ColumnDescription("teams", "pulse_share", "A share nobody rounded or said."),
            ],
            "no precision for the fractional column(s) teams.pulse_share",
        ),
        (
            [
                ColumnDescription(None, "team_id", "The team's id on the roster."),
                ColumnDescription("teams", "pulse_share", "A share.", precision="full"),
                ColumnDescription("teams", "headcount", "A column dropped long ago."),
                ColumnDescription(None, "mood", "A column no table has."),
            ],
            "descriptions of no published column: teams.headcount, mood",
        ),
    ],
)
def test_publishing_stops_on_a_column_nothing_describes_or_a_stale_description(
    tmp_path: Path, descriptions: list[ColumnDescription], message: str
) -> None:
    with duckdb.connect() as con:
        con.execute(f"attach {quote_literal(str(tmp_path / 'candidate.duckdb'))} as candidate")
        con.execute(
            "create table candidate.teams as select 'T001' as team_id, 0.25::double as pulse_share"
        )
        with pytest.raises(UndocumentedColumns) as raised:
            document_candidate(con, [*descriptions, *descriptions_of_the_dictionary()])
    assert message in str(raised.value)
    assert "sql/marts/columns.toml" in str(raised.value)


# --- labels and rounding -------------------------------------------------------------------------


def test_team_rows_carry_the_name_service_line_and_unit_of_their_waves_roster(
    tables: dict[str, pd.DataFrame], settings: Settings
) -> None:
    on_roster = roster(settings)
    checked = 0
    for name, frame in tables.items():
        if "team_name" not in frame.columns or name in ("teams", "actions"):
            continue
        team_rows = frame[frame["group_type"] == "team"] if "group_type" in frame else frame
        team_ids = team_rows["group_id"] if "group_type" in frame else team_rows["team_id"]
        for wave, team_id, *labels in zip(
            team_rows["wave"],
            team_ids,
            team_rows["team_name"],
            team_rows["service_line"],
            team_rows["parent_unit"],
            strict=True,
        ):
            listed = on_roster[(wave, team_id)]
            assert labels == [listed["team_name"], listed["service_line"], listed["parent_unit"]]
            checked += 1
        others = frame.drop(team_rows.index)
        assert others[["team_name", "service_line", "parent_unit"]].isna().all().all(), name
    assert checked > 3000
    actions = tables["actions"].merge(tables["teams"], on="team_id", suffixes=("", "_latest"))
    assert len(actions) == len(tables["actions"]) > 0
    assert (actions["team_name"] == actions["team_name_latest"]).all()


def test_indicator_labels_name_their_instrument_and_direction_follows_the_risky_end(
    tables: dict[str, pd.DataFrame],
) -> None:
    definitions = tables["indicator_definitions"].set_index("indicator")
    labels = definitions["label"]
    assert labels.is_unique
    assert labels["proqol_bo"] == "ProQOL 5: Burnout, mean score"
    assert labels["miniz_burnout"].startswith("Mini-Z")
    assert labels["proqol_sts_share_high"] == (
        "ProQOL 5: Secondary traumatic stress, share in the high band"
    )
    bands = tables["scale_bands"]
    band_count = bands.groupby("indicator")["band_order"].max()
    for indicator, row in definitions.iterrows():
        worse, better = ("higher is worse", "higher is better")
        if row["risk_when"] == "low":
            worse, better = better, worse
        if row["kind"] == "mean":
            assert row["direction"] == worse, indicator
            continue
        scale = indicator.split("_share_")[0]
        [order] = bands.loc[
            (bands["indicator"] == scale) & (bands["band_id"] == row["band_id"]), "band_order"
        ]
        expected = {1: better, band_count[scale]: worse}.get(order, "neither")
        assert row["direction"] == expected, indicator
    for name in ("team_indicators", "org_indicators", "group_indicators", "exposure_effects"):
        frame = tables[name].join(definitions, on="indicator", rsuffix="_defined")
        assert (frame["indicator_label"] == frame["label"]).all(), name
        assert (frame["direction"] == frame["direction_defined"]).all(), name
        assert (frame["kind"] == frame["kind_defined"]).all(), name


@pytest.mark.parametrize(
    ("table", "rounded"),
    [
        ("team_indicators", "value_rounded"),
        ("team_indicators", "change_rounded"),
        ("org_indicators", "change_rounded"),
        ("group_indicators", "value_rounded"),
        ("exposure_effects", "value_rounded"),
        ("actions", "change_rounded"),
        ("response_rates", "response_rate_rounded"),
    ],
)
def test_rounded_numbers_sit_beside_the_full_ones(
    tables: dict[str, pd.DataFrame], table: str, rounded: str
) -> None:
    frame = tables[table]
    kinds = frame.get("kind", "share" if table == "response_rates" else "mean")
    decimals = pd.Series(kinds, index=frame.index).map({"share": 3, "mean": 2})
    full = frame[ROUNDED_COLUMNS[rounded]]
    shown = full.notna()
    assert shown.sum() > 0 and frame.loc[~shown, rounded].isna().all()
    scale = 10.0 ** decimals[shown]
    assert ((frame.loc[shown, rounded] * scale).round(6) % 1 == 0).all()
    assert ((frame.loc[shown, rounded] - full[shown]).abs() <= 0.5 / scale + 1e-12).all()
    # The full number keeps its precision: it is not the rounded one.
    assert (frame.loc[shown, rounded] != full[shown]).any()


# --- the ten questions of docs/analysts.md -------------------------------------------------------


def documented_questions() -> dict[int, tuple[str, str]]:
    """Question number -> (question, its SQL), from the doc's '### N. ...' sections."""
    text = ANALYSTS_DOC.read_text(encoding="utf-8")
    sections = re.findall(r"^### (\d+)\. (.+?)\n(.*?)(?=^##)", text, flags=re.M | re.S)
    questions = {}
    for number, question, body in sections:
        [sql] = re.findall(r"```sql\n(.*?)```", body, flags=re.S)
        questions[int(number)] = (question, sql)
    return questions


def answer(published: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(published), read_only=True) as con:
        return con.execute(sql).df()


def latest(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["wave"] == frame["wave"].max()]


def worse_way(tables: dict[str, pd.DataFrame], indicators: pd.Series) -> pd.Series:
    """+1 where a rise of the indicator is bad, -1 where it is good (from risk_when)."""
    risk = tables["indicator_definitions"].set_index("indicator")["risk_when"]
    return indicators.map(risk).map({"high": 1, "low": -1})


def names(tables: dict[str, pd.DataFrame]) -> dict[str, str]:
    return dict(zip(tables["teams"]["team_id"], tables["teams"]["team_name"], strict=True))


def kinds(tables: dict[str, pd.DataFrame]) -> dict[str, str]:
    definitions = tables["indicator_definitions"]
    return dict(zip(definitions["indicator"], definitions["kind"], strict=True))


def labels(tables: dict[str, pd.DataFrame]) -> dict[str, str]:
    definitions = tables["indicator_definitions"]
    return dict(zip(definitions["indicator"], definitions["label"], strict=True))


def check_sts_highest(found: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> None:
    team = latest(tables["team_indicators"])
    sts = team[(team["indicator"] == "proqol_sts") & ~team["suppressed"]]
    top = sts.nlargest(5, "value")
    assert list(found["team_name"]) == list(top["team_id"].map(names(tables)))
    assert list(found["n"]) == list(top["n"])
    assert list(found["mean_sts"]) == pytest.approx(list(top["value"]), abs=0.005)
    assert found["team_name"].iloc[0] == names(tables)[WORSENING_TEAM]


def check_teams_worsened(found: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> None:
    team = latest(tables["team_indicators"])
    means = team[team["indicator"].map(kinds(tables)) == "mean"]
    worse = means[
        means["change_significant"].fillna(False).astype(bool)
        & (means["change"] * worse_way(tables, means["indicator"]) > 0)
    ]
    expected = {
        (names(tables)[team_id], labels(tables)[indicator]): now - before
        for team_id, indicator, now, before in zip(
            worse["team_id"],
            worse["indicator"],
            worse["value"],
            worse["previous_value"],
            strict=True,
        )
    }
    got = {(row.team_name, row.indicator_label): row.change for row in found.itertuples()}
    assert got.keys() == expected.keys()
    for key, change in expected.items():
        assert got[key] == pytest.approx(change, abs=0.005), key
    assert names(tables)[WORSENING_TEAM] in {team_name for team_name, _ in got}


def check_after_action(found: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> None:
    actions = tables["actions"]
    team = tables["team_indicators"].set_index(["wave", "team_id", "indicator"])
    expected = []
    for row in actions.itertuples():
        if (
            pd.isna(row.wave_after)
            or (row.wave_before, row.team_id, row.indicator) not in team.index
        ):
            continue
        before = team.loc[(row.wave_before, row.team_id, row.indicator)]
        after = team.loc[(row.wave_after, row.team_id, row.indicator)]
        if before["suppressed"] or after["suppressed"] or not after["change_significant"]:
            continue
        change = after["value"] - before["value"]
        worse = change * worse_way(tables, pd.Series([row.indicator])).iloc[0] > 0
        expected.append(
            (
                names(tables)[row.team_id],
                row.action,
                labels(tables)[row.indicator],
                round(change, 2),
                "worse" if worse else "better",
            )
        )
    assert expected
    got = [
        (row.team_name, row.action, row.indicator_label, row.change, row.for_staff)
        for row in found.itertuples()
    ]
    assert sorted(got) == sorted(expected)


def check_participation_by_service_line(
    found: pd.DataFrame, tables: dict[str, pd.DataFrame]
) -> None:
    rates = latest(tables["response_rates"])
    teams = rates[rates["group_type"] == "team"]
    invited = teams.groupby("service_line")["invited"].sum()
    assert dict(zip(found["service_line"], found["invited"], strict=True)) == invited.to_dict()
    assert list(found["response_rate"]) == sorted(found["response_rate"])
    shown_team_respondents = teams.groupby("service_line")["respondents"].sum()
    for row in found.itertuples():
        assert row.response_rate == pytest.approx(row.respondents / row.invited, abs=0.0005)
        assert row.respondents >= shown_team_respondents[row.service_line]
    complete = teams.groupby("service_line")["suppressed"].sum() == 0
    assert complete.any()
    for line in complete[complete].index:
        [respondents] = found.loc[found["service_line"] == line, "respondents"]
        assert respondents == shown_team_respondents[line]


def check_organization_moves(found: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> None:
    org = tables["org_indicators"]
    means = org[org["indicator"].map(kinds(tables)) == "mean"]
    now, before = latest(means), means[means["wave"] == sorted(means["wave"].unique())[-2]]
    change = now.set_index("indicator")["value"] - before.set_index("indicator")["value"]
    expected = {labels(tables)[indicator]: round(value, 2) for indicator, value in change.items()}
    got = dict(zip(found["indicator_label"], found["change"], strict=True))
    assert got.keys() == expected.keys()
    for label, value in expected.items():
        assert got[label] == pytest.approx(value, abs=0.01), label


def check_high_burnout_by_service_line(
    found: pd.DataFrame, tables: dict[str, pd.DataFrame]
) -> None:
    team = latest(tables["team_indicators"])
    share = team[team["indicator"] == "proqol_bo_share_high"]
    by_line = share.groupby("service_line")
    complete = by_line["suppressed"].sum() == 0
    assert complete.any()
    weighted = (share["n"] * share["value"]).groupby(share["service_line"]).sum()
    respondents = by_line["n"].sum()
    for line in complete[complete].index:
        [row] = found[found["service_line"] == line].itertuples()
        assert row.n == respondents[line]
        assert row.percent_high_burnout == pytest.approx(
            100 * weighted[line] / respondents[line], abs=0.05
        )
    assert list(found["percent_high_burnout"]) == sorted(
        found["percent_high_burnout"], reverse=True
    )


def check_early_warnings(found: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> None:
    team = latest(tables["team_indicators"])
    # Every scale is watched by default.
    worsened = team[
        (team["kind"] == "mean")
        & team["change_significant"].fillna(False).astype(bool)
        & (team["change"] * worse_way(tables, team["indicator"]) > 0)
    ]
    expected = set(
        zip(
            worsened["team_id"].map(names(tables)),
            worsened["indicator"].map(labels(tables)),
            strict=True,
        )
    )
    got = found[found["rule"] == "worsened"]
    assert set(zip(got["team_name"], got["indicator_label"], strict=True)) == expected != set()
    assert found["evidence"].str.len().min() > 20


def check_low_participation(found: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> None:
    rates = latest(tables["response_rates"])
    teams = rates[(rates["group_type"] == "team") & ~rates["suppressed"]]
    low = teams[teams["respondents"] / teams["invited"] < 0.6]
    assert sorted(found["team_name"]) == sorted(low["group_id"].map(names(tables))) != []


def check_aggression_and_sts(found: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> None:
    effects = latest(tables["exposure_effects"])
    rows = effects[
        (effects["group_type"] == "organization")
        & (effects["exposure_item"] == "ctx_client_aggression")
        & (effects["indicator"] == "proqol_sts")
    ].sort_values("exposure_band_order")
    first = rows["value"].iloc[0]
    assert list(found["client_aggression"]) == list(rows["exposure_band_label"])
    assert list(found["more_than_never"]) == pytest.approx(list(rows["value"] - first), abs=0.005)
    [org_n] = latest(tables["org_indicators"]).query("indicator == 'proqol_sts'")["n"]
    assert found["n"].sum() <= org_n
    # The sample's respondents who face aggression weekly carry more traumatic stress.
    assert found["more_than_never"].iloc[-1] > 0


def check_team_trend(found: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> None:
    [team_id] = [key for key, name in names(tables).items() if name == "Syringe services North"]
    assert team_id == WORSENING_TEAM
    team = tables["team_indicators"]
    rows = team[
        (team["team_id"] == team_id)
        & team["indicator"].isin(["proqol_bo", "proqol_sts", "cbi_client"])
        & ~team["suppressed"]
    ]
    assert len(found) == len(rows) == 9
    for label, waves in found.groupby("indicator_label"):
        means = list(waves["mean"])
        # Each wave's change is its mean minus the wave before's.
        assert list(waves["change"])[1:] == pytest.approx(
            [later - earlier for earlier, later in itertools.pairwise(means)], abs=0.011
        ), label
        assert means[-1] > means[0], label


CHECKS: dict[int, Callable[[pd.DataFrame, dict[str, pd.DataFrame]], None]] = {
    1: check_sts_highest,
    2: check_teams_worsened,
    3: check_after_action,
    4: check_participation_by_service_line,
    5: check_organization_moves,
    6: check_high_burnout_by_service_line,
    7: check_early_warnings,
    8: check_low_participation,
    9: check_aggression_and_sts,
    10: check_team_trend,
}


def test_the_doc_asks_ten_questions_each_with_its_sql() -> None:
    assert sorted(documented_questions()) == sorted(CHECKS)


@pytest.mark.parametrize("number", sorted(CHECKS))
def test_each_documented_query_answers_its_question(
    published: Path, tables: dict[str, pd.DataFrame], number: int
) -> None:
    question, sql = documented_questions()[number]
    found = answer(published, sql)
    assert len(found), question
    CHECKS[number](found, tables)


# --- Parquet and CSV copies ----------------------------------------------------------------------


def published_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return con.execute(
        "select column_name, data_type from duckdb_columns() "
        "where database_name = 'published' and table_name = ? order by column_index",
        [table],
    ).fetchall()


def assert_equal_cell_for_cell(analytics: Path, folder: Path, file_format: str) -> None:
    """Every published table has a file in `folder` holding exactly its rows and columns."""
    with duckdb.connect() as con:
        con.execute(f"attach {quote_literal(str(analytics))} as published (read_only)")
        tables = [
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() where database_name = 'published'"
            ).fetchall()
        ]
        assert sorted(path.stem for path in folder.iterdir()) == sorted(tables)
        for table in tables:
            columns = published_columns(con, table)
            path = quote_literal(str(folder / f"{table}.{file_format}"))
            if file_format == "parquet":
                exported = f"read_parquet({path})"
                assert con.execute(f"describe select * from {exported}").fetchall() == [
                    (name, data_type, "YES", None, None, None) for name, data_type in columns
                ], table
            else:
                types = ", ".join(f"{quote_literal(n)}: {quote_literal(t)}" for n, t in columns)
                exported = (
                    f"read_csv({path}, header = true, columns = {{{types}}}, "
                    "allow_quoted_nulls = false)"
                )
                with (folder / f"{table}.csv").open(encoding="utf-8", newline="") as handle:
                    assert next(csv.reader(handle)) == [name for name, _ in columns], table
            [(rows,)] = con.execute(f"select count(*) from published.{table}").fetchall()
            assert con.execute(f"select count(*) from {exported}").fetchall() == [(rows,)]
            for left, right in ((f"published.{table}", exported), (exported, f"published.{table}")):
                missing = con.execute(
                    f"select count(*) from (select * from {left} except all select * from {right})"
                ).fetchall()
                assert missing == [(0,)], table


@pytest.mark.parametrize("file_format", EXPORT_FORMATS)
def test_each_release_carries_the_published_tables_as_parquet_and_csv(
    published: Path, settings: Settings, file_format: str
) -> None:
    assert settings.tables_dir.resolve().parent == published.resolve().parent
    assert_equal_cell_for_cell(published, settings.tables_dir / file_format, file_format)


def test_suppressed_cells_are_empty_in_the_csv_copy(settings: Settings) -> None:
    with (settings.tables_dir / "csv" / "team_indicators.csv").open(
        encoding="utf-8", newline=""
    ) as handle:
        rows = list(csv.DictReader(handle))
    suppressed = [row for row in rows if row["suppressed"] == "true"]
    assert suppressed and len(suppressed) < len(rows)
    numbers = ("n", "value", "value_rounded", "ci_low", "ci_high", "shrunk_value", "change")
    assert {row[column] for row in suppressed for column in numbers} == {""}
    assert all(row["team_name"] for row in suppressed)


HOLD_OPEN = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "read-only")
    print(con.execute("select count(*) from duckdb_tables()").fetchall()[0][0], flush=True)
    sys.stdin.readline()
    """
)


@contextmanager
def held_open(path: Path, mode: str) -> Iterator[None]:
    """`path` held open by another process, read-only or for writing, until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_OPEN, str(path), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert int(holder.stdout.readline()) > 0
        yield
        holder.communicate("done\n", timeout=60)
    finally:
        holder.kill()


@pytest.mark.parametrize("file_format", EXPORT_FORMATS)
def test_export_tables_writes_while_a_reader_holds_the_file_and_never_reads_the_warehouse(
    published: Path,
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    file_format: str,
) -> None:
    out = tmp_path / "for-bi"
    config = settings.paths.out.parent / "resilience.toml"
    # An analyst holds the published file open, and a run holds the warehouse (which locks it).
    with held_open(published, "read-only"), held_open(settings.warehouse_path, "read-write"):
        code = main(
            ["export-tables", "--config", str(config), "--format", file_format, "--out", str(out)]
        )
    assert code == 0
    written = capsys.readouterr().out.split()
    assert sorted(written) == sorted(str(path) for path in out.iterdir())
    assert_equal_cell_for_cell(published, out, file_format)


EXPORT_ALONE = textwrap.dedent(
    """
    import sys
    from resilience.cli import main
    code = main(["export-tables", "--config", sys.argv[1]])
    heavy = sorted({"prefect", "great_expectations"} & set(sys.modules))
    sys.exit(code or (f"imported {heavy}" if heavy else 0))
    """
)


def test_export_tables_defaults_to_parquet_beside_the_output_without_the_pipeline(
    published: Path, settings: Settings
) -> None:
    config = settings.paths.out.parent / "resilience.toml"
    subprocess.run([sys.executable, "-c", EXPORT_ALONE, str(config)], check=True, cwd=PROJECT_ROOT)
    folder = settings.paths.out / "exported-tables" / "parquet"
    assert_equal_cell_for_cell(published, folder, "parquet")


def test_export_tables_explains_what_stops_it(
    tmp_path: Path, published: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothing is published at .*run 'resilience run'"):
        export_tables(tmp_path / "analytics.duckdb", tmp_path / "out", "csv")
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(published.read_bytes())
    with held_open(copy, "read-write"), pytest.raises(RuntimeError, match="open it read-only"):
        export_tables(copy, tmp_path / "out", "csv")
