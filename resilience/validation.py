"""Validate survey batches and the published marts with Great Expectations, on the pipeline's
DuckDB connection.

The suites are generated, never written by hand: the batch suites from the instrument definitions,
the roster and the configured wave windows (`batch_relations`), the mart suites from the key each
mart states in its header comment and from its columns (`mart_relations`). They run as one real GX
Checkpoint in an ephemeral context (`run_checkpoint`), so GX writes no project files. GX issues
the SQL; nothing is pulled into pandas, and the failing rows come from GX's own
`unexpected_index_list`, not from a second hand-written copy of the rules.

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

import copy
import dataclasses
import logging
import os
import re
import sys
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import duckdb
import great_expectations as gx
import sqlalchemy as sa
from duckdb_engine import ConnectionWrapper
from great_expectations.core.expectation_validation_result import ExpectationValidationResult
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from great_expectations.expectations.row_conditions import (
    Column,
    ComparisonCondition,
    Operator,
)

from resilience.instruments import Registry
from resilience.rules import (
    RULE_ANSWER_CODE,
    RULE_DURATION_RANGE,
    RULE_IN_WAVE_WINDOW,
    RULE_KEY_NOT_NULL,
    RULE_KEY_UNIQUE,
    RULE_MIN_GROUP_SIZE,
    RULE_NO_WAVE,
    RULE_NOT_NULL,
    RULE_ONE_RESPONSE_PER_ID,
    RULE_PROGRESS_RANGE,
    RULE_REQUIRED_COLUMN,
    RULE_SHARE_RANGE,
    RULE_SUPPRESSED_EMPTY,
    RULE_TEAM_IN_ROSTER,
)
from resilience.settings import WaveWindow
from resilience.sqlfiles import model_description, model_paths, read_sql

# GX announces every ephemeral context at INFO, from module loggers it sets to INFO itself when
# imported; the pipeline reports what validation found itself.
for _logger_name in list(logging.root.manager.loggerDict):
    if _logger_name.split(".")[0] == "great_expectations":
        logging.getLogger(_logger_name).setLevel(logging.WARNING)

BATCH_TABLE = "ingest_batch"
RESPONSE_VERSIONS = "ingest_batch_response_versions"
ROW_KEY_COLUMNS = ("file_sha256", "source_row")
REQUIRED_COLUMNS = (*ROW_KEY_COLUMNS, "response_key", "team", "wave")
NOT_NULL_COLUMNS = ("response_key", "team")
# A response whose date falls in no fieldwork window fails `no_wave`, not `not_null` on its wave.
PLACED_IN_NO_WAVE = "date_in_no_wave"

# Each mart states its key in its header comment, e.g. "(key: wave, team_id, indicator)".
MART_KEY = re.compile(r"\(key: ([^)]+)\)")
SUPPRESSIBLE_COLUMNS = ("n", "value", "ci_low", "ci_high")
# GX takes only numbers and text in `is_in`; a boolean is compared the long way.
SUPPRESSED_ROWS = ComparisonCondition(
    column=Column("suppressed"), operator=Operator.EQUAL, parameter=True
)

_ROW_RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": list(ROW_KEY_COLUMNS),
    # On SQL, GX lists at most this many failing rows per expectation even in COMPLETE (default
    # 20); no limit is wanted, as every failing row goes into the quarantine.
    "partial_unexpected_count": sys.maxsize,
}
# Mart rows have no row number to quarantine by: a few failing values explain the failure.
_SUMMARY_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 5}
# Counts alone, without the failing values: as fast as asking only whether a rule passed, and a
# count shows that the rule was really evaluated.
_COUNT_RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}


class PublishedDataError(RuntimeError):
    """The marts failed their checks: the run stops before anything is published."""


@dataclass(frozen=True)
class Relation:
    """A table, or a query GX reads as a table, and the suite to validate it against."""

    name: str
    suite: gx.ExpectationSuite
    query: str | None = None


@dataclass(frozen=True)
class ExpectationOutcome:
    relation: str
    rule: str
    expectation_type: str
    column: str | None
    success: bool
    unexpected_count: int | None
    """None for expectations that look at the table, not at values (a required column)."""
    error: str | None
    """GX's exception message when the expectation could not be evaluated at all."""
    examples: tuple[str, ...] = ()
    """A few failing values (marts only: batch failures are listed row by row)."""
    expectation_id: str | None = None

    def describe(self) -> str:
        subject = f"{self.relation}.{self.column}" if self.column else self.relation
        if self.error:
            return f"{subject}: {self.rule} could not be checked: {self.error}"
        found = f" ({', '.join(self.examples)})" if self.examples else ""
        count = "" if self.unexpected_count is None else f" in {self.unexpected_count} rows"
        return f"{subject}: {self.rule} failed{count}{found}"


@dataclass(frozen=True)
class RowFailure:
    file_sha256: str
    source_row: int
    column: str
    rule: str
    value: str | None


@dataclass(frozen=True)
class CheckpointResult:
    success: bool
    expectation_results: tuple[ExpectationOutcome, ...]
    row_failures: tuple[RowFailure, ...]
    """One per failing row per column, ordered by file, row and column."""

    @property
    def errors(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.expectation_results if outcome.error]

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.expectation_results if not outcome.success]


@dataclass(frozen=True)
class MartShape:
    """What the mart checks are generated from: a mart's stated key and its columns."""

    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]


# --- the batch -------------------------------------------------------------------------------


def build_batch_suite(
    registry: Registry,
    team_ids: Collection[str],
    waves: Mapping[str, WaveWindow] | None = None,
    name: str = "survey_batch",
) -> gx.ExpectationSuite:
    """The batch-table rules, generated from the instrument definitions, the roster and the wave
    windows.

    Item columns may be NULL (unanswered); any other value must be one of the item's answer codes
    (answer labels were turned into codes at ingest, so a label that matches no option arrives
    here as written). A wave without a window has no date rule.
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
    expectations += [
        gx.expectations.ExpectColumnValuesToNotBeNull(
            column="wave",
            row_condition=Column(PLACED_IN_NO_WAVE).is_null(),
            meta={"rule": RULE_NOT_NULL},
        ),
        gx.expectations.ExpectColumnValuesToBeNull(
            column=PLACED_IN_NO_WAVE, meta={"rule": RULE_NO_WAVE}
        ),
    ]
    expectations.append(
        gx.expectations.ExpectColumnValuesToBeInSet(
            column="team", value_set=sorted(set(team_ids)), meta={"rule": RULE_TEAM_IN_ROSTER}
        )
    )
    expectations += [
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="recorded_date",
            min_value=window.start,
            max_value=window.end,
            row_condition=Column("wave") == wave,
            meta={"rule": RULE_IN_WAVE_WINDOW, "wave": wave},
        )
        for wave, window in sorted((waves or {}).items())
    ]
    expectations += [
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="progress", min_value=0, max_value=100, meta={"rule": RULE_PROGRESS_RANGE}
        ),
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="duration_seconds", min_value=0, meta={"rule": RULE_DURATION_RANGE}
        ),
    ]
    expectations += [
        gx.expectations.ExpectColumnValuesToBeInSet(
            column=item.id,
            value_set=[str(code) for code in item.codes],
            meta={"rule": RULE_ANSWER_CODE},
        )
        for item in registry.items
    ]
    return gx.ExpectationSuite(name=name, expectations=expectations)


def build_response_versions_suite(
    name: str = "survey_batch_response_versions",
) -> gx.ExpectationSuite:
    """One response per re-keyed id within a file, checked on `RESPONSE_VERSIONS`.

    A row repeated verbatim is the same response twice (an export glitch): it is one version and
    loads once. Two different rows under one id cannot both be that response, so every row of
    such an id fails.
    """
    return gx.ExpectationSuite(
        name=name,
        expectations=[
            gx.expectations.ExpectColumnValuesToBeBetween(
                column="response_versions_in_file",
                max_value=1,
                meta={"rule": RULE_ONE_RESPONSE_PER_ID},
            )
        ],
    )


def batch_relations(
    registry: Registry, team_ids: Collection[str], waves: Mapping[str, WaveWindow] | None = None
) -> list[Relation]:
    """What the batch checkpoint validates: the batch table, and its response ids per file."""
    return [
        Relation(BATCH_TABLE, build_batch_suite(registry, team_ids, waves)),
        Relation(
            RESPONSE_VERSIONS,
            build_response_versions_suite(),
            # GX takes only a query that starts with SELECT; the file starts with its comment.
            query=f"select * from ({read_sql('quality/batch_response_versions.sql')})",
        ),
    ]


def validate_batch(
    con: duckdb.DuckDBPyConnection, relations: Sequence[Relation]
) -> CheckpointResult:
    """Run the batch checkpoint; every failing row is listed by file and row number.

    Every rule first only counts its failing rows; the rules that failed run again to list them.
    Listing costs a third of the check at a million rows even when no row fails, and on most
    nights most rules pass.
    """
    counted = run_checkpoint(con, "survey_batch", relations, _COUNT_RESULT_FORMAT)
    failed = {outcome.expectation_id for outcome in counted.failures}
    if not failed:
        return counted
    # GX lets an expectation belong to one suite only: the rules run again are copies, which get
    # ids of their own.
    copies = {
        relation.name: {
            expectation.id: copy.copy(expectation)
            for expectation in relation.suite.expectations
            if expectation.id in failed
        }
        for relation in relations
    }
    listed = run_checkpoint(
        con,
        "survey_batch",
        [
            Relation(
                relation.name,
                gx.ExpectationSuite(
                    name=relation.suite.name, expectations=list(copies[relation.name].values())
                ),
                relation.query,
            )
            for relation in relations
            if copies[relation.name]
        ],
        _ROW_RESULT_FORMAT,
    )
    original_id = {
        expectation.id: original
        for expectations in copies.values()
        for original, expectation in expectations.items()
    }
    listed_outcomes = {
        original_id[outcome.expectation_id]: dataclasses.replace(
            outcome, expectation_id=original_id[outcome.expectation_id]
        )
        for outcome in listed.expectation_results
    }
    return CheckpointResult(
        success=False,
        expectation_results=tuple(
            listed_outcomes.get(outcome.expectation_id, outcome)
            for outcome in counted.expectation_results
        ),
        row_failures=listed.row_failures,
    )


def held_back_files(
    row_failures: Collection[RowFailure], rows_by_file: Mapping[str, int], max_failed_share: float
) -> dict[str, str]:
    """Files whose share of failing rows is above `max_failed_share`, each with the reason."""
    failing_rows = Counter(sha for sha, _ in {(f.file_sha256, f.source_row) for f in row_failures})
    reasons = {}
    for sha, rows in rows_by_file.items():
        failed = failing_rows.get(sha, 0)
        if rows and failed / rows > max_failed_share:
            reasons[sha] = (
                f"{failed} of {rows} rows ({failed / rows:.0%}) failed validation, more than the "
                f"{max_failed_share:.0%} allowed: the whole file is held back"
            )
    return reasons


# --- the marts -------------------------------------------------------------------------------


def describe_marts(con: duckdb.DuckDBPyConnection) -> list[MartShape]:
    """Every mart's stated key (from its header comment) and its columns in the warehouse."""
    shapes = []
    for path in model_paths("marts"):
        stated = MART_KEY.search(model_description(path))
        if not stated:
            raise PublishedDataError(
                f"sql/marts/{path.name} states no key: its header comment needs '(key: ...)'"
            )
        columns = con.execute(
            "select column_name from duckdb_columns() where table_name = ? order by column_index",
            [path.stem],
        ).fetchall()
        shapes.append(
            MartShape(
                name=path.stem,
                key=tuple(column.strip() for column in stated.group(1).split(",")),
                columns=tuple(column for (column,) in columns),
            )
        )
    return shapes


def build_mart_suite(
    mart: MartShape, share_indicators: Collection[str], min_group_size: int
) -> gx.ExpectationSuite:
    """The rules every published table must meet before it is published.

    Its stated key is unique and never null; the value of a share indicator lies between 0 and 1;
    no row describes fewer than `min_group_size` respondents; a suppressed row carries no number.
    """
    key_meta = {"rule": RULE_KEY_UNIQUE}
    expectations: list[gx.expectations.Expectation] = [
        gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=list(mart.key), meta=key_meta)
        if len(mart.key) > 1
        else gx.expectations.ExpectColumnValuesToBeUnique(column=mart.key[0], meta=key_meta)
    ]
    expectations += [
        gx.expectations.ExpectColumnValuesToNotBeNull(
            column=column, meta={"rule": RULE_KEY_NOT_NULL}
        )
        for column in mart.key
    ]
    if {"indicator", "value"} <= set(mart.columns) and share_indicators:
        expectations.append(
            gx.expectations.ExpectColumnValuesToBeBetween(
                column="value",
                min_value=0,
                max_value=1,
                row_condition=Column("indicator").is_in(sorted(share_indicators)),
                meta={"rule": RULE_SHARE_RANGE},
            )
        )
    if "n" in mart.columns:
        expectations.append(
            gx.expectations.ExpectColumnValuesToBeBetween(
                column="n", min_value=min_group_size, meta={"rule": RULE_MIN_GROUP_SIZE}
            )
        )
    if "suppressed" in mart.columns:
        expectations += [
            gx.expectations.ExpectColumnValuesToBeNull(
                column=column,
                row_condition=SUPPRESSED_ROWS,
                meta={"rule": RULE_SUPPRESSED_EMPTY},
            )
            for column in SUPPRESSIBLE_COLUMNS
            if column in mart.columns
        ]
    return gx.ExpectationSuite(name=f"mart:{mart.name}", expectations=expectations)


def mart_relations(con: duckdb.DuckDBPyConnection, min_group_size: int) -> list[Relation]:
    share_indicators = [
        indicator
        for (indicator,) in con.execute(
            "select indicator from indicator_definitions where kind = 'share'"
        ).fetchall()
    ]
    return [
        Relation(mart.name, build_mart_suite(mart, share_indicators, min_group_size))
        for mart in describe_marts(con)
    ]


def validate_marts(
    con: duckdb.DuckDBPyConnection, relations: Sequence[Relation]
) -> CheckpointResult:
    return run_checkpoint(con, "published_marts", relations, _SUMMARY_RESULT_FORMAT)


def check_marts(con: duckdb.DuckDBPyConnection, min_group_size: int) -> CheckpointResult:
    """Validate every mart in the warehouse; raise PublishedDataError if any rule fails. The rules
    first only count their failing rows; the failing values, a quarter of the check, are looked
    for only when a rule failed."""
    relations = mart_relations(con, min_group_size)
    result = run_checkpoint(con, "published_marts", relations, _COUNT_RESULT_FORMAT)
    if not result.success:
        result = validate_marts(con, relations)
        raise PublishedDataError(
            "the published tables failed their checks, so nothing was published: "
            + "; ".join(outcome.describe() for outcome in result.failures)
        )
    return result


# --- running a checkpoint --------------------------------------------------------------------


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


def run_checkpoint(
    con: duckdb.DuckDBPyConnection,
    name: str,
    relations: Sequence[Relation],
    result_format: Mapping[str, Any],
) -> CheckpointResult:
    """Run every relation's suite as one GX Checkpoint, through a cursor of `con`."""
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
        definitions = []
        for relation in relations:
            asset = (
                datasource.add_query_asset(name=relation.name, query=relation.query)
                if relation.query
                else datasource.add_table_asset(name=relation.name, table_name=relation.name)
            )
            definitions.append(
                context.validation_definitions.add(
                    gx.ValidationDefinition(
                        name=f"{relation.suite.name}:{relation.name}",
                        data=asset.add_batch_definition_whole_table(name="whole_table"),
                        suite=context.suites.add(relation.suite),
                    )
                )
            )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=name, validation_definitions=definitions, result_format=dict(result_format)
            )
        )
        checkpoint_result = checkpoint.run()
    finally:
        gx_connection.close()

    relation_of_suite = {relation.suite.name: relation.name for relation in relations}
    results = [
        (relation_of_suite[suite_result.suite_name], result)
        for suite_result in checkpoint_result.run_results.values()
        for result in suite_result.results
    ]
    return CheckpointResult(
        success=bool(checkpoint_result.success),
        expectation_results=tuple(_outcome(relation, result) for relation, result in results),
        row_failures=tuple(
            sorted(
                (failure for _, result in results for failure in _row_failures(result)),
                key=lambda failure: (failure.file_sha256, failure.source_row, failure.column),
            )
        ),
    )


def _outcome(relation: str, result: ExpectationValidationResult) -> ExpectationOutcome:
    config = result.expectation_config
    examples = [] if result.success else (result.result.get("partial_unexpected_list") or [])[:5]
    return ExpectationOutcome(
        relation=relation,
        rule=_rule(config),
        expectation_type=config.type,
        column=config.kwargs.get("column")
        or ", ".join(config.kwargs.get("column_list", []))
        or None,
        success=bool(result.success),
        unexpected_count=result.result.get("unexpected_count"),
        error=_error_message(result.exception_info),
        examples=tuple(dict.fromkeys(_text(example) or "null" for example in examples)),
        expectation_id=config.id,
    )


def _rule(config: ExpectationConfiguration) -> str:
    # A suite not made here still gets a readable rule name.
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


def _text(value: object) -> str | None:
    """A failing value as the quarantine stores it: text, dates as ISO dates."""
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return ", ".join(f"{key}={item}" for key, item in value.items())
    return str(value)


def _row_failures(result: ExpectationValidationResult) -> list[RowFailure]:
    config = result.expectation_config
    column = config.kwargs.get("column")
    return [
        RowFailure(
            file_sha256=row["file_sha256"],
            source_row=row["source_row"],
            column=column,
            rule=_rule(config),
            value=_text(row.get(column)),
        )
        for row in result.result.get("unexpected_index_list") or []
    ]
