"""The private warehouse (response level) and the published analytics file (aggregates only)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from resilience.instruments import Registry
from resilience.published import document_candidate
from resilience.roster_checks import read_team_moves
from resilience.runtime import crash_point
from resilience.settings import Settings
from resilience.sqlfiles import (
    model_paths,
    models_in_build_order,
    published_model_names,
    quote_identifier,
    quote_literal,
    read_sql,
    rows_digest,
    run_models,
    set_variables,
)
from resilience.status import one_line

T_TABLE_MAX_DF = 1000
ACTION_LOG_COLUMNS = ("team_id", "date", "action")
# The id of the strategy (strategies/*.toml) an action carries out: optional, blank for none.
ACTION_LOG_OPTIONAL_COLUMNS = ("strategy",)
# Typed so that the seed table has its columns even when no item is an exposure.
EXPOSURE_BAND_TYPES = {
    "item_id": "string",
    "band_id": "string",
    "band_order": "int64",
    "band_label": "string",
    "code": "int64",
}


@contextmanager
def open_warehouse(
    path: Path, config: Mapping[str, str] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to the warehouse at `path`, with DuckDB `config` (such as
    memory_limit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), config=dict(config or {}))
    try:
        yield con
    finally:
        con.close()


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction on `con`: committed when the block ends, rolled back when it raises. When
    the rollback fails too (after a full disk DuckDB may have nothing left to roll back), the
    block's own error is raised, the first cause, with the rollback's as a note."""
    con.execute("begin transaction")
    try:
        yield
        con.execute("commit")
    except BaseException as error:
        try:
            con.execute("rollback")
        except duckdb.Error as rollback_error:
            error.add_note(f"the rollback failed too: {one_line(rollback_error)}")
        raise


def ensure_schema(con: duckdb.DuckDBPyConnection, registry: Registry) -> None:
    """Create the raw tables and give them one text column per known item."""
    # A warehouse from before incremental builds records one fingerprint of everything: dropped,
    # so that its next build is a whole one.
    if con.execute(
        "select count(*) from duckdb_columns() where table_name = 'transform_state' "
        "and column_name = 'inputs_fingerprint'"
    ).fetchall() == [(1,)]:
        con.execute("drop table transform_state")
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


def read_action_log(
    path: Path | None, known_strategies: Collection[str] | None = None
) -> pd.DataFrame:
    """The leaders' action log as written (all text; the staging model casts it), or an empty log
    when none is configured. When `known_strategies` is given, a strategy the log names must be
    one of them (ids compare trimmed and in lower case, as the staging model reads them)."""
    columns = (*ACTION_LOG_COLUMNS, *ACTION_LOG_OPTIONAL_COLUMNS)
    if path is None:
        return pd.DataFrame({column: pd.Series(dtype="string") for column in columns})
    log = pd.read_csv(path, dtype="string", skipinitialspace=True)
    missing = [column for column in ACTION_LOG_COLUMNS if column not in log.columns]
    if missing:
        raise ValueError(f"{path}: the action log lacks the column(s) {', '.join(missing)}")
    for column in ACTION_LOG_OPTIONAL_COLUMNS:
        if column not in log.columns:
            log[column] = pd.Series(pd.NA, index=log.index, dtype="string")
    log = log[list(columns)]
    incomplete = log.index[log[list(ACTION_LOG_COLUMNS)].isna().any(axis=1)]
    if len(incomplete):
        # The header is line 1.
        raise ValueError(f"{path}: line {incomplete[0] + 2} lacks a team_id, date or action")
    if known_strategies is not None:
        named = log["strategy"].str.strip().str.lower()
        unknown = log.index[named.notna() & (named != "") & ~named.isin(list(known_strategies))]
        if len(unknown):
            raise ValueError(
                f"{path}: line {unknown[0] + 2}, column strategy: {log['strategy'][unknown[0]]!r}"
                f" is no strategy of strategies/ (known: {', '.join(sorted(known_strategies))})"
            )
    return log


def load_seeds(
    con: duckdb.DuckDBPyConnection,
    registry: Registry,
    action_log: Path | None = None,
    roster: Path | None = None,
    known_strategies: Collection[str] | None = None,
) -> None:
    """The instrument definitions, the action log and the roster's moves table (none without a
    `roster`) as tables, and the t quantiles that DuckDB lacks."""
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
    _replace_table(
        con,
        "seed_item_definitions",
        pd.DataFrame(registry.item_rows()).astype({"group_by": "string"}),
    )
    _replace_table(con, "seed_answer_options", pd.DataFrame(registry.answer_option_rows()))
    _replace_table(con, "seed_scale_definitions", pd.DataFrame(registry.scale_rows()))
    _replace_table(con, "seed_scale_items", pd.DataFrame(registry.scale_item_rows()))
    _replace_table(con, "seed_scale_bands", pd.DataFrame(registry.band_rows()))
    _replace_table(
        con,
        "seed_exposure_bands",
        pd.DataFrame(registry.exposure_band_rows(), columns=list(EXPOSURE_BAND_TYPES)).astype(
            EXPOSURE_BAND_TYPES
        ),
    )
    _replace_table(con, "seed_actions", read_action_log(action_log, known_strategies))
    _replace_table(con, "seed_team_moves", read_team_moves(roster))
    if not _holds_t_table(con):
        # SciPy takes seconds to import: loaded once per warehouse, not on every run.
        from scipy import stats

        degrees = list(range(1, T_TABLE_MAX_DF + 1))
        t_table = pd.DataFrame({"df": degrees, "t975": stats.t.ppf(0.975, degrees)})
        _replace_table(con, "seed_t_critical", t_table)


def _holds_t_table(con: duckdb.DuckDBPyConnection) -> bool:
    [(exists,)] = con.execute(
        "select count(*) from duckdb_tables() where table_name = 'seed_t_critical'"
    ).fetchall()
    return bool(exists) and con.execute(
        "select count(*) = ? from seed_t_critical", [T_TABLE_MAX_DF]
    ).fetchone() == (True,)


def run_load(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Move validated batch rows into the raw tables, in one transaction."""
    set_variables(con, {"run_id": run_id})
    with transaction(con):
        for path in model_paths("load"):
            con.execute(path.read_text(encoding="utf-8"))
        crash_point("load")


@dataclass(frozen=True)
class ModelsBuild:
    """What the models were built from: everything but the raw responses (a fingerprint), and the
    first `responses` rows of raw_responses, with their positional digest."""

    definitions_fingerprint: str
    responses: int
    responses_digest: int


def definitions_fingerprint(
    con: duckdb.DuckDBPyConnection, roster_path: Path, variables: Mapping[str, object]
) -> str:
    """What the models are built from besides the raw responses: seed tables (load them first),
    the roster file, the variables the SQL reads, and the model and macro SQL itself."""
    digest = hashlib.sha256()
    seeds = [
        row[0]
        for row in con.execute(
            "select table_name from duckdb_tables() "
            "where starts_with(table_name, 'seed_') order by table_name"
        ).fetchall()
    ]
    digest.update(tables_fingerprint(con, seeds).encode())
    digest.update(roster_path.read_bytes())
    digest.update(json.dumps(dict(variables), sort_keys=True, default=str).encode())
    for path in [*model_paths("macros"), *models_in_build_order()]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def raw_responses_digest(
    con: duckdb.DuckDBPyConnection, before_row: int | None = None
) -> tuple[int, int]:
    """How many raw responses there are before rowid `before_row` (all of them without it), and
    the sum of their hashes taken with their rowids: equal only when the same rows sit at the same
    rowids."""
    [(rows, digest)] = con.execute(
        read_sql("runs/raw_responses_digest.sql"), [before_row]
    ).fetchall()
    return rows, int(digest)


def models_built_from(con: duckdb.DuckDBPyConnection) -> ModelsBuild | None:
    """What the whole, checked models in the warehouse were built from, if there are any."""
    recorded = con.execute(
        "select definitions_fingerprint, responses_built, responses_digest from transform_state"
    ).fetchall()
    return ModelsBuild(*recorded[0]) if len(recorded) == 1 else None


def record_models_built_from(con: duckdb.DuckDBPyConnection, build: ModelsBuild) -> None:
    con.execute(
        "insert into transform_state values (?, ?, ?, current_timestamp::timestamp)",
        [build.definitions_fingerprint, build.responses, build.responses_digest],
    )


def run_transform(
    con: duckdb.DuckDBPyConnection,
    roster_path: Path,
    min_group_size: int,
    first_new_response_row: int | None = None,
) -> list[str]:
    """Rebuild staging, intermediate and mart models from the raw tables, in one transaction that
    also forgets what the models were built from (recorded again once they pass their checks).
    With `first_new_response_row`, the models built before hold every raw response before that
    rowid: the incremental models add only the rest, and the models incremental by wave rebuild
    only the waves of those responses (see `run_models`)."""
    rebuilt_waves = None
    if first_new_response_row is not None:
        [(rebuilt_waves,)] = con.execute(
            read_sql("runs/rebuilt_waves.sql"), [first_new_response_row]
        ).fetchall()
    set_variables(
        con,
        {
            "roster_path": str(roster_path),
            "min_group_size": min_group_size,
            "first_new_response_row": first_new_response_row or 0,
            "rebuilt_waves": rebuilt_waves,
        },
    )
    with transaction(con):
        con.execute("delete from transform_state")
        built = run_models(con, incremental=first_new_response_row is not None)
    return built


def build_candidate(con: duckdb.DuckDBPyConnection, candidate: Path) -> Path:
    """Write every mart to a new analytics file `candidate` (in a release folder), with its
    data dictionary and comments, checkpointed."""
    candidate.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (candidate, candidate.with_name(candidate.name + ".wal")):
        leftover.unlink(missing_ok=True)
    con.execute(f"attach {quote_literal(str(candidate))} as candidate")
    try:
        for name in published_model_names():
            con.execute(
                f"create table candidate.{quote_identifier(name)} as "
                f"select * from {quote_identifier(name)}"
            )
        document_candidate(con)
        con.execute("checkpoint candidate")
    finally:
        con.execute("detach candidate")
    return candidate


def tables_fingerprint(con: duckdb.DuckDBPyConnection, names: list[str]) -> str:
    """A digest of the rows of the named tables, in any order: equal digests, equal tables."""
    digest = hashlib.sha256()
    for name in names:
        rows, row_hashes = rows_digest(con, name)
        digest.update(f"{name}:{rows}:{row_hashes};".encode())
    return digest.hexdigest()


def current_release(settings: Settings) -> str | None:
    """The release readers see now (its run id), or None before the first publish."""
    link = settings.current_release
    return Path(os.readlink(link)).name if link.is_symlink() else None


def _point(link: Path, target: str) -> None:
    """Make `link` a symbolic link to `target` in one atomic step: a new link renamed over it."""
    staged = link.with_name(f".{link.name}.next")
    staged.unlink(missing_ok=True)
    staged.symlink_to(target)
    os.replace(staged, link)


def _link_reader_paths(settings: Settings) -> None:
    """`analytics.duckdb`, `dashboards/` and `tables/` are fixed links through `current`. An
    output folder written before releases existed holds a plain file and folder there: replaced
    once."""
    for path in (settings.analytics_path, settings.dashboards_dir, settings.tables_dir):
        target = f"{settings.current_release.name}/{path.name}"
        if path.is_symlink() and os.readlink(path) == target:
            continue
        if path.is_dir() and not path.is_symlink():
            retired = path.with_name(path.name + ".old")
            shutil.rmtree(retired, ignore_errors=True)
            path.rename(retired)
            _point(path, target)
            shutil.rmtree(retired)
        else:
            _point(path, target)


def publish_release(settings: Settings, release: str) -> None:
    """Make `release` the one readers see, analytics file, tables and dashboards together, with a
    single atomic rename of the `current` link. The release it replaces stays as `previous` (readers
    that opened it keep working, and an operator can point `current` back at it); older ones go.
    """
    with switched_release(settings, release):
        pass


@contextmanager
def switched_release(settings: Settings, release: str) -> Iterator[None]:
    """Make `release` the one readers see, as `publish_release` does, for a block that must
    succeed for the switch to hold (the run's record, committed). When the block raises, readers
    are pointed back at the release they saw, `previous` at its release, and the error goes on;
    releases older than those two go only once the block has ended."""
    previous = settings.paths.out / "previous"
    targets = {
        link: os.readlink(link) if link.is_symlink() else None
        for link in (settings.current_release, previous)
    }
    try:
        replaced = current_release(settings)
        if replaced is not None and replaced != release:
            _point(previous, f"{settings.releases_dir.name}/{replaced}")
        _point(settings.current_release, f"{settings.releases_dir.name}/{release}")
        _link_reader_paths(settings)
        yield
    except BaseException as error:
        try:
            for link, target in targets.items():
                if target is None:
                    link.unlink(missing_ok=True)
                else:
                    _point(link, target)
        except OSError as restore_error:
            error.add_note(f"readers could not be pointed back: {one_line(restore_error)}")
        raise
    prune_releases(settings)


def prune_releases(settings: Settings) -> None:
    """Remove every release but the current and the previous one, and those a killed run left."""
    keep = set()
    for link in (settings.current_release, settings.paths.out / "previous"):
        if link.is_symlink():
            keep.add(Path(os.readlink(link)).name)
    if settings.releases_dir.is_dir():
        for folder in settings.releases_dir.iterdir():
            if folder.name not in keep:
                shutil.rmtree(folder)
