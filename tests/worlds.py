"""Small scratch projects for tests that change the world between runs (a lost salt, a corrected
re-export, an edited roster), and what a run publishes, for comparing with a clean run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb

from resilience.sample import generate_sample
from resilience.settings import Settings, load_settings
from resilience.sqlfiles import published_model_names, quote_identifier
from tests.conftest import make_project

# Small enough that every stage runs in a few seconds, large enough to publish teams.
SMALL_SAMPLE = {"responses": 400, "teams": 8, "waves": 3, "seed": 8}
LONG_AGO = 1_700_000_000
# Published columns that name the run or the moment that built them, not what it found.
RUN_COLUMNS = {"run_id", "built_at", "published_at", "generated_at"}


def make_small_world(directory: Path, salt: str | None = "test-salt-not-secret") -> Settings:
    """A scratch project on the small generated sample; with `salt` None, no salt is configured
    (a run makes one in the state folder)."""
    config = make_project(directory)
    if salt is None:
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace('salt = "test-salt-not-secret"\n', ""), encoding="utf-8")
    summary = generate_sample(directory / "inputs", **SMALL_SAMPLE)
    for path in (*summary.exports, summary.roster, summary.mapping):
        os.utime(path, (LONG_AGO, LONG_AGO))  # exports that finished copying long ago
    return load_settings(config)


def copy_inputs(settings: Settings, directory: Path) -> Settings:
    """A new project in `directory` with the inputs of `settings` as they are now (no output):
    what a clean run on the same final inputs reads."""
    source = settings.paths.exports.parent
    shutil.copytree(source, directory / source.name, symlinks=True)
    config = directory / "resilience.toml"
    shutil.copy2(source.parent / "resilience.toml", config)
    return load_settings(config)


def published_tables(settings: Settings) -> dict[str, list[tuple]]:
    """Every published table's rows in a fixed order, without the columns that name the run."""
    tables = {}
    with duckdb.connect(str(settings.analytics_path), read_only=True) as con:
        for name in published_model_names():
            columns = [
                row[0]
                for row in con.execute(f"describe {quote_identifier(name)}").fetchall()
                if row[0] not in RUN_COLUMNS
            ]
            selected = ", ".join(quote_identifier(column) for column in columns)
            tables[name] = con.execute(
                f"select {selected} from {quote_identifier(name)} order by all"
            ).fetchall()
    return tables


def cumulative_export(exports: list[Path], path: Path) -> Path:
    """One export holding the rows of `exports` in turn (their header rows once), as a survey
    tool's cumulative export repeats every earlier response."""
    header_rows = 3  # Qualtrics: ids, question text, import ids
    first = exports[0].read_bytes()
    parts = [first]
    for export in exports[1:]:
        parts.append(_data_rows(export.read_bytes(), header_rows))
    path.write_bytes(b"".join(parts))
    os.utime(path, (LONG_AGO, LONG_AGO))
    return path


def _data_rows(content: bytes, header_rows: int) -> bytes:
    """The bytes after the first `header_rows` records (question text may hold line breaks
    inside quotes, so records are counted outside quotes)."""
    records, quoted = 0, False
    for position, byte in enumerate(content):
        if byte == ord('"'):
            quoted = not quoted
        elif byte == ord("\n") and not quoted:
            records += 1
            if records == header_rows:
                return content[position + 1 :]
    return b""
