"""The model runner: build order, and models built to a fixed point."""

from __future__ import annotations

import duckdb
import pytest

from resilience.sqlfiles import (
    MAX_FIXED_POINT_PASSES,
    VIEW_DIRECTIVE,
    build_to_fixed_point,
    create_or_replace,
    materialization,
    model_description,
    model_paths,
    models_in_build_order,
)

REACHABLE = """
select reach.node from reach
union
select edges.target from reach inner join edges on edges.source = reach.node
"""


def test_fixed_point_model_runs_on_its_own_result_until_it_stops_changing() -> None:
    with duckdb.connect() as con:
        con.execute(
            "create table edges as select * from "
            "(values ('a', 'b'), ('b', 'c'), ('c', 'd'), ('x', 'y')) as e(source, target)"
        )
        con.execute("create table reach__start as select 'a' as node")

        passes = build_to_fixed_point(con, "reach", REACHABLE)

        # b, c and d are reached in passes 1-3; pass 4 adds nothing.
        assert passes == 4
        assert sorted(row[0] for row in con.execute("select node from reach").fetchall()) == [
            "a",
            "b",
            "c",
            "d",
        ]
        tables = {
            row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()
        }
        assert tables == {"edges", "reach__start", "reach"}


def test_fixed_point_pass_number_reaches_the_model() -> None:
    with duckdb.connect() as con:
        con.execute("create table grow__start as select 0 as n")
        select = "select least(getvariable('fixed_point_pass'), 3) as n"
        assert build_to_fixed_point(con, "grow", select) == 4
        assert con.execute("select n from grow").fetchall() == [(3,)]


def test_a_model_that_never_settles_fails_naming_itself() -> None:
    with duckdb.connect() as con:
        con.execute("create table counter__start as select 0 as n")
        with pytest.raises(
            RuntimeError, match=f"counter did not settle in {MAX_FIXED_POINT_PASSES}"
        ):
            build_to_fixed_point(con, "counter", "select n + 1 as n from counter")


def test_fixed_point_model_is_built_after_its_start_and_before_its_readers() -> None:
    order = [path.stem for path in models_in_build_order()]
    hidden = order.index("int_suppression__hidden")
    assert order.index("int_suppression__hidden__start") < hidden
    assert order.index("int_suppression__containment") < hidden
    assert hidden < order.index("int_indicators__suppressed")


def _object_kinds(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(
        con.execute("select table_name, table_type from information_schema.tables").fetchall()
    )


def test_a_model_changes_between_table_and_view_in_an_existing_warehouse() -> None:
    with duckdb.connect() as con:
        con.execute("create table scores as select 1 as score")
        create_or_replace(con, "doubled", "table", "select score * 2 as score from scores")
        assert _object_kinds(con)["doubled"] == "BASE TABLE"

        create_or_replace(con, "doubled", "view", "select score * 2 as score from scores")
        con.execute("insert into scores values (5)")
        assert _object_kinds(con)["doubled"] == "VIEW"
        # A view is computed where it is read: it sees the row added after it was made.
        assert sorted(con.execute("select score from doubled").fetchall()) == [(2,), (10,)]

        create_or_replace(con, "doubled", "table", "select score * 2 as score from scores")
        con.execute("insert into scores values (7)")
        assert _object_kinds(con)["doubled"] == "BASE TABLE"
        assert sorted(con.execute("select score from doubled").fetchall()) == [(2,), (10,)]


def test_view_models_are_marked_in_their_header_and_the_mark_is_not_their_description() -> None:
    views = [
        path
        for layer in ("staging", "intermediate", "marts")
        for path in model_paths(layer)
        if VIEW_DIRECTIVE in path.read_text(encoding="utf-8").splitlines()
    ]
    assert "int_scale_scores__banded" in [path.stem for path in views]
    for view in views:
        assert "materialized" not in model_description(view)
        assert model_description(view)


def test_incremental_models_are_marked_in_their_header_and_an_unknown_mark_is_refused() -> None:
    kinds = {
        path.stem: materialization(path.read_text(encoding="utf-8"))
        for layer in ("staging", "intermediate", "marts")
        for path in model_paths(layer)
    }
    assert kinds["stg_survey__answers"] == "incremental"
    assert kinds["int_scale_scores__scored"] == "incremental by wave"
    assert kinds["int_scale_scores__banded"] == "view"
    assert kinds["team_indicators"] == "table"
    with pytest.raises(ValueError, match="unknown materialization 'incremantal'"):
        materialization("-- A model.\n-- materialized: incremantal\nselect 1")
