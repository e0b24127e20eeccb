"""`python -m benchmarks`: the nightly pipeline on N generated responses, stage by stage, against
DuckDB's own floor (reading the same CSVs, scoring ProQOL and grouping by team in bare SQL).

Prints per-stage wall time and peak RSS as a table and as JSON, then a re-run with no new
exports, and a cumulative export that adds 1% new responses. Prefect's start-up is measured on
its own, since the stages run here as the plain functions the flow's tasks wrap.

Also runs the archive floor (`floor_archive.sql`): bare DuckDB doing only what every run must do
besides answering the question, keeping each export as read minus its identifying columns and
writing the responses to a DuckDB file. The pipeline is compared with both floors together, and
the cumulative export with the archive floor of its one file, the least it can cost.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import string
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

import duckdb

from benchmarks.measure import Measurement, measured
from resilience import pipeline
from resilience.instruments import load_registry
from resilience.sample import generate_sample
from resilience.settings import Settings, load_settings

FLOOR_SQL = Path(__file__).with_name("floor.sql")
ARCHIVE_FLOOR_SQL = Path(__file__).with_name("floor_archive.sql")
FLOOR_READ_SQL = Path(__file__).with_name("floor_read.sql")
WAREHOUSE_WRITE = "warehouse write"
# Wide enough for "archive floor: " and an export's name.
LABEL = 44
# Which floor statements a pipeline stage is compared with.
FLOOR_STAGE_OF = {"ingest": "read", "transform": "score+group"}
ARCHIVING = "archiving"
# Which work of the archive floor a pipeline stage is compared with: archiving every export, or
# writing the responses to the DuckDB file.
ARCHIVE_FLOOR_STAGE_OF = {"ingest": ARCHIVING, "load": WAREHOUSE_WRITE}


def write_config(work: Path, memory_limit: str | None = None) -> Path:
    config = work / "resilience.toml"
    config.write_text(
        '[paths]\nexports = "inputs/exports"\nroster = "inputs/roster.csv"\n'
        'mappings = "inputs/mappings"\nout = "build"\nstate = "state"\n'
        '[privacy]\nsalt = "benchmark-salt"\n'
        # The generated exports are complete: no need to watch them for still being written.
        "[schedule]\nsettle_seconds = 0\n"
        + (f'[warehouse]\nmemory_limit = "{memory_limit}"\n' if memory_limit else ""),
        encoding="utf-8",
    )
    return config


def run_pipeline(settings: Settings) -> tuple[list[Measurement], pipeline.RunReport]:
    """One run as the nightly flow makes it (recorded, so that the next run can keep an unchanged
    release), each stage timed."""
    registry = load_registry()
    stages = []
    with pipeline.recorded_run(settings, registry) as report:
        with measured("ingest") as stage:
            report = pipeline.ingest_exports(settings, report, registry)
        stages.append(stage)
        with measured("validate") as stage:
            report = pipeline.validate(settings, report, registry)
        stages.append(stage)
        with measured("load") as stage:
            report = pipeline.load(settings, report)
        stages.append(stage)
        with measured("transform") as stage:
            pipeline.transform(settings, registry)
        stages.append(stage)
        with measured("render") as stage:
            report = pipeline.render(settings, report)
        stages.append(stage)
        with measured("publish") as stage:
            report = pipeline.publish(settings, report)
        stages.append(stage)
    return stages, report


def define_export_reader(con: duckdb.DuckDBPyConnection, exports: Path) -> None:
    """Create the floors' `export_rows(path)` (floor_read.sql) for the exports' columns."""
    header = next(csv.reader(next(iter(sorted(exports.glob("*.csv")))).open(encoding="utf-8")))
    columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in header) + "}"
    con.execute(string.Template(FLOOR_READ_SQL.read_text()).substitute(columns=columns))


def run_floor(exports: Path) -> list[Measurement]:
    statements = [s.strip() for s in FLOOR_SQL.read_text().split(";") if s.strip()]
    names = ["read", "score", "group"]
    results = []
    with duckdb.connect() as con:
        define_export_reader(con, exports)
        con.execute("set variable exports_glob = ?", [str(exports / "*.csv")])
        for name, statement in zip(names, statements, strict=True):
            with measured(name) as step:
                con.execute(statement)
            results.append(step)
    score, group = results[1], results[2]
    combined = Measurement(
        "score+group",
        score.seconds + group.seconds,
        max(score.peak_rss_bytes, group.peak_rss_bytes),
    )
    return [results[0], combined]


def run_archive_floor(exports: Path, scratch: Path) -> list[Measurement]:
    """The archive floor (`floor_archive.sql`): each export archived minus its identifying columns,
    one measurement per export, then every response written to a DuckDB file."""
    archive_dir, warehouse = scratch / "archive", scratch / "warehouse.duckdb"
    archive_dir.mkdir(parents=True)
    archive_statement, warehouse_statement = [
        statement.strip() for statement in ARCHIVE_FLOOR_SQL.read_text().split(";")[:2]
    ]
    results = []
    with duckdb.connect() as con:
        define_export_reader(con, exports)
        for export in sorted(exports.glob("*.csv")):
            statement = string.Template(archive_statement).substitute(
                salt="benchmark-salt",
                export_path=export,
                archive_path=archive_dir / f"{export.stem}.parquet",
            )
            with measured(export.name) as step:
                con.execute(statement)
            results.append(step)
        with measured(WAREHOUSE_WRITE) as step:
            con.execute(f"attach '{warehouse}' as warehouse")
            con.execute(
                string.Template(warehouse_statement).substitute(
                    archive_glob=archive_dir / "*.parquet"
                )
            )
            con.execute("detach warehouse")
        results.append(step)
    return results


def prefect_startup_seconds(settings: Settings) -> float:
    """Importing Prefect, starting its ephemeral server and running an empty flow, in a fresh
    process, as the nightly run pays once per night."""
    code = (
        "import time; t = time.perf_counter()\n"
        "from prefect import flow\n"
        "@flow\ndef empty(): return 1\n"
        "empty(); print(time.perf_counter() - t)\n"
    )
    env = {
        **os.environ,
        "PREFECT_HOME": str(settings.prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "60",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return float(output.stdout.strip().splitlines()[-1])


def hold_back_newest_rows(export: Path, share: float) -> Path:
    """Rewrite `export` without its last `share` of responses (yesterday's cumulative export);
    return where the full file (tonight's) was kept."""
    tonight = export.with_suffix(".tonight")
    export.rename(tonight)
    with tonight.open(encoding="utf-8", newline="") as source:
        records = list(csv.reader(source))
    header, data = records[:3], records[3:]
    keep = len(data) - max(1, int(len(data) * share))
    with export.open("w", encoding="utf-8", newline="") as target:
        csv.writer(target, lineterminator="\n").writerows(header + data[:keep])
    return tonight


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--teams", type=int, default=500)
    parser.add_argument("--waves", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--memory-limit",
        help="the warehouse's DuckDB memory limit (warehouse.memory_limit), such as 1.5GB",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    arguments = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="resilience-bench-"))
    try:
        with measured("generate") as generation:
            generate_sample(
                work / "inputs",
                responses=arguments.responses,
                teams=arguments.teams,
                waves=arguments.waves,
                seed=arguments.seed,
            )
        settings = load_settings(write_config(work, arguments.memory_limit))
        newest_export = sorted(settings.paths.exports.glob("*.csv"))[-1]
        tonight = hold_back_newest_rows(newest_export, share=0.01)

        stages, report = run_pipeline(settings)
        floor = run_floor(settings.paths.exports)
        with measured("rerun, no new exports") as rerun:
            run_pipeline(settings)
        tonight.replace(newest_export)
        # Written tonight: newer than yesterday's download of the survey, which it replaces.
        os.utime(newest_export)
        with measured("cumulative export, +1% responses") as incremental:
            incremental_stages, incremental_report = run_pipeline(settings)
        # On tonight's exports: the newest one's archive is the least its +1% run can cost.
        archive_floor = run_archive_floor(settings.paths.exports, work / "archive-floor")
        startup = prefect_startup_seconds(settings)
        leadership = settings.dashboards_dir / "leadership.html"

        total = sum(stage.seconds for stage in stages)
        floor_total = sum(step.seconds for step in floor)
        floor_by_name = {step.name: step for step in floor}
        archive_floor_total = sum(step.seconds for step in archive_floor)
        archive_floor_seconds = {
            ARCHIVING: sum(step.seconds for step in archive_floor if step.name != WAREHOUSE_WRITE),
            WAREHOUSE_WRITE: next(
                step.seconds for step in archive_floor if step.name == WAREHOUSE_WRITE
            ),
        }
        newest_export_archive = next(
            step for step in archive_floor if step.name == newest_export.name
        )
        results = {
            "responses": arguments.responses,
            "teams": arguments.teams,
            "waves": arguments.waves,
            "memory_limit": arguments.memory_limit,
            "generate_seconds": generation.seconds,
            "stages": [
                {
                    **asdict(stage),
                    "floor_stage": FLOOR_STAGE_OF.get(stage.name),
                    "ratio_to_floor": (
                        stage.seconds / floor_by_name[FLOOR_STAGE_OF[stage.name]].seconds
                        if stage.name in FLOOR_STAGE_OF
                        else None
                    ),
                    "archive_floor_stage": ARCHIVE_FLOOR_STAGE_OF.get(stage.name),
                    "ratio_to_archive_floor": (
                        stage.seconds / archive_floor_seconds[ARCHIVE_FLOOR_STAGE_OF[stage.name]]
                        if stage.name in ARCHIVE_FLOOR_STAGE_OF
                        else None
                    ),
                }
                for stage in stages
            ],
            "total_seconds": total,
            "peak_rss_bytes": max(stage.peak_rss_bytes for stage in stages),
            "floor": [asdict(step) for step in floor],
            "floor_total_seconds": floor_total,
            "ratio_to_floor": total / floor_total,
            "archive_floor": [asdict(step) for step in archive_floor],
            "archive_floor_total_seconds": archive_floor_total,
            "ratio_to_floor_with_archive": total / (floor_total + archive_floor_total),
            "rerun_seconds": rerun.seconds,
            "incremental_seconds": incremental.seconds,
            "incremental_share_of_full_run": incremental.seconds / total,
            "incremental_archive_floor_seconds": newest_export_archive.seconds,
            "incremental_archive_floor_share_of_full_run": newest_export_archive.seconds / total,
            "incremental_stages": [asdict(stage) for stage in incremental_stages],
            "incremental_responses_loaded": incremental_report.total("rows_loaded"),
            "prefect_startup_seconds": startup,
            "leadership_page_bytes": leadership.stat().st_size,
            "responses_loaded": report.total("rows_loaded"),
        }
        print_table(results)
        print(json.dumps(results, indent=2))
        if arguments.json:
            arguments.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    finally:
        if arguments.keep:
            print(f"scratch folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def print_table(results: dict) -> None:
    print(
        f"\n{results['responses']:,} responses, {results['teams']} teams, {results['waves']} waves"
        + (f", DuckDB memory limit {limit}" if (limit := results["memory_limit"]) else "")
    )
    print(
        f"{'stage':<{LABEL}}{'seconds':>9}{'peak RSS MiB':>14}{'x floor':>9}{'x archive floor':>17}"
    )
    for stage in results["stages"]:
        ratios = (stage["ratio_to_floor"], stage["ratio_to_archive_floor"])
        shown = ["" if ratio is None else f"{ratio:.1f}" for ratio in ratios]
        print(
            f"{stage['name']:<{LABEL}}{stage['seconds']:>9.2f}"
            f"{stage['peak_rss_bytes'] / 2**20:>14.0f}{shown[0]:>9}{shown[1]:>17}"
        )
    print(
        f"{'pipeline total':<{LABEL}}{results['total_seconds']:>9.2f}"
        f"{results['peak_rss_bytes'] / 2**20:>14.0f}{results['ratio_to_floor']:>9.1f}"
    )
    for step in results["floor"]:
        print(
            f"{'floor: ' + step['name']:<{LABEL}}{step['seconds']:>9.2f}"
            f"{step['peak_rss_bytes'] / 2**20:>14.0f}"
        )
    print(f"{'floor total':<{LABEL}}{results['floor_total_seconds']:>9.2f}")
    for step in results["archive_floor"]:
        print(
            f"{'archive floor: ' + step['name']:<{LABEL}}{step['seconds']:>9.2f}"
            f"{step['peak_rss_bytes'] / 2**20:>14.0f}"
        )
    print(
        f"{'floor + archive floor':<{LABEL}}"
        f"{results['floor_total_seconds'] + results['archive_floor_total_seconds']:>9.2f}"
    )
    print(
        f"{'pipeline total / (floor + archive floor)':<{LABEL}}{'':>23}"
        f"{results['ratio_to_floor_with_archive']:>9.1f}"
    )
    print(f"{'rerun, no new exports':<{LABEL}}{results['rerun_seconds']:>9.2f}")
    print(
        f"{'cumulative export, +1% responses':<{LABEL}}{results['incremental_seconds']:>9.2f}"
        f"   ({results['incremental_responses_loaded']:,} new,"
        f" {results['incremental_share_of_full_run']:.0%} of the full run)"
    )
    for stage in results["incremental_stages"]:
        print(f"{'  ' + stage['name']:<{LABEL}}{stage['seconds']:>9.2f}")
    print(
        f"{'  archive floor of its export':<{LABEL}}"
        f"{results['incremental_archive_floor_seconds']:>9.2f}"
        f"   ({results['incremental_archive_floor_share_of_full_run']:.1%} of the full run)"
    )
    print(f"{'prefect start-up (separate)':<{LABEL}}{results['prefect_startup_seconds']:>9.2f}")
    print(f"{'leadership.html MB':<{LABEL}}{results['leadership_page_bytes'] / 1e6:>9.2f}\n")


if __name__ == "__main__":
    sys.exit(main())
