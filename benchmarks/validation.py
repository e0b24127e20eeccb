"""`python -m benchmarks.validation --responses N`: how long validation takes next to the DuckDB
load itself, on N generated responses.

Generates Qualtrics-format exports, reads them into the batch (ingest), breaks one answer in every
`--bad-every` rows so that validation has rows to quarantine, then times the validate stage (the
GX checkpoint, the held-back decision and the quarantine records) against ingest and load (reading
the CSV into DuckDB, and the load transaction). Prints both, and their ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from resilience import pipeline
from resilience.instruments import load_registry
from resilience.sample import generate_sample
from resilience.settings import load_settings

T = TypeVar("T")


def timed(work: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = work()
    return result, time.perf_counter() - started


def write_config(work: Path) -> Path:
    config = work / "resilience.toml"
    config.write_text(
        '[paths]\nexports = "inputs/exports"\nroster = "inputs/roster.csv"\n'
        'mappings = "inputs/mappings"\nout = "build"\nstate = "state"\n'
        '[privacy]\nsalt = "benchmark-salt"\n'
        # The exports were just written: no need to watch whether they are still being copied.
        "[schedule]\nsettle_seconds = 0\n",
        encoding="utf-8",
    )
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.validation", description=__doc__)
    parser.add_argument("--responses", type=int, default=100_000, help="genuine responses")
    parser.add_argument("--teams", type=int, default=200)
    parser.add_argument("--waves", type=int, default=2)
    parser.add_argument("--bad-every", type=int, default=1000, help="break one row in this many")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    arguments = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=arguments.work) as scratch:
        work = Path(scratch)
        _, generate_seconds = timed(
            lambda: generate_sample(
                work / "inputs",
                responses=arguments.responses,
                teams=arguments.teams,
                waves=arguments.waves,
                seed=7,
            )
        )
        settings = load_settings(write_config(work))
        registry = load_registry()
        report, ingest_seconds = timed(
            lambda: pipeline.ingest_exports(settings, pipeline.new_run(), registry)
        )
        with duckdb.connect(str(settings.warehouse_path)) as con:
            con.execute(
                "update ingest_batch set proqol_1 = 'not an answer' where source_row % ? = 0",
                [arguments.bad_every],
            )
        report, validate_seconds = timed(lambda: pipeline.validate(settings, report, registry))
        report, load_seconds = timed(lambda: pipeline.load(settings, report))

    duckdb_seconds = ingest_seconds + load_seconds
    print(f"responses generated: {arguments.responses} ({generate_seconds:.1f} s to write)")
    print(f"rows read: {report.total('rows_read')}")
    print(
        f"DuckDB load: {duckdb_seconds:.1f} s "
        f"(ingest {ingest_seconds:.1f} s: read, archive and stage; load {load_seconds:.1f} s)"
    )
    print(
        f"validation: {validate_seconds:.1f} s "
        f"({report.total('rows_quarantined')} rows quarantined, "
        f"{report.total('rows_loaded')} loaded)"
    )
    print(
        f"validation / DuckDB load: {validate_seconds / duckdb_seconds:.2f}; "
        f"validation / load transaction: {validate_seconds / load_seconds:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
