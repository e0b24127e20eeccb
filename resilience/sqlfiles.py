"""The SQL in `sql/`: plain model files run in layer order, and a few templates rendered per file.

Models are plain `select` statements; the runner wraps each in `create or replace table <name> as`,
or, for a model whose header holds the line `-- materialized: view`, in `create or replace view`:
for models that are far cheaper to compute where they are read than to store.
A model whose header holds `-- materialized: incremental` has rows that depend on one response each
(on its raw row and the definitions): its select reads only the raw responses from
`getvariable('first_new_response_row')` on (a rowid of raw_responses), which is 0 in a whole build.
In an incremental build (the rows before that one are unchanged and already built) the runner
inserts the select's rows into the existing table instead of replacing it.
A model whose header holds `-- materialized: incremental by wave` has rows keyed by wave, each
wave's rows made from that wave's responses alone: its select reads its inputs through the macro
`in_rebuilt_waves(wave)` (`sql/macros/`: the waves listed in `getvariable('rebuilt_waves')`, those
of the new responses, or every wave in a whole build), and the runner replaces just those waves'
rows. The runner creates the macros in `sql/macros/` before it builds any model.
A model with a start model beside it (`<name>__start`) is built to a fixed point: its table starts
as the start model's rows, and its select, which reads its own table, runs again on its result, with
`getvariable('fixed_point_pass')` set to 1, 2, ..., until the result stops changing.
Parameters reach the SQL as DuckDB variables (`getvariable('min_group_size')`), so model files stay
static. Templates (`*.sql.j2`) exist only where the column list comes from an export's header or
from the instrument definitions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Literal, cast, get_args

import duckdb
import jinja2

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
MODEL_LAYERS = ("staging", "intermediate", "marts")
FIXED_POINT_START_SUFFIX = "__start"
# A fixed-point model that has not settled after this many passes has a rule that never settles.
MAX_FIXED_POINT_PASSES = 100
MATERIALIZED_PREFIX = "-- materialized: "
VIEW_DIRECTIVE = MATERIALIZED_PREFIX + "view"
Materialization = Literal["table", "view", "incremental", "incremental by wave"]
MATERIALIZATIONS: tuple[str, ...] = get_args(Materialization)


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(SQL_DIR),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)
_templates.filters["ident"] = quote_identifier
_templates.filters["literal"] = quote_literal


def read_sql(relative_path: str) -> str:
    return (SQL_DIR / relative_path).read_text(encoding="utf-8")


def render_sql(relative_path: str, **context: object) -> str:
    return _templates.get_template(relative_path).render(**context)


def model_paths(layer: str) -> list[Path]:
    return sorted((SQL_DIR / layer).glob("*.sql"))


def create_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the macros the models use (`sql/macros/`, temporary: on this connection only)."""
    for path in model_paths("macros"):
        con.execute(path.read_text(encoding="utf-8"))


def published_model_names() -> list[str]:
    """Every mart is published; nothing outside `sql/marts/` is."""
    return [path.stem for path in model_paths("marts")]


def set_variables(con: duckdb.DuckDBPyConnection, variables: Mapping[str, object]) -> None:
    for name, value in variables.items():
        con.execute(f"set variable {name} = ?", [value])


def model_description(path: Path) -> str:
    """The comment block at the top of a model file: what it holds, its grain and key."""
    lines = [
        line.removeprefix("--").strip()
        for line in _header_lines(path.read_text(encoding="utf-8"))
        if not line.startswith(MATERIALIZED_PREFIX)
    ]
    return " ".join(lines).removeprefix("Published.").strip()


def _header_lines(model_sql: str) -> list[str]:
    lines = []
    for line in model_sql.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line)
    return lines


def materialization(model_sql: str) -> Materialization:
    """How a model is stored: as its header's `-- materialized: <kind>` line says, else a table."""
    for line in _header_lines(model_sql):
        if line.startswith(MATERIALIZED_PREFIX):
            kind = line.removeprefix(MATERIALIZED_PREFIX)
            if kind not in MATERIALIZATIONS:
                raise ValueError(
                    f"unknown materialization {kind!r}: one of {', '.join(MATERIALIZATIONS)}"
                )
            return cast(Materialization, kind)
    return "table"


def models_in_build_order(layers: tuple[str, ...] = MODEL_LAYERS) -> list[Path]:
    """Every model of `layers`, each after the models its SQL names (a fixed-point model also
    after its start model)."""
    paths = {path.stem: path for layer in layers for path in model_paths(layer)}
    graph = {}
    for name, path in paths.items():
        text = path.read_text(encoding="utf-8")
        graph[name] = {
            other
            for other in paths
            if other != name and re.search(rf"\b{re.escape(other)}\b", text)
        }
        if name + FIXED_POINT_START_SUFFIX in paths:
            graph[name].add(name + FIXED_POINT_START_SUFFIX)
    return [paths[name] for name in TopologicalSorter(graph).static_order()]


def rows_digest(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, int | None]:
    """The table's row count and the sum of its row hashes: equal in any row order, and different
    (but for hash collisions) when any row differs."""
    [(rows, row_hashes)] = con.execute(
        f"select count(*), sum(hash(t)) from {quote_identifier(table)} as t"
    ).fetchall()
    return rows, row_hashes


def build_to_fixed_point(con: duckdb.DuckDBPyConnection, name: str, select: str) -> int:
    """Materialize the fixed-point model `name`; return how many passes it took to settle."""
    table, start = quote_identifier(name), quote_identifier(name + FIXED_POINT_START_SUFFIX)
    following = quote_identifier(name + "__next")
    con.execute(f"create or replace table {table} as select * from {start}")
    digest = rows_digest(con, name)
    for fixed_point_pass in range(1, MAX_FIXED_POINT_PASSES + 1):
        set_variables(con, {"fixed_point_pass": fixed_point_pass})
        con.execute(f"create or replace table {following} as {select}")
        con.execute(f"drop table {table}")
        con.execute(f"alter table {following} rename to {table}")
        digest, previous = rows_digest(con, name), digest
        if digest == previous:
            return fixed_point_pass
    raise RuntimeError(f"{name} did not settle in {MAX_FIXED_POINT_PASSES} passes")


def run_models(
    con: duckdb.DuckDBPyConnection,
    layers: tuple[str, ...] = MODEL_LAYERS,
    incremental: bool = False,
) -> list[str]:
    """Materialize every model of `layers`, dependencies first. `incremental`: the models were
    built before from every raw response before rowid `first_new_response_row` (a variable the
    caller sets, with `rebuilt_waves`), so the incremental models only add the rest and the
    models incremental by wave replace only the rows of `rebuilt_waves`; otherwise every model is
    built whole."""
    create_macros(con)
    built = []
    ordered = models_in_build_order(layers)
    names = {path.stem for path in ordered}
    for path in ordered:
        select = path.read_text(encoding="utf-8")
        kind = materialization(select)
        table = quote_identifier(path.stem)
        if path.stem + FIXED_POINT_START_SUFFIX in names:
            build_to_fixed_point(con, path.stem, select)
        elif incremental and kind == "incremental":
            con.execute(f"insert into {table} by name {select}")
        elif incremental and kind == "incremental by wave":
            con.execute(f"delete from {table} where in_rebuilt_waves(wave)")
            con.execute(f"insert into {table} by name {select}")
        else:
            create_or_replace(con, path.stem, "view" if kind == "view" else "table", select)
        built.append(path.stem)
    return built


def create_or_replace(
    con: duckdb.DuckDBPyConnection, name: str, kind: Literal["table", "view"], select: str
) -> None:
    """Create `name` as a table or view of `select`, replacing what has that name, also where a
    model changed from one kind to the other (DuckDB replaces only an object of the same kind)."""
    [(existing_kind,)] = con.execute(
        "select coalesce(any_value(table_type), 'none') from information_schema.tables "
        "where table_catalog = current_database() and table_schema = current_schema() "
        "and table_name = ?",
        [name],
    ).fetchall()
    if existing_kind == ("BASE TABLE" if kind == "view" else "VIEW"):
        con.execute(f"drop {'table' if kind == 'view' else 'view'} {quote_identifier(name)}")
    con.execute(f"create or replace {kind} {quote_identifier(name)} as {select}")
