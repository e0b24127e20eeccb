"""`python -m benchmarks`: the nightly pipeline on N generated responses, stage by stage, against
DuckDB's own floor (reading the same CSVs, scoring ProQOL and grouping by team in bare SQL).

Prints per-stage wall time and peak RSS as a table and as JSON, then a re-run with no new
exports, and a cumulative export that adds 1% new responses. Prefect's start-up is measured on
its own, since the stages run here as the plain functions the flow's tasks wrap.
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
# Which floor statements a pipeline stage is compared with.
FLOOR_STAGE_OF = {"ingest": "read", "transform": "score+group"}


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


def run_floor(exports: Path) -> list[Measurement]:
    header = next(csv.reader(next(iter(sorted(exports.glob("*.csv")))).open(encoding="utf-8")))
    columns = "{" + ", ".join(f"'{name}': 'VARCHAR'" for name in header) + "}"
    script = string.Template(FLOOR_SQL.read_text()).substitute(columns=columns)
    statements = [s.strip() for s in script.split(";") if s.strip()]
    names = ["read", "score", "group"]
    results = []
    with duckdb.connect() as con:
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
        with measured("cumulative export, +1% responses") as incremental:
            incremental_stages, incremental_report = run_pipeline(settings)
        startup = prefect_startup_seconds(settings)
        leadership = settings.dashboards_dir / "leadership.html"

        total = sum(stage.seconds for stage in stages)
        floor_total = sum(step.seconds for step in floor)
        floor_by_name = {step.name: step for step in floor}
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
                }
                for stage in stages
            ],
            "total_seconds": total,
            "peak_rss_bytes": max(stage.peak_rss_bytes for stage in stages),
            "floor": [asdict(step) for step in floor],
            "floor_total_seconds": floor_total,
            "ratio_to_floor": total / floor_total,
            "rerun_seconds": rerun.seconds,
            "incremental_seconds": incremental.seconds,
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
    print(f"{'stage':<34}{'seconds':>9}{'peak RSS MiB':>14}{'x floor':>9}")
    for stage in results["stages"]:
        ratio = stage["ratio_to_floor"]
        print(
            f"{stage['name']:<34}{stage['seconds']:>9.2f}{stage['peak_rss_bytes'] / 2**20:>14.0f}"
            f"{'' if ratio is None else f'{ratio:.1f}':>9}"
        )
    print(
        f"{'pipeline total':<34}{results['total_seconds']:>9.2f}"
        f"{results['peak_rss_bytes'] / 2**20:>14.0f}{results['ratio_to_floor']:>9.1f}"
    )
    for step in results["floor"]:
        print(
            f"{'floor: ' + step['name']:<34}{step['seconds']:>9.2f}"
            f"{step['peak_rss_bytes'] / 2**20:>14.0f}"
        )
    print(f"{'floor total':<34}{results['floor_total_seconds']:>9.2f}")
    print(f"{'rerun, no new exports':<34}{results['rerun_seconds']:>9.2f}")
    print(
        f"{'cumulative export, +1% responses':<34}{results['incremental_seconds']:>9.2f}"
        f"   ({results['incremental_responses_loaded']:,} new)"
    )
    for stage in results["incremental_stages"]:
        print(f"{'  ' + stage['name']:<34}{stage['seconds']:>9.2f}")
    print(f"{'prefect start-up (separate)':<34}{results['prefect_startup_seconds']:>9.2f}")
    print(f"{'leadership.html MB':<34}{results['leadership_page_bytes'] / 1e6:>9.2f}\n")


if __name__ == "__main__":
    sys.exit(main())
