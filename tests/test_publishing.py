"""Publishing never waits for analysts: a reader of analytics.duckdb does not block a run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from resilience import pipeline
from resilience.instruments import Registry
from resilience.settings import load_settings
from tests.conftest import make_project

READER = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    query = "select count(distinct wave) from team_indicators"
    print(con.execute(query).fetchall()[0][0], flush=True)
    sys.stdin.readline()
    print(con.execute(query).fetchall()[0][0], flush=True)
    """
)


def run_all(settings, registry: Registry) -> None:
    report = pipeline.new_run()
    report = pipeline.ingest_exports(settings, report, registry)
    report = pipeline.validate(settings, report, registry)
    report = pipeline.load(settings, report)
    pipeline.transform(settings, registry)
    report = pipeline.render(settings, report)
    pipeline.publish(settings, report)


def published_waves(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select count(distinct wave) from team_indicators").fetchall()[0][0]


@pytest.mark.e2e
def test_open_reader_keeps_working_while_a_run_publishes(tmp_path: Path, registry) -> None:
    settings = load_settings(make_project(tmp_path))
    exports = sorted(settings.paths.exports.glob("*.csv"))
    held_back = tmp_path / exports[-1].name
    exports[-1].rename(held_back)
    run_all(settings, registry)
    assert published_waves(settings.analytics_path) == 2

    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(settings.analytics_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "2"
        held_back.rename(exports[-1])
        run_all(settings, registry)
        output, _ = reader.communicate("again\n", timeout=60)
    finally:
        reader.kill()
    assert reader.returncode == 0
    # The reader still sees the file it opened; every new connection sees the new one.
    assert output.strip() == "2"
    assert published_waves(settings.analytics_path) == 3
