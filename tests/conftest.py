"""Shared fixtures. Prefect's environment is set here, before any test imports Prefect."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import Browser, sync_playwright

from resilience.instruments import Registry, load_registry
from resilience.runtime import configure_prefect
from resilience.settings import PROJECT_ROOT, Settings, load_settings
from resilience.sqlfiles import create_macros, quote_identifier, read_sql, set_variables
from resilience.warehouse import ensure_schema, load_seeds
from tests.browsing import CHROMIUM, CHROMIUM_ARGS

configure_prefect(load_settings())

SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"
SHARED_DIR = PROJECT_ROOT.parent / "shared"
REAL_EXPORTS = SHARED_DIR / "fixtures" / "real-exports"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (no browser download).

    One per test module: Playwright's sync API keeps an event loop running in the main thread
    while it is open, which would turn Prefect's and asyncio's calls in later modules async."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry()


@pytest.fixture
def warehouse(registry: Registry) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory warehouse with the raw tables and the instrument seeds."""
    con = duckdb.connect()
    ensure_schema(con, registry)
    load_seeds(con, registry)
    set_variables(con, load_settings().quality_variables())
    yield con
    con.close()


def materialize(con: duckdb.DuckDBPyConnection, *models: str) -> None:
    """Build the named models whole from their real SQL files, in the order given."""
    set_variables(con, {"first_new_response_row": 0})
    create_macros(con)
    for model in models:
        layer = model.split("_")[0]
        folder = {"stg": "staging", "int": "intermediate"}.get(layer, "marts")
        select = read_sql(f"{folder}/{model}.sql")
        con.execute(f"create or replace table {quote_identifier(model)} as {select}")


def use_min_group_size(con: duckdb.DuckDBPyConnection, size: int = 5) -> None:
    set_variables(con, {"min_group_size": size})


def make_project(directory: Path) -> Path:
    """Copy the sample inputs into `directory` and write a config pointing at them."""
    inputs = directory / "inputs"
    shutil.copytree(SAMPLE_DIR, inputs)
    config = directory / "resilience.toml"
    config.write_text(
        "[paths]\n"
        'exports = "inputs/exports"\n'
        'roster = "inputs/roster.csv"\n'
        'mappings = "inputs/mappings"\n'
        'out = "build"\n'
        'state = "state"\n'
        "[privacy]\n"
        "min_group_size = 5\n"
        'salt = "test-salt-not-secret"\n',
        encoding="utf-8",
    )
    return config


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The sample inputs in a scratch folder, with a config pointing at them."""
    return make_project(tmp_path)


@pytest.fixture
def project_settings(project_copy: Path) -> Settings:
    return load_settings(project_copy)
