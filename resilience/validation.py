"""Validate an ingested survey batch with Great Expectations on the pipeline's DuckDB connection.

The suite is generated from the instrument definitions (`build_batch_suite`) and run as a real GX
Checkpoint in an ephemeral context (`validate_batch`), so GX writes no project files. GX issues the
SQL; nothing is pulled into pandas, and the failing rows come from GX's own `unexpected_index_list`,
not from a second hand-written copy of the rules.

Why GX gets a special connection
--------------------------------
GX's SQL datasource with a plain `duckdb:///warehouse.duckdb` connection string does not work:

* While the pipeline holds its connection, duckdb-engine cannot open the file a second time in the
  same process ("Can't open a connection to same database file with a different configuration"):
  it sets a `custom_user_agent` that the pipeline's connection does not have.
* Even with the file free, nearly every expectation errors with "list index out of range".
  `SqlAlchemyExecutionEngine.execute_query` runs the query inside `with engine.connect()` and
  fetches the rows after that block has closed the connection. Closing rolls back the transaction
  SQLAlchemy opened (duckdb-engine's `do_begin` issues a real `BEGIN`), and any statement on a
  DuckDB connection, a `ROLLBACK` included, discards its pending result, so GX fetches zero rows.
  GX keeps one connection open only for a fixed list of dialects (sqlite, mssql, bigquery,
  databricks); duckdb is not on it.

The fix uses only the datasource's supported `kwargs`, which GX passes on to
`sqlalchemy.create_engine`. `creator` hands SQLAlchemy one cursor of the pipeline's connection
(DuckDB's `cursor()` is a second connection to the same open database: no new file handle, lock or
config), and `poolclass=StaticPool` keeps that one connection for every query. The cursor is
wrapped so that SQLAlchemy's begin/commit/rollback do nothing: every statement runs in DuckDB's own
autocommit mode, and no rollback discards a result before GX fetches it. GX only reads here (the
SQL datasource creates no temp tables), so it needs no transaction. The cursor is closed after the
run; the pipeline's connection stays open and untouched.

Because the cursor is a separate connection, it sees committed data only: validate after the
ingest transaction commits (DuckDB's Python API autocommits unless `begin()` was called), and not a
TEMP table, which is private to the connection that created it.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import duckdb
import great_expectations as gx
import sqlalchemy as sa
from duckdb_engine import ConnectionWrapper
from great_expectations.core.expectation_validation_result import ExpectationValidationResult
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

from resilience.instruments import Registry

# GX announces every ephemeral context at INFO; the pipeline reports what validation found itself.
logging.getLogger("great_expectations").setLevel(logging.WARNING)

ROW_KEY_COLUMNS = ("file_sha256", "source_row")
REQUIRED_COLUMNS = (*ROW_KEY_COLUMNS, "response_key", "team", "wave")
NOT_NULL_COLUMNS = ("response_key", "team", "wave")

RULE_REQUIRED_COLUMN = "required_column_present"
RULE_NOT_NULL = "not_null"
RULE_ANSWER_CODE = "answer_in_allowed_codes"
RULE_TEAM_IN_ROSTER = "team_in_roster"

_RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": list(ROW_KEY_COLUMNS),
    # On SQL, GX lists at most this many failing rows per expectation even in COMPLETE (default
    # 20); no limit is wanted, as every failing row goes into the report.
    "partial_unexpected_count": sys.maxsize,
}


@dataclass(frozen=True)
class ExpectationOutcome:
    rule: str
    expectation_type: str
    column: str | None
    success: bool
    unexpected_count: int | None
    """None for expectations that look at the table, not at values (a required column)."""
    error: str | None
    """GX's exception message when the expectation could not be evaluated at all."""


@dataclass(frozen=True)
class RowFailure:
    file_sha256: str
    source_row: int
    column: str
    rule: str
    value: str | None


@dataclass(frozen=True)
class BatchValidation:
    success: bool
    expectation_results: tuple[ExpectationOutcome, ...]
    row_failures: tuple[RowFailure, ...]
    """One per failing row per column, ordered by file, row and column."""


def build_batch_suite(
    registry: Registry, team_ids: Collection[str], name: str = "survey_batch"
) -> gx.ExpectationSuite:
    """The batch-table rules, generated from the instrument definitions and the roster.

    Item columns may be NULL (unanswered); any other value must be one of the item's answer codes.
    """
    if not team_ids:
        raise ValueError("the roster has no teams, so no batch row could pass team_in_roster")
    expectations: list[gx.expectations.Expectation] = [
        gx.expectations.ExpectColumnToExist(column=column, meta={"rule": RULE_REQUIRED_COLUMN})
        for column in REQUIRED_COLUMNS
    ]
    expectations += [
        gx.expectations.ExpectColumnValuesToNotBeNull(column=column, meta={"rule": RULE_NOT_NULL})
        for column in NOT_NULL_COLUMNS
    ]
    expectations.append(
        gx.expectations.ExpectColumnValuesToBeInSet(
            column="team", value_set=sorted(set(team_ids)), meta={"rule": RULE_TEAM_IN_ROSTER}
        )
    )
    expectations += [
        gx.expectations.ExpectColumnValuesToBeInSet(
            column=item.id,
            value_set=[str(code) for code in item.codes],
            meta={"rule": RULE_ANSWER_CODE},
        )
        for item in registry.items
    ]
    return gx.ExpectationSuite(name=name, expectations=expectations)


class _AutocommitConnection(ConnectionWrapper):
    """A duckdb-engine DB-API connection on which SQLAlchemy's transaction calls do nothing.

    A `ROLLBACK` would discard the result GX has not fetched yet; see the module docstring.
    """

    def begin(self) -> None:
        pass

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass


def validate_batch(
    con: duckdb.DuckDBPyConnection, table: str, suite: gx.ExpectationSuite
) -> BatchValidation:
    """Run `suite` against `table` as a GX Checkpoint, through a cursor of `con`."""
    gx_connection = _AutocommitConnection(con.cursor())
    try:
        context = gx.get_context(mode="ephemeral")
        # Progress bars would only clutter the pipeline's logs.
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        datasource = context.data_sources.add_sql(
            name="warehouse",
            connection_string="duckdb://",
            kwargs={"creator": lambda: gx_connection, "poolclass": sa.StaticPool},
        )
        batch_definition = datasource.add_table_asset(
            name=table, table_name=table
        ).add_batch_definition_whole_table(name="whole_table")
        validation_definition = context.validation_definitions.add(
            gx.ValidationDefinition(
                name=f"{suite.name}:{table}", data=batch_definition, suite=context.suites.add(suite)
            )
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"{suite.name}:{table}",
                validation_definitions=[validation_definition],
                result_format=_RESULT_FORMAT,
            )
        )
        checkpoint_result = checkpoint.run()
    finally:
        gx_connection.close()

    results = [
        result
        for suite_result in checkpoint_result.run_results.values()
        for result in suite_result.results
    ]
    return BatchValidation(
        success=bool(checkpoint_result.success),
        expectation_results=tuple(_outcome(result) for result in results),
        row_failures=tuple(
            sorted(
                (failure for result in results for failure in _row_failures(result)),
                key=lambda failure: (failure.file_sha256, failure.source_row, failure.column),
            )
        ),
    )


def _outcome(result: ExpectationValidationResult) -> ExpectationOutcome:
    config = result.expectation_config
    return ExpectationOutcome(
        rule=_rule(config),
        expectation_type=config.type,
        column=config.kwargs.get("column"),
        success=bool(result.success),
        unexpected_count=result.result.get("unexpected_count"),
        error=_error_message(result.exception_info),
    )


def _rule(config: ExpectationConfiguration) -> str:
    # A suite not made by build_batch_suite still gets a readable rule name.
    return (config.meta or {}).get("rule", config.type)


def _error_message(exception_info: dict[str, Any]) -> str | None:
    # GX reports an exception either flat or keyed by the metric that raised it.
    reports = [exception_info, *(v for v in exception_info.values() if isinstance(v, dict))]
    messages = [
        report.get("exception_message") or "unknown error"
        for report in reports
        if report.get("raised_exception")
    ]
    return "; ".join(dict.fromkeys(messages)) or None


def _row_failures(result: ExpectationValidationResult) -> list[RowFailure]:
    config = result.expectation_config
    column = config.kwargs.get("column")
    return [
        RowFailure(
            file_sha256=row["file_sha256"],
            source_row=row["source_row"],
            column=column,
            rule=_rule(config),
            value=row.get(column),
        )
        for row in result.result.get("unexpected_index_list") or []
    ]
