"""The benchmark runs with one command and reports what it claims: stages, the floor, a re-run that
loads nothing, and a cumulative export that loads exactly its new responses. Its figures are not
asserted: speed is measured by running it, not in tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from benchmarks.__main__ import main
from benchmarks.measure import measured

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

    assert main(["--responses", "3000", "--teams", "20", "--json", str(results_file)]) == 0

    results = json.loads(results_file.read_text(encoding="utf-8"))
    assert [stage["name"] for stage in results["stages"]] == [
        "ingest",
        "validate",
        "load",
        "transform",
        "render",
        "publish",
    ]
    # The newest of 3 exports of 1,000 responses was held back by 1% (10 responses) at first.
    assert results["responses_loaded"] + results["incremental_responses_loaded"] == 3000
    assert results["incremental_responses_loaded"] == 10
    assert all(stage["peak_rss_bytes"] > 0 for stage in results["stages"])
    assert results["floor_total_seconds"] > 0
    assert results["prefect_startup_seconds"] > 0
    assert results["leadership_page_bytes"] > 0
    printed = capsys.readouterr().out
    assert "pipeline total" in printed
    assert "cumulative export, +1% responses" in printed
