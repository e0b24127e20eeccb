"""The benchmark runs with one command and reports what it claims: stages, the floor, a re-run that
loads nothing, and a cumulative export that loads exactly its new responses. Its figures are not
asserted: speed is measured by running it, not in tests."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time

import duckdb
import pytest

from benchmarks.__main__ import WAREHOUSE_WRITE, main, run_archive_floor
from benchmarks.measure import measured
from resilience.sample import METADATA_COLUMNS, generate_sample

CHILD_BYTES = 300 * 2**20


def test_peak_memory_counts_the_children_too():
    holds_memory = f"import time; block = bytearray({CHILD_BYTES}); time.sleep(1.5)"
    with measured("child") as measurement:
        before = measurement.peak_rss_bytes
        child = subprocess.Popen([sys.executable, "-c", holds_memory])
        time.sleep(1.2)
        child.wait()

    assert measurement.peak_rss_bytes - before >= CHILD_BYTES * 0.9


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_a_small_benchmark_runs_every_stage_and_loads_the_new_rows_once(tmp_path, capsys):
    results_file = tmp_path / "results.json"

    assert main(["--responses", "1200", "--teams", "12", "--json", str(results_file)]) == 0

    results = json.loads(results_file.read_text(encoding="utf-8"))
    assert [stage["name"] for stage in results["stages"]] == [
        "ingest",
        "validate",
        "load",
        "transform",
        "render",
        "publish",
    ]
    # The newest of 3 exports of 400 responses was held back by 1% (4 responses) at first.
    assert results["responses_loaded"] + results["incremental_responses_loaded"] == 1200
    assert results["incremental_responses_loaded"] == 4
    assert all(stage["peak_rss_bytes"] > 0 for stage in results["stages"])
    assert results["floor_total_seconds"] > 0
    assert results["prefect_startup_seconds"] > 0
    assert results["leadership_page_bytes"] > 0
    printed = capsys.readouterr().out
    assert "pipeline total" in printed
    assert "cumulative export, +1% responses" in printed
    assert "pipeline total / (floor + archive floor)" in printed
    assert [step["name"] for step in results["archive_floor"]][-1] == WAREHOUSE_WRITE
    compared = {stage["name"] for stage in results["stages"] if stage["ratio_to_archive_floor"]}
    assert compared == {"ingest", "load"}
    assert 0 < results["incremental_archive_floor_seconds"] < results["archive_floor_total_seconds"]


def test_the_archive_floor_keeps_every_response_and_no_identifying_column(tmp_path):
    generate_sample(tmp_path / "inputs", responses=300, teams=10, waves=3, seed=3)
    exports = sorted((tmp_path / "inputs" / "exports").glob("*.csv"))
    # Three header rows (ids, question text, import ids) before the responses.
    responses = sum(len(list(csv.reader(export.open(encoding="utf-8")))) - 3 for export in exports)

    steps = run_archive_floor(exports[0].parent, tmp_path / "floor")

    assert [step.name for step in steps] == [*(export.name for export in exports), WAREHOUSE_WRITE]
    with duckdb.connect(str(tmp_path / "floor" / "warehouse.duckdb"), read_only=True) as con:
        [(rows, keys)] = con.execute(
            "select count(*), count(*) filter (where response_key similar to '[0-9a-f]{64}') "
            "from responses"
        ).fetchall()
        columns = {row[0] for row in con.execute("describe responses").fetchall()}
    assert rows == keys == responses
    kept_metadata = {"Status", "Progress", "Duration (in seconds)", "Finished", "RecordedDate"}
    assert {column for column, _, _ in METADATA_COLUMNS} & columns == kept_metadata
