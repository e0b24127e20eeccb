"""What the published analytics file says about itself, and its copies for BI tools.

Every published column is described once, in `sql/marts/columns.toml`, and every table in the
header comment of its model. `document_candidate` writes both into a candidate analytics file
twice: as its `data_dictionary` table, and as the tables' and columns' comments (COMMENT ON),
which DuckDB users see in `duckdb_tables()` and `duckdb_columns()`. `export_tables` copies the
published tables, exactly as published, to Parquet or CSV files for tools that do not read DuckDB.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import duckdb

from resilience.sqlfiles import (
    SQL_DIR,
    model_description,
    model_paths,
    quote_identifier,
    quote_literal,
    read_sql,
)

COLUMNS_FILE = SQL_DIR / "marts" / "columns.toml"
DICTIONARY_MODEL = "publish/data_dictionary.sql"
DESCRIPTION_FIELDS = ("meaning", "unit", "allowed", "precision")
# Columns whose numbers have decimals: the dictionary must say whether to compute with them.
FRACTIONAL_TYPES = ("DOUBLE", "FLOAT", "REAL")
ExportFormat = Literal["parquet", "csv"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
EXPORT_OPTIONS = {"parquet": "format parquet", "csv": "format csv, header true"}


class UndocumentedColumns(ValueError):
    """A published column that nothing describes, or a description of no published column."""


@dataclass(frozen=True)
class ColumnDescription:
    """What one column means; `table` is None for a description shared by every table."""

    table: str | None
    column: str
    meaning: str
    unit: str | None = None
    allowed: str | None = None
    precision: str | None = None


def load_column_descriptions(path: Path = COLUMNS_FILE) -> list[ColumnDescription]:
    """The descriptions in `path` ([columns.<name>] shared, [tables.<table>.<name>] one table's),
    each with a non-empty meaning and no field but the four known ones."""
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown_sections = set(document) - {"columns", "tables"}
    if unknown_sections:
        raise UndocumentedColumns(f"{path.name}: unknown section(s) {sorted(unknown_sections)}")
    entries = [(None, column, fields) for column, fields in document.get("columns", {}).items()]
    entries += [
        (table, column, fields)
        for table, columns in document.get("tables", {}).items()
        for column, fields in columns.items()
    ]
    descriptions = []
    for table, column, fields in entries:
        where = f"{path.name}: {table + '.' if table else ''}{column}"
        unknown_fields = set(fields) - set(DESCRIPTION_FIELDS)
        if unknown_fields:
            raise UndocumentedColumns(f"{where}: unknown field(s) {sorted(unknown_fields)}")
        if not str(fields.get("meaning", "")).strip():
            raise UndocumentedColumns(f"{where}: no meaning")
        descriptions.append(ColumnDescription(table, column, **fields))
    return descriptions


def column_comment(
    meaning: str, unit: str | None, allowed: str | None, precision: str | None
) -> str:
    """A column's comment: its dictionary row's meaning, unit, allowed values and precision."""
    labelled = (("Unit", unit), ("Values", allowed), ("Precision", precision))
    return " ".join([meaning, *(f"{label}: {text}." for label, text in labelled if text)])


def table_descriptions() -> dict[str, str]:
    """Each published table's description: its model's header comment."""
    descriptions = {path.stem: model_description(path) for path in model_paths("marts")}
    dictionary = SQL_DIR / DICTIONARY_MODEL
    descriptions[dictionary.stem] = model_description(dictionary)
    return descriptions


def document_candidate(
    con: duckdb.DuckDBPyConnection, descriptions: list[ColumnDescription] | None = None
) -> None:
    """Write the `data_dictionary` table into the analytics file attached to `con` as `candidate`,
    which holds the published tables, and comment every table and column with the same text.
    Raises UndocumentedColumns, naming them, when a column has no description, a fractional
    column says nothing of its precision, or a description names no published column."""
    descriptions = load_column_descriptions() if descriptions is None else descriptions
    con.execute(
        "create or replace temp table table_descriptions (table_name varchar, description varchar)"
    )
    con.executemany(
        "insert into table_descriptions values (?, ?)", list(table_descriptions().items())
    )
    con.execute(
        "create or replace temp table column_descriptions (table_name varchar, "
        "column_name varchar, meaning varchar, unit varchar, allowed_values varchar, "
        "precision varchar)"
    )
    con.executemany(
        "insert into column_descriptions values (?, ?, ?, ?, ?, ?)",
        [(d.table, d.column, d.meaning, d.unit, d.allowed, d.precision) for d in descriptions],
    )
    try:
        con.execute(read_sql(DICTIONARY_MODEL))
    finally:
        con.execute("drop table table_descriptions")
        con.execute("drop table column_descriptions")
    rows = con.execute(
        "select table_name, column_name, data_type, meaning, unit, allowed_values, precision, "
        "table_description from candidate.data_dictionary"
    ).fetchall()
    _check_described(rows, descriptions)
    for table, description in {row[0]: row[7] for row in rows}.items():
        con.execute(
            f"comment on table candidate.{quote_identifier(table)} is {quote_literal(description)}"
        )
    for table, column, _, meaning, unit, allowed, precision, _ in rows:
        comment = column_comment(meaning, unit, allowed, precision)
        con.execute(
            f"comment on column candidate.{quote_identifier(table)}.{quote_identifier(column)} "
            f"is {quote_literal(comment)}"
        )


def _check_described(rows: list[tuple], descriptions: list[ColumnDescription]) -> None:
    problems = []
    undescribed = [f"{row[0]}.{row[1]}" for row in rows if row[3] is None or row[7] is None]
    if undescribed:
        problems.append(f"no description of {', '.join(undescribed)}")
    imprecise = [
        f"{row[0]}.{row[1]}"
        for row in rows
        if row[2] in FRACTIONAL_TYPES and row[3] is not None and not row[6]
    ]
    if imprecise:
        problems.append(f"no precision for the fractional column(s) {', '.join(imprecise)}")
    published = {(row[0], row[1]) for row in rows}
    published_names = {column for _, column in published}
    stale = [
        f"{d.table + '.' if d.table else ''}{d.column}"
        for d in descriptions
        if (d.table is None and d.column not in published_names)
        or (d.table is not None and (d.table, d.column) not in published)
    ]
    if stale:
        problems.append(f"descriptions of no published column: {', '.join(stale)}")
    if problems:
        raise UndocumentedColumns(
            f"{COLUMNS_FILE.relative_to(SQL_DIR.parent)}: " + "; ".join(problems)
        )


def export_tables(analytics_file: Path, out_dir: Path, file_format: ExportFormat) -> list[Path]:
    """Write every table of the published file `analytics_file` to `out_dir`, one file each
    (`<table>.parquet` or `<table>.csv`), and return their paths. The rows are the published rows,
    in the order the file stores them (sorting them would double the cost); a suppressed cell
    stays empty. CSV files are UTF-8 with a header row, comma-separated, empty for null and "" for
    an empty text.

    The file is opened read-only, which any number of readers may do at once, and each table is
    written beside its final name and renamed into place, so a tool reading `out_dir` never sees
    half a file."""
    if file_format not in EXPORT_FORMATS:
        raise ValueError(f"unknown format {file_format!r}: one of {', '.join(EXPORT_FORMATS)}")
    if not analytics_file.is_file():
        raise FileNotFoundError(
            f"nothing is published at {analytics_file}: run 'resilience run' first"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with _open_published(analytics_file) as con:
        tables = con.execute(
            "select table_name from duckdb_tables() "
            "where database_name = current_database() order by table_name"
        ).fetchall()
        for (table,) in tables:
            target = out_dir / f"{table}.{file_format}"
            staged = out_dir / f".{target.name}.partial"
            con.execute(
                f"copy {quote_identifier(table)} "
                f"to {quote_literal(str(staged))} ({EXPORT_OPTIONS[file_format]})"
            )
            os.replace(staged, target)
            written.append(target)
    return written


def _open_published(analytics_file: Path) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(analytics_file), read_only=True)
    except duckdb.IOException as error:
        if "lock" not in str(error).lower():
            raise
        raise RuntimeError(
            f"{analytics_file} is held open for writing by another program ({error}); readers "
            "should open it read-only (docs/analysts.md)"
        ) from error
