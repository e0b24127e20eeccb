"""The pipeline's stages on the committed sample, without Prefect: counts, idempotence, privacy."""

from __future__ import annotations

import csv
import itertools
import json
import re
import threading
from pathlib import Path

import duckdb
import pytest

from resilience import pipeline
from resilience.instruments import Registry
from resilience.settings import Settings, load_settings
from tests.conftest import SAMPLE_DIR, make_project, run_stages

# Values distinctive enough to search for as bytes anywhere in the output.
DISTINCTIVE_COLUMNS = (
    "IPAddress",
    "RecipientEmail",
    "ExternalReference",
    "LocationLatitude",
    "LocationLongitude",
    "ResponseId",
    "Q11",
)
# Names are ordinary words ("Wilson" also names a statistical interval): they are searched for as
# whole values in every table and as quoted strings in every page.
NAME_COLUMNS = ("RecipientLastName", "RecipientFirstName")
TOKEN = re.compile(r"[\w.@+:-]{4,}")


def published(settings: Settings, query: str) -> list[tuple]:
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        return con.execute(query).fetchall()


def export_values(exports: Path, columns: tuple[str, ...]) -> set[str]:
    """Every non-empty value of `columns` in the sample exports."""
    values: set[str] = set()
    for path in sorted(exports.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        header, data = rows[0], rows[3:]
        for column in columns:
            position = header.index(column)
            values.update(row[position] for row in data if row[position].strip())
    return values


@pytest.fixture(scope="module")
def project_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(make_project(tmp_path_factory.mktemp("project")))


@pytest.fixture(scope="module")
def first_run(project_settings: Settings, registry: Registry) -> pipeline.RunReport:
    return run_stages(project_settings, registry)


def test_every_row_read_is_accounted_for(first_run: pipeline.RunReport) -> None:
    truth = json.loads((SAMPLE_DIR / "sample.json").read_text())
    read = first_run.total("rows_read")
    assert read == sum(int(count) for count in truth["rows_by_status"].values())
    assert read == (
        first_run.total("rows_loaded")
        + first_run.total("rows_already_loaded")
        + first_run.total("rows_repeated")
        + first_run.total("rows_quarantined")
        + first_run.total("rows_dropped_status")
    )
    assert first_run.total("rows_loaded") == truth["responses"]
    assert first_run.total("rows_already_loaded") == 0
    assert first_run.total("rows_repeated") == truth["duplicate_rows"]


def test_second_run_on_the_same_files_changes_nothing(
    first_run: pipeline.RunReport, project_settings: Settings, registry: Registry
) -> None:
    query = "select * from team_indicators order by wave, team_id, indicator"
    before = published(project_settings, query)
    second = run_stages(project_settings, registry)
    assert {f.status for f in second.files} == {"skipped"}
    assert second.total("rows_loaded") == 0
    assert published(project_settings, query) == before
    with duckdb.connect(str(project_settings.warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from raw_responses").fetchall() == [
            (first_run.total("rows_loaded"),)
        ]


def test_team_indicators_grain_and_suppression(
    first_run: pipeline.RunReport, project_settings: Settings
) -> None:
    [(rows, keys)] = published(
        project_settings,
        "select count(*), count(distinct (wave, team_id, indicator)) from team_indicators",
    )
    assert rows == keys > 0
    assert published(
        project_settings,
        "select count(*) from team_indicators "
        "where (not suppressed and n < 5) or (suppressed and (value is not null or n is not null))",
    ) == [(0,)]
    truth = json.loads((SAMPLE_DIR / "sample.json").read_text())
    small = sorted(truth["small_teams"])
    suppressed = published(
        project_settings,
        "select distinct team_id from team_indicators where suppressed order by team_id",
    )
    assert set(small) <= {team for (team,) in suppressed}
    shares = published(
        project_settings,
        "select min(value), max(value) from team_indicators where indicator like '%_share_%'",
    )
    assert shares[0][0] >= 0 and shares[0][1] <= 1


def leaked_values(folder: Path, distinctive: set[str], names: set[str]) -> list[tuple[str, str]]:
    """Identifying values found in any file below `folder`: as text in every file, and as whole
    values in every text column of every DuckDB and Parquet file (whose storage is compressed)."""
    single_tokens = {v for v in distinctive if TOKEN.fullmatch(v)}
    phrases = distinctive - single_tokens
    files = [path for path in sorted(folder.rglob("*")) if path.is_file()]
    found = []
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        found += [(path.name, v) for v in single_tokens & set(TOKEN.findall(text))]
        found += [(path.name, v) for v in phrases if v in text]
        if path.suffix in (".html", ".csv"):
            found += [(path.name, v) for v in names if f",{v}," in text or f'"{v}"' in text]
    with duckdb.connect() as con:
        con.execute("create table secret_values (secret varchar)")
        con.executemany("insert into secret_values values (?)", [[v] for v in names | distinctive])
        relations = []
        for number, path in enumerate(p for p in files if p.suffix in (".duckdb", ".parquet")):
            if path.suffix == ".duckdb":
                con.execute(f"attach '{path}' as db{number} (read_only)")
                relations += [
                    (f"db{number}.{table}", f"{path.name}:{table}")
                    for (table,) in con.execute(
                        "select table_name from duckdb_tables() where database_name = ?",
                        [f"db{number}"],
                    ).fetchall()
                ]
            else:
                relations.append((f"read_parquet('{path}')", path.name))
        for relation, label in relations:
            columns = con.execute(f"describe select * from {relation}").fetchall()
            for column, data_type, *_ in columns:
                if data_type != "VARCHAR":
                    continue
                hits = con.execute(
                    f'select distinct "{column}" from {relation} '
                    f'semi join secret_values on secret_values.secret = "{column}"'
                ).fetchall()
                found += [(f"{label}.{column}", v) for (v,) in hits]
    return found


def test_no_identifying_value_reaches_the_output_folder(
    first_run: pipeline.RunReport, project_settings: Settings
) -> None:
    distinctive = export_values(project_settings.paths.exports, DISTINCTIVE_COLUMNS)
    names = export_values(project_settings.paths.exports, NAME_COLUMNS)
    assert len(distinctive) > 1000 and len(names) > 50
    # The search does find them where they are: in the exports themselves.
    assert len(leaked_values(project_settings.paths.exports, distinctive, names)) > 1000
    assert leaked_values(project_settings.paths.out, distinctive, names) == []


def warehouse_rows(settings: Settings, query: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(query).fetchall()


def test_transform_rebuilds_only_when_what_the_models_read_changes(
    first_run: pipeline.RunReport, project_settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    suppressed = "select count(*) filter (where suppressed) from team_indicators"
    suppressed_at_5 = warehouse_rows(project_settings, suppressed)[0][0]
    assert pipeline.transform(project_settings, registry) == []

    # The roster is read by content: the same bytes elsewhere change nothing, one headcount does.
    roster = project_settings.paths.roster.read_text(encoding="utf-8")
    same_roster = tmp_path / "same.csv"
    same_roster.write_text(roster, encoding="utf-8")
    moved = project_settings.model_copy(
        update={"paths": project_settings.paths.model_copy(update={"roster": same_roster})}
    )
    assert pipeline.transform(moved, registry) == []
    same_roster.write_text(roster.replace(",37\n", ",38\n", 1), encoding="utf-8")
    assert "response_rates" in pipeline.transform(moved, registry)
    assert "response_rates" in pipeline.transform(project_settings, registry)

    stricter = project_settings.model_copy(
        update={"privacy": project_settings.privacy.model_copy(update={"min_group_size": 9})}
    )
    assert "team_indicators" in pipeline.transform(stricter, registry)
    assert warehouse_rows(stricter, suppressed)[0][0] > suppressed_at_5
    assert pipeline.transform(stricter, registry) == []

    assert "team_indicators" in pipeline.transform(project_settings, registry)
    assert warehouse_rows(project_settings, suppressed)[0][0] == suppressed_at_5


def test_exports_are_archived_side_by_side(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With two DuckDB threads, two exports are archived at the same time: each of the first two
    archives waits here until the other has started, which never happens when files are archived
    one after another. Every file is still staged whole."""
    with duckdb.connect() as con:
        [(threads,)] = con.execute("select current_setting('threads')").fetchall()
    if threads < 2:
        pytest.skip("DuckDB has one thread on this machine: exports are archived one at a time")
    settings = load_settings(make_project(tmp_path))
    both_started = threading.Barrier(2, timeout=20)
    calls = itertools.count()
    archive_export = pipeline.archive_export

    def archive_beside_another(*arguments: object) -> None:
        if next(calls) < 2:
            both_started.wait()
        archive_export(*arguments)

    monkeypatch.setattr(pipeline, "archive_export", archive_beside_another)
    report = pipeline.ingest_exports(settings, pipeline.new_run(), registry)

    assert [f.status for f in report.files] == ["staged"] * len(report.files)
    assert len(report.files) == len(list((SAMPLE_DIR / "exports").glob("*.csv"))) >= 3
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        staged = dict(
            con.execute("select file_sha256, count(*) from ingest_batch group by all").fetchall()
        )
    assert staged == {
        f.file_sha256: f.rows_read - f.rows_dropped_status - f.rows_already_loaded
        for f in report.files
    }
    assert all(count > 0 for count in staged.values())


def test_a_new_release_keeps_the_team_pages_whose_data_did_not_change(
    first_run: pipeline.RunReport, project_settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    def team_pages(settings: Settings) -> dict[str, int]:
        return {page.name: page.stat().st_ino for page in settings.dashboards_dir.glob("teams/*")}

    before = team_pages(project_settings)
    # The last team: actions are numbered in order of team, so the sample's own keep their ids.
    team_id = sorted(before)[-1].removesuffix(".html")
    # An action of one team added to the log changes that team's page (and the leadership page)
    # alone.
    log = tmp_path / "actions.csv"
    log.write_text(
        project_settings.paths.actions.read_text(encoding="utf-8")
        + f"{team_id},2025-07-01,Supervision started,\n",
        encoding="utf-8",
    )
    with_log = project_settings.model_copy(
        update={"paths": project_settings.paths.model_copy(update={"actions": log})}
    )

    report = run_stages(with_log, registry)

    assert not report.release_unchanged
    after = team_pages(with_log)
    assert after.keys() == before.keys()
    assert {page for page in before if after[page] != before[page]} == {f"{team_id}.html"}
    page = with_log.dashboards_dir / "teams" / f"{team_id}.html"
    assert "Supervision started" in page.read_text(encoding="utf-8")
