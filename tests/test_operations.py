"""Operations without a whole run: the schedule's settings, the run lock, exports still being
copied, run records, the release layout that readers see, and the command line's contract."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import duckdb
import pydantic
import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint
from prefect.states import Completed, Failed

from flows.nightly import exports_not_ready, ingest
from resilience import cli, pipeline
from resilience.instruments import Registry
from resilience.settings import DEFAULT_CONFIG, PROJECT_ROOT, Settings, load_settings
from resilience.sqlfiles import read_sql
from resilience.status import (
    ExportsNotReady,
    RunInProgress,
    hold_run_lock,
    one_line,
    read_status,
    shared_run_lock,
)
from resilience.warehouse import (
    current_release,
    ensure_schema,
    open_warehouse,
    publish_release,
    tables_fingerprint,
)
from tests.conftest import make_project

LONG_AGO = time.time() - 3600


def environment_without_prefect() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")}


# --- the schedule -------------------------------------------------------------------------------


def test_prefect_yaml_default_deployment_matches_the_configured_schedule() -> None:
    project = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    schedule = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))["schedule"]
    [default] = [d for d in project["deployments"] if d["name"] == schedule["deployment"]]
    assert default["schedules"] == [{"cron": schedule["cron"], "timezone": schedule["timezone"]}]
    assert default["parameters"] == {"config": DEFAULT_CONFIG.name}
    assert default["work_pool"]["name"] == "staff-resilience"
    path, function = default["entrypoint"].split(":")
    assert load_flow_from_entrypoint(f"{PROJECT_ROOT / path}:{function}").name == "nightly"


def test_default_schedule_is_two_in_the_morning_in_an_explicit_zone() -> None:
    schedule = load_settings().schedule
    assert (schedule.cron, schedule.timezone) == ("0 2 * * *", "UTC")


@pytest.mark.parametrize(
    ("section", "reason"),
    [
        ('timezone = "Mars/Olympus_Mons"', "schedule.timezone: Value error, unknown time zone"),
        ('deployment = "north site"', "schedule.deployment: String should match pattern"),
        ("settle_seconds = -1", "schedule.settle_seconds: Input should be greater than"),
    ],
)
def test_a_bad_schedule_is_refused_with_a_one_line_reason(
    tmp_path: Path, section: str, reason: str
) -> None:
    config = make_project(tmp_path)
    config.write_text(config.read_text() + f"[schedule]\n{section}\n", encoding="utf-8")
    with pytest.raises(pydantic.ValidationError) as refused:
        load_settings(config)
    assert one_line(refused.value).startswith(f"invalid setting {reason}")
    assert cli.exit_code_for(refused.value) == cli.EXIT_USAGE


# --- exports still being copied, and an exports folder that is not there --------------------------


def write_export(path: Path, text: str = "a,b\n1,2\n", modified: float | None = LONG_AGO) -> Path:
    path.write_text(text, encoding="utf-8")
    if modified is not None:
        os.utime(path, (modified, modified))
    return path


def keep_appending(path: Path, seconds: float) -> threading.Thread:
    def append() -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with path.open("a", encoding="utf-8") as handle:
                handle.write("3,4\n")
            time.sleep(0.05)

    writer = threading.Thread(target=append)
    writer.start()
    return writer


def test_old_exports_are_read_without_waiting(tmp_path: Path) -> None:
    exports = [write_export(tmp_path / f"{n}.csv") for n in range(3)]
    started = time.monotonic()
    assert pipeline.settled_exports(exports, settle_seconds=5) == (exports, [])
    assert time.monotonic() - started < 1


def test_a_fresh_complete_export_is_watched_then_read(tmp_path: Path) -> None:
    fresh = write_export(tmp_path / "fresh.csv", modified=None)
    started = time.monotonic()
    assert pipeline.settled_exports([fresh], settle_seconds=1) == ([fresh], [])
    assert 0.5 < time.monotonic() - started < 3


def test_an_export_still_growing_is_left_for_the_next_run(tmp_path: Path) -> None:
    settled = write_export(tmp_path / "a.csv")
    growing = write_export(tmp_path / "b.csv", modified=None)
    writer = keep_appending(growing, seconds=2)
    try:
        assert pipeline.settled_exports([settled, growing], settle_seconds=1) == (
            [settled],
            [growing],
        )
    finally:
        writer.join()


def test_ingest_reports_a_growing_export_as_waiting_and_load_does_not_record_it(
    tmp_path: Path, registry: Registry
) -> None:
    config = make_project(tmp_path)
    config.write_text(config.read_text() + "[schedule]\nsettle_seconds = 1\n", encoding="utf-8")
    settings = load_settings(config)
    exports = sorted(settings.paths.exports.glob("*.csv"))
    for path in exports[1:]:
        path.unlink()
    growing = settings.paths.exports / "staff_survey_late.csv"
    growing.write_bytes(exports[0].read_bytes()[:5000])
    writer = keep_appending(growing, seconds=2.5)
    try:
        with pipeline.recorded_run(settings, registry) as report:
            report = pipeline.ingest_exports(settings, report, registry)
    finally:
        writer.join()
    statuses = {f.file_name: (f.status, f.reason) for f in report.files}
    assert statuses == {
        exports[0].name: ("staged", None),
        growing.name: ("waiting", f"{growing.name}: still being written"),
    }
    report = pipeline.validate(settings, report, registry)
    report = pipeline.load(settings, report)
    with open_warehouse(settings.warehouse_path) as con:
        recorded = con.execute("select file_name, status from raw_files").fetchall()
    assert recorded == [(exports[0].name, "loaded")]


def test_a_missing_exports_folder_is_not_ready_and_only_that_is_retried(
    tmp_path: Path, registry: Registry
) -> None:
    settings = load_settings(make_project(tmp_path), exports=tmp_path / "share-not-mounted")
    report = pipeline.new_run()
    with pytest.raises(ExportsNotReady, match="exports folder not found") as not_ready:
        pipeline.ingest_exports(settings, report, registry)
    assert exports_not_ready(ingest, None, Failed(data=not_ready.value))
    assert not exports_not_ready(ingest, None, Failed(data=ValueError("bad mapping")))
    assert not exports_not_ready(ingest, None, Completed(data=report))
    assert (ingest.retries, ingest.retry_delay_seconds) == (3, [2, 5, 15])
    assert cli.exit_code_for(not_ready.value) == cli.EXIT_NOT_READY


# --- the run lock ---------------------------------------------------------------------------------


def test_a_second_run_is_refused_while_the_first_holds_the_output_folder(tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    with hold_run_lock(lock, "first-run"):
        with (
            pytest.raises(RunInProgress, match=r"run first-run .* is in progress") as refused,
            hold_run_lock(lock, "second-run", wait_seconds=0.3),
        ):
            pass
        with shared_run_lock(lock) as holder:
            assert holder is not None and holder.run_id == "first-run"
    assert cli.exit_code_for(refused.value) == cli.EXIT_BUSY
    with shared_run_lock(lock) as holder:
        assert holder is None
    with hold_run_lock(lock, "third-run", wait_seconds=0):
        pass


def test_a_run_waits_while_status_reads_then_starts(tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    lock.touch()
    reading = threading.Event()

    def read_for_a_moment() -> None:
        with shared_run_lock(lock):
            reading.set()
            time.sleep(0.6)

    reader = threading.Thread(target=read_for_a_moment)
    reader.start()
    reading.wait()
    started = time.monotonic()
    with hold_run_lock(lock, "nightly", wait_seconds=5):
        waited = time.monotonic() - started
    reader.join()
    assert 0.3 < waited < 5


def test_a_killed_run_leaves_no_stale_lock(tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from resilience.status import hold_run_lock\n"
            "with hold_run_lock(Path(sys.argv[1]), 'doomed'):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(60)\n",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunInProgress, match="doomed"), hold_run_lock(lock, "next", 0):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    with hold_run_lock(lock, "next", wait_seconds=0):
        pass


# --- run records ----------------------------------------------------------------------------------


def runs_table(settings: Settings) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(
            "select run_id, outcome, message from runs order by started_at"
        ).fetchall()


def test_a_failed_stage_is_recorded_with_its_reason_and_a_killed_run_as_interrupted(
    tmp_path: Path, registry: Registry
) -> None:
    settings = load_settings(make_project(tmp_path))
    with open_warehouse(settings.warehouse_path) as con:
        ensure_schema(con, registry)
        # What a run killed with SIGKILL leaves: its start, and nothing more.
        con.execute(
            read_sql("runs/start_run.sql"),
            {"run_id": "killed", "started_at": pipeline.new_run().started_at.replace(tzinfo=None)},
        )
    with pytest.raises(FileNotFoundError), pipeline.recorded_run(settings, registry) as report:
        raise FileNotFoundError("roster not found: roster.csv\nsecond line of detail")
    assert runs_table(settings) == [
        ("killed", "interrupted", "ended without a record: the process was killed or lost"),
        (report.run_id, "failed", "roster not found: roster.csv"),
    ]
    with hold_run_lock(settings.run_lock_path, "next", wait_seconds=0):
        pass


def test_the_fingerprint_of_tables_ignores_row_order_and_sees_any_change() -> None:
    with duckdb.connect() as con:
        con.execute("create table t as select * from range(1000) as r(i), (values ('x'), ('y'))")
        before = tables_fingerprint(con, ["t"])
        con.execute("create or replace table t as select * from t order by i desc, col0 desc")
        assert tables_fingerprint(con, ["t"]) == before
        con.execute("insert into t values (5, 'x')")  # one more row, a copy of another
        assert tables_fingerprint(con, ["t"]) != before


# --- the release layout ---------------------------------------------------------------------------


def make_release(settings: Settings, release: str) -> None:
    folder = settings.releases_dir / release
    (folder / "dashboards").mkdir(parents=True)
    (folder / "dashboards" / "index.html").write_text(release, encoding="utf-8")
    with duckdb.connect(str(folder / "analytics.duckdb")) as con:
        con.execute("create table team_indicators as select ? as release", [release])


def what_readers_see(settings: Settings) -> tuple[str, str]:
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        [(release,)] = con.execute("select release from team_indicators").fetchall()
    return release, (settings.dashboards_dir / "index.html").read_text(encoding="utf-8")


def test_publishing_switches_analytics_and_dashboards_together_and_keeps_one_previous(
    tmp_path: Path,
) -> None:
    settings = load_settings(make_project(tmp_path))
    make_release(settings, "first")
    publish_release(settings, "first")
    assert what_readers_see(settings) == ("first", "first")
    assert os.readlink(settings.analytics_path) == "current/analytics.duckdb"
    assert os.readlink(settings.dashboards_dir) == "current/dashboards"
    make_release(settings, "second")
    publish_release(settings, "second")
    assert what_readers_see(settings) == ("second", "second")
    assert current_release(settings) == "second"
    assert os.readlink(settings.paths.out / "previous") == "releases/first"
    make_release(settings, "killed-before-publishing")
    make_release(settings, "third")
    publish_release(settings, "third")
    assert what_readers_see(settings) == ("third", "third")
    assert sorted(p.name for p in settings.releases_dir.iterdir()) == ["second", "third"]


def test_an_output_folder_from_before_releases_is_taken_over(tmp_path: Path) -> None:
    settings = load_settings(make_project(tmp_path))
    settings.dashboards_dir.mkdir(parents=True)
    (settings.dashboards_dir / "index.html").write_text("old layout", encoding="utf-8")
    with duckdb.connect(str(settings.analytics_path)) as con:
        con.execute("create table team_indicators as select 'old layout' as release")
    make_release(settings, "first")
    publish_release(settings, "first")
    assert what_readers_see(settings) == ("first", "first")
    assert settings.analytics_path.is_symlink() and settings.dashboards_dir.is_symlink()
    assert not settings.dashboards_dir.with_name("dashboards.old").exists()


# --- the command line -----------------------------------------------------------------------------


def subcommands() -> dict[str, object]:
    [action] = [a for a in cli.build_parser()._actions if a.dest == "command"]
    return action.choices


def test_every_command_is_documented_in_help_and_in_the_operations_guide() -> None:
    guide = (PROJECT_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    top_help = cli.build_parser().format_help()
    for name, parser in subcommands().items():
        assert parser.description, name
        assert re.search(rf"^\s+{name}\s", top_help, re.MULTILINE), name
    for name in ("run", "schedule", "status"):
        assert f"resilience {name}" in guide, name
    for code in (cli.EXIT_OK, cli.EXIT_FAILED, cli.EXIT_USAGE, cli.EXIT_BUSY, cli.EXIT_NOT_READY):
        assert re.search(rf"^\s+{code}\s+\w", top_help, re.MULTILINE)
        assert re.search(rf"^\| `?{code}`? \|", guide, re.MULTILINE), code


def test_status_reports_a_run_in_progress_without_opening_the_warehouse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_project(tmp_path)
    settings = load_settings(config)
    settings.paths.out.mkdir()
    with hold_run_lock(settings.run_lock_path, "nightly-now"):
        status = read_status(settings)
        code = cli.main(["status", "--config", str(config)])
    assert status.running is not None and status.running.run_id == "nightly-now"
    assert status.runs == [] and "in progress" in status.runs_unavailable
    assert not settings.warehouse_path.exists()
    printed = capsys.readouterr().out
    assert "Run in progress: nightly-now" in printed
    assert "Published: nothing" in printed
    assert code == cli.EXIT_FAILED  # nothing is published yet


def test_schedule_needs_a_prefect_server_and_says_so_in_one_line(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "resilience", "schedule", "--config", str(make_project(tmp_path))],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment_without_prefect(),
    )
    assert completed.returncode == cli.EXIT_USAGE
    assert (
        completed.stderr.strip()
        .splitlines()[-1]
        .startswith("resilience schedule: failed: no Prefect server")
    )


def test_the_warehouse_memory_limit_reaches_duckdb(
    project_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESILIENCE_WAREHOUSE__MEMORY_LIMIT", "300MB")
    limited = load_settings(project_settings.paths.exports.parent.parent / "resilience.toml")
    assert limited.warehouse.memory_limit == "300MB"
    with open_warehouse(limited.warehouse_path, limited.warehouse.duckdb_config()) as con:
        [(limit,)] = con.execute("select current_setting('memory_limit')").fetchall()
    assert limit.replace(" ", "") == "286.1MiB"  # 300 MB, as DuckDB prints it

    with pytest.raises(pydantic.ValidationError, match="memory_limit"):
        Settings(warehouse={"memory_limit": "a lot"})
