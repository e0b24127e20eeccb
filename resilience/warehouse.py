"""The private warehouse (response level) and the published analytics file (aggregates only)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
from scipy import stats

from resilience.instruments import Registry
from resilience.sqlfiles import (
    model_description,
    model_paths,
    published_model_names,
    quote_identifier,
    quote_literal,
    read_sql,
    run_models,
    set_variables,
)

T_TABLE_MAX_DF = 1000


@contextmanager
def open_warehouse(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        yield con
    finally:
        con.close()


def ensure_schema(con: duckdb.DuckDBPyConnection, registry: Registry) -> None:
    """Create the raw tables and give them one text column per known item."""
    for path in model_paths("raw"):
        con.execute(path.read_text(encoding="utf-8"))
    for table in ("raw_responses", "ingest_batch"):
        existing = {row[0] for row in con.execute(f"describe {table}").fetchall()}
        for item_id in registry.item_ids:
            if item_id not in existing:
                con.execute(f"alter table {table} add column {quote_identifier(item_id)} varchar")


def _replace_table(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
    con.register("seed_frame", frame)
    try:
        con.execute(f"create or replace table {name} as select * from seed_frame")
    finally:
        con.unregister("seed_frame")


def load_seeds(con: duckdb.DuckDBPyConnection, registry: Registry) -> None:
    """The instrument definitions as tables, and the t quantiles that DuckDB lacks."""
    instruments = pd.DataFrame(
        [
            {
                "instrument_id": i.id,
                "name": i.name,
                "title": i.title,
                "credit": i.credit,
                "licence": i.licence,
                "url": i.url,
            }
            for i in registry.instruments
        ]
    )
    _replace_table(con, "seed_instruments", instruments)
    _replace_table(con, "seed_item_definitions", pd.DataFrame(registry.item_rows()))
    _replace_table(con, "seed_answer_options", pd.DataFrame(registry.answer_option_rows()))
    _replace_table(con, "seed_scale_definitions", pd.DataFrame(registry.scale_rows()))
    _replace_table(con, "seed_scale_items", pd.DataFrame(registry.scale_item_rows()))
    _replace_table(con, "seed_scale_bands", pd.DataFrame(registry.band_rows()))
    degrees = list(range(1, T_TABLE_MAX_DF + 1))
    t_table = pd.DataFrame({"df": degrees, "t975": stats.t.ppf(0.975, degrees)})
    _replace_table(con, "seed_t_critical", t_table)


def run_load(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Move validated batch rows into the raw tables, in one transaction."""
    set_variables(con, {"run_id": run_id})
    con.execute("begin transaction")
    try:
        for path in model_paths("load"):
            con.execute(path.read_text(encoding="utf-8"))
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def run_transform(
    con: duckdb.DuckDBPyConnection, roster_path: Path, min_group_size: int
) -> list[str]:
    """Rebuild staging, intermediate and mart models from the raw tables."""
    set_variables(con, {"roster_path": str(roster_path), "min_group_size": min_group_size})
    con.execute("begin transaction")
    try:
        built = run_models(con)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return built


def candidate_path(analytics_path: Path) -> Path:
    return analytics_path.with_name(analytics_path.name + ".next")


def build_candidate(con: duckdb.DuckDBPyConnection, analytics_path: Path) -> Path:
    """Write every mart to a new analytics file beside the published one, checkpointed."""
    candidate = candidate_path(analytics_path)
    for leftover in (candidate, candidate.with_name(candidate.name + ".wal")):
        leftover.unlink(missing_ok=True)
    con.execute(f"attach {quote_literal(str(candidate))} as candidate")
    try:
        for name in published_model_names():
            con.execute(
                f"create table candidate.{quote_identifier(name)} as "
                f"select * from {quote_identifier(name)}"
            )
        descriptions = pd.DataFrame(
            [
                {"table_name": path.stem, "description": model_description(path)}
                for path in model_paths("marts")
            ]
        )
        con.register("mart_descriptions", descriptions)
        try:
            con.execute(read_sql("publish/data_dictionary.sql"))
        finally:
            con.unregister("mart_descriptions")
        con.execute("checkpoint candidate")
    finally:
        con.execute("detach candidate")
    return candidate


def publish_candidate(analytics_path: Path) -> None:
    """Swap the new analytics file in; readers of the old file keep their open handle."""
    os.replace(candidate_path(analytics_path), analytics_path)
