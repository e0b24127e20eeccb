"""Play the attacker on a real run of the sample: from everything published (every table in
analytics.duckdb, its Parquet and CSV copies, and the numbers in the dashboards), try to recover a
suppressed count or mean by differencing containers and what is shown inside them, across cuts and
waves. Nothing recovered may describe fewer than the minimum group size."""

from __future__ import annotations

import bisect
import csv
import json
import math
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from resilience.instruments import Registry
from resilience.settings import Settings, load_settings
from tests.conftest import SampleRun, make_project, run_stages

# A group as the attacker names it: ("team", id), ("parent_unit", name), ("service_line", name),
# (<role cut>, label), ("organization", "all"), ("organization_by", item, band) or
# ("team_by", item, team, band).
Group = tuple[str, ...]
CellKey = tuple[str, str]  # wave, indicator (a mean indicator, or "response_rate")


@dataclass(frozen=True)
class Cell:
    n: int
    total: float  # mean x n: what a difference of sums gives away


@dataclass(frozen=True)
class Recovery:
    attack: str
    wave: str
    indicator: str
    n: int
    mean: float | None


@dataclass
class Published:
    shown: dict[CellKey, dict[Group, Cell]]
    hidden: dict[CellKey, set[Group]]
    containers: dict[Group, set[Group]]  # every group -> the groups the attacker knows contain it
    min_group_size: int

    def kind(self, group: Group) -> tuple[str, ...]:
        """Groups of one kind split their container: teams, parent units, one exposure item's
        bands of the organization or of a team..."""
        return group[:2] if group[0] in ("organization_by", "team_by") else group[:1]


def read_published(analytics: Path, min_group_size: int) -> Published:
    shown: dict[CellKey, dict[Group, Cell]] = defaultdict(dict)
    hidden: dict[CellKey, set[Group]] = defaultdict(set)

    def record(key: CellKey, group: Group, n: int | None, value: float | None) -> None:
        if n is None:
            hidden[key].add(group)
        else:
            shown[key][group] = Cell(n, (value or 0.0) * n)

    with duckdb.connect(str(analytics), read_only=True) as con:
        means = "(select indicator from indicator_definitions where kind = 'mean')"
        for wave, team, indicator, n, value in con.execute(
            f"select wave, team_id, indicator, n, value from team_indicators "
            f"where indicator in {means}"
        ).fetchall():
            record((wave, indicator), ("team", team), n, value)
        for wave, indicator, n, value in con.execute(
            f"select wave, indicator, n, value from org_indicators where indicator in {means}"
        ).fetchall():
            record((wave, indicator), ("organization", "all"), n, value)
        for wave, group_type, group_id, indicator, n, value in con.execute(
            f"select wave, group_type, group_id, indicator, n, value from group_indicators "
            f"where indicator in {means}"
        ).fetchall():
            record((wave, indicator), (group_type, group_id), n, value)
        for wave, group_type, group_id, item, band, indicator, n, value in con.execute(
            "select wave, group_type, group_id, exposure_item, exposure_band, indicator, n, value "
            f"from exposure_effects where indicator in {means}"
        ).fetchall():
            group = (
                ("organization_by", item, band)
                if group_type == "organization"
                else ("team_by", item, group_id, band)
            )
            record((wave, indicator), group, n, value)
        for wave, group_type, group_id, respondents in con.execute(
            "select wave, group_type, group_id, respondents from response_rates"
        ).fetchall():
            record((wave, "response_rate"), (group_type, group_id), respondents, None)
        teams = con.execute("select team_id, parent_unit, service_line from teams").fetchall()
        role_cuts = con.execute(
            "select distinct group_type, group_id from group_indicators "
            "where group_type not in ('parent_unit', 'service_line')"
        ).fetchall()

    organization: Group = ("organization", "all")
    containers: dict[Group, set[Group]] = defaultdict(set)
    for team, parent_unit, service_line in teams:
        team_containers = {organization}
        if parent_unit is not None:
            team_containers.add(("parent_unit", parent_unit))
            containers[("parent_unit", parent_unit)].add(organization)
        if service_line is not None:
            team_containers.add(("service_line", service_line))
            containers[("service_line", service_line)].add(organization)
        containers[("team", team)] = team_containers
    for parent_unit in {unit for _, unit, _ in teams if unit is not None}:
        lines = {line for _, unit, line in teams if unit == parent_unit}
        if len(lines) == 1 and None not in lines:
            containers[("parent_unit", parent_unit)].add(("service_line", lines.pop()))
    for role_cut in role_cuts:
        containers[role_cut].add(organization)
    every_group = {group for groups in [*shown.values(), *hidden.values()] for group in groups}
    for group in every_group:
        if group[0] == "organization_by":
            containers[group].add(organization)
        if group[0] == "team_by":
            _, item, team, band = group
            containers[group] |= {("team", team), ("organization_by", item, band)}
            containers[group] |= containers[("team", team)]
    return Published(shown, hidden, containers, min_group_size)


def inside(published: Published, container: Group, groups: set[Group]) -> set[Group]:
    return {group for group in groups if container in published.containers[group]}


def differences(published: Published) -> Iterator[tuple[str, CellKey, Cell, Cell]]:
    """(attack, cell key, container, what the shown groups inside it add up to)."""
    for key, cells in published.shown.items():
        groups = set(cells) | published.hidden[key]
        for container, container_cell in cells.items():
            contained = inside(published, container, groups)
            by_kind: dict[tuple[str, ...], set[Group]] = defaultdict(set)
            for group in contained:
                by_kind[published.kind(group)].add(group)
            # The container minus every shown group of one kind inside it.
            for kind, members in by_kind.items():
                shown_members = [cells[group] for group in members if group in cells]
                yield (
                    f"{container} minus its shown {kind}",
                    key,
                    container_cell,
                    Cell(sum(c.n for c in shown_members), sum(c.total for c in shown_members)),
                )
            # The container minus one shown group inside it (overlapping cuts).
            for group in contained & set(cells):
                yield f"{container} minus {group}", key, container_cell, cells[group]
            # The container minus its shown middle groups and, inside each hidden middle group,
            # the shown groups of the next kind down (a hidden parent unit opened by its teams).
            for middle_kind, members in by_kind.items():
                for lower_kind, lower_members in by_kind.items():
                    if lower_kind == middle_kind:
                        continue
                    parts = [cells[group] for group in members if group in cells]
                    for middle in members - set(cells):
                        parts += [
                            cells[group]
                            for group in inside(published, middle, lower_members)
                            if group in cells
                        ]
                    if parts:
                        yield (
                            f"{container} minus shown {middle_kind}, hidden ones opened by "
                            f"{lower_kind}",
                            key,
                            container_cell,
                            Cell(sum(c.n for c in parts), sum(c.total for c in parts)),
                        )


def recoveries(published: Published) -> list[Recovery]:
    found = []
    for attack, (wave, indicator), container, subtracted in differences(published):
        n = container.n - subtracted.n
        if n != 0 and n < published.min_group_size:
            mean = (container.total - subtracted.total) / n if n > 0 else None
            found.append(Recovery(attack, wave, indicator, n, mean))
    return found


SAME_GROUP = {
    "team_indicators": "earlier.team_id = later.team_id",
    "org_indicators": "true",
    "group_indicators": (
        "earlier.group_type = later.group_type and earlier.group_id = later.group_id"
    ),
}


def previous_values_of_hidden_cells(analytics: Path) -> list[tuple]:
    """Rows whose comparison with the previous wave is shown though either cell is hidden."""
    leaks = []
    with duckdb.connect(str(analytics), read_only=True) as con:
        for table, same_group in SAME_GROUP.items():
            leaks += con.execute(
                f"select later.* from {table} as later "
                f"left join {table} as earlier on {same_group} "
                "and earlier.wave = later.previous_wave and earlier.indicator = later.indicator "
                "where (later.previous_value is not null or later.change is not null) "
                "and (earlier.suppressed is distinct from false or later.suppressed)"
            ).fetchall()
    return leaks


def small_published_rows(analytics: Path, min_group_size: int) -> dict[str, int]:
    """Per table, rows that show a count under the minimum, or a suppressed row with a number."""
    counts = {}
    with duckdb.connect(str(analytics), read_only=True) as con:
        tables = con.execute(
            "select table_name, list(column_name) from information_schema.columns "
            "group by table_name"
        ).fetchall()
        for table, columns in tables:
            for column in ("n", "respondents", "treated_respondents", "control_respondents"):
                if column in columns:
                    [(small,)] = con.execute(
                        f"select count(*) from {table} where {column} < ?", [min_group_size]
                    ).fetchall()
                    counts[f"{table}.{column}"] = small
            if "suppressed" in columns:
                numbers = ["n", "value", "respondents", "response_rate", "alpha", "effect"]
                shown_numbers = " or ".join(f"{c} is not null" for c in numbers if c in columns)
                [(leaky,)] = con.execute(
                    f"select count(*) from {table} where suppressed and ({shown_numbers})"
                ).fetchall()
                counts[f"{table} suppressed with numbers"] = leaky
    return counts


NEW_PLOT = re.compile(r"Plotly\.newPlot\(\s*\"[^\"]+\",\s*")
# Keys whose numbers draw rather than report: sizes, positions of panels, colours.
STYLING_KEYS = {
    "domain",
    "font",
    "marker",
    "line",
    "width",
    "opacity",
    "colorbar",
    "colorscale",
    "zmin",
    "zmax",
    "zmid",
    "gauge",
}


def numbers_in(node: object) -> Iterator[float]:
    if isinstance(node, dict):
        for key, child in node.items():
            if key not in STYLING_KEYS:
                yield from numbers_in(child)
    elif isinstance(node, list):
        for child in node:
            yield from numbers_in(child)
    elif isinstance(node, int | float) and not isinstance(node, bool):
        yield float(node)


def trace_numbers(trace: dict) -> Iterator[float]:
    """A trace's numbers as the reader gets them. An interval bar is drawn as distances from its
    point, so the bar's ends are what it reports; the other axis only places the point (waves at
    0, 1, 2 plus a small offset per series). Action stars only mark where an action falls on a
    team's line (between two waves, halfway up): their places report nothing, their hover text
    does."""
    if trace.get("marker", {}).get("symbol") == "star":
        yield from numbers_in({key: value for key, value in trace.items() if key not in "xy"})
        return
    for axis in ("x", "y"):
        bars = trace.get(f"error_{axis}")
        if bars is None:
            continue
        # A hidden point is drawn as a gap (null), with no bar.
        points = trace[axis]
        yield from numbers_in(points)
        for point, above, below in zip(points, bars["array"], bars["arrayminus"], strict=True):
            if point is not None and above is not None:
                yield from (point + above, point - below)
        other = {"x": "y", "y": "x"}[axis]
        drawn = {key: value for key, value in trace.items() if key not in (axis, other)}
        drawn.pop(f"error_{axis}")
        yield from numbers_in(drawn)
        return
    yield from numbers_in(trace)


def dashboard_numbers(dashboards: Path) -> set[float]:
    """Every number the figures on every page report."""
    decoder = json.JSONDecoder()
    numbers: set[float] = set()
    for page in sorted(dashboards.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        for match in NEW_PLOT.finditer(text):
            traces, _ = decoder.raw_decode(text, match.end())
            for trace in traces:
                numbers.update(trace_numbers(trace))
    return numbers


def published_numbers(analytics: Path) -> set[float]:
    numbers: set[float] = set()
    with duckdb.connect(str(analytics), read_only=True) as con:
        columns = con.execute(
            "select table_name, column_name from information_schema.columns "
            "where data_type in ('DOUBLE', 'BIGINT', 'INTEGER', 'HUGEINT', 'FLOAT') "
            "or data_type like 'DECIMAL%'"
        ).fetchall()
        for table, column in columns:
            numbers.update(
                float(value)
                for (value,) in con.execute(
                    f'select distinct "{column}" from {table} where "{column}" is not null'
                ).fetchall()
            )
    return numbers


def unexplained(numbers: set[float], published: set[float]) -> set[float]:
    """Dashboard numbers that are no published number, nor one shown as a percentage."""
    known = sorted(published | {value * 100 for value in published})

    def is_known(number: float) -> bool:
        position = bisect.bisect_left(known, number - 1e-9 * max(1.0, abs(number)))
        return position < len(known) and math.isclose(
            known[position], number, rel_tol=1e-9, abs_tol=1e-12
        )

    return {number for number in numbers if not is_known(number)}


def add_tiny_team(project: Path) -> None:
    """Move two of T001's respondents in the latest wave into a new team of three invited, in
    T001's parent unit: a team far under the minimum, next to the teams it could be recovered from.
    """
    inputs = project.parent / "inputs"
    export = inputs / "exports" / "staff_survey_2026-01.csv"
    with export.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    team_column = rows[0].index("team")
    moved = 0
    for row in rows[3:]:
        if row[team_column] == "T001" and moved < 2:
            row[team_column] = "T099"
            moved += 1
    with export.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    roster = inputs / "roster.csv"
    with roster.open(encoding="utf-8", newline="") as handle:
        roster_rows = list(csv.DictReader(handle))
    [t001] = [r for r in roster_rows if r["team_id"] == "T001" and r["wave"] == "2026-01"]
    with roster.open("a", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerow(
            ["T099", "Tiny team", t001["service_line"], t001["parent_unit"], "2026-01", 3]
        )


def run_sample(
    directory: Path, registry: Registry, min_group_size: int, tiny_team: bool
) -> Settings:
    config = make_project(directory)
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "min_group_size = 5", f"min_group_size = {min_group_size}"
        ),
        encoding="utf-8",
    )
    if tiny_team:
        add_tiny_team(config)
    settings = load_settings(config)
    run_stages(settings, registry)
    return settings


def strategy_effects_beyond_shown_cells(analytics: Path) -> list[tuple]:
    """Rows of strategy_effects that published team means do not explain: each shown row's
    changes must be the mean change of teams whose cells are shown in both waves (the treated
    teams from the action log, the controls every other shown team that never started it), so
    that no suppressed cell enters a published number."""
    with duckdb.connect(str(analytics), read_only=True) as con:
        return con.execute(
            """
            with started as (
                select distinct strategy, team_id, wave_before, wave_after from actions
                where strategy is not null and wave_after is not null
            ),
            changes as (
                select
                    effects.strategy, effects.wave_before, effects.wave_after, effects.indicator,
                    later.value - earlier.value as change,
                    exists (
                        select 1 from started where started.strategy = effects.strategy
                        and started.team_id = later.team_id
                        and started.wave_before = effects.wave_before
                    ) as treated,
                    exists (
                        select 1 from started where started.strategy = effects.strategy
                        and started.team_id = later.team_id
                        and started.wave_after <= effects.wave_after
                    ) as ever_started
                from strategy_effects as effects
                inner join team_indicators as later
                    on later.wave = effects.wave_after and later.indicator = effects.indicator
                    and not later.suppressed
                inner join team_indicators as earlier
                    on earlier.wave = effects.wave_before and earlier.team_id = later.team_id
                    and earlier.indicator = effects.indicator and not earlier.suppressed
                where not effects.suppressed
            ),
            recomputed as (
                select strategy, wave_before, wave_after, indicator,
                    avg(change) filter (where treated) as treated_change,
                    avg(change) filter (where not ever_started) as control_change,
                    count(*) filter (where treated) as treated_teams,
                    count(*) filter (where not ever_started) as control_teams
                from changes group by all
            )
            select effects.* from strategy_effects as effects
            left join recomputed using (strategy, wave_before, wave_after, indicator)
            where
                (effects.suppressed and (effects.effect is not null
                    or effects.treated_change is not null))
                or (not effects.suppressed and (
                    recomputed.treated_teams is distinct from effects.treated_teams
                    or recomputed.control_teams is distinct from effects.control_teams
                    or abs(recomputed.treated_change - effects.treated_change) > 1e-9
                    or abs(recomputed.control_change - effects.control_change) > 1e-9
                    or abs(effects.effect - (effects.treated_change - effects.control_change))
                        > 1e-9))
            """
        ).fetchall()


def assert_nothing_recoverable(settings: Settings, min_group_size: int) -> Published:
    analytics = settings.analytics_path
    assert set(small_published_rows(analytics, min_group_size).values()) == {0}
    assert previous_values_of_hidden_cells(analytics) == []
    assert strategy_effects_beyond_shown_cells(analytics) == []
    published = read_published(analytics, min_group_size)
    assert published.hidden and published.shown
    assert recoveries(published) == []
    dashboards = settings.dashboards_dir
    numbers = dashboard_numbers(dashboards)
    assert len(numbers) > 100
    assert unexplained(numbers, published_numbers(analytics)) == set()
    return published


def test_nothing_about_fewer_than_five_can_be_recovered_from_the_sample(
    sample_run: SampleRun,
) -> None:
    published = assert_nothing_recoverable(sample_run.settings, 5)
    # The sample's small teams are hidden, and so is at least one of their siblings.
    hidden_teams = {group for groups in published.hidden.values() for group in groups}
    assert sum(1 for group in hidden_teams if group[0] == "team") >= 4


def load_exported_tables(folder: Path, file_format: str, database: Path) -> Path:
    """The exported files of one format as an attacker loads them: one table per file, with the
    types DuckDB detects."""
    reader = {"parquet": "read_parquet", "csv": "read_csv"}[file_format]
    with duckdb.connect(str(database)) as con:
        for path in sorted(folder.glob(f"*.{file_format}")):
            con.execute(f"create table {path.stem} as select * from {reader}('{path}')")
    return database


@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_the_parquet_and_csv_copies_give_away_nothing_more(
    sample_run: SampleRun, tmp_path: Path, file_format: str
) -> None:
    exported = load_exported_tables(
        sample_run.settings.tables_dir / file_format, file_format, tmp_path / "exported.duckdb"
    )
    assert set(small_published_rows(exported, 5).values()) == {0}
    assert previous_values_of_hidden_cells(exported) == []
    published = read_published(exported, 5)
    # The attacker learns from the copies exactly what the analytics file tells, and no more.
    assert published == read_published(sample_run.settings.analytics_path, 5)
    assert recoveries(published) == []
    assert published_numbers(exported) == published_numbers(sample_run.settings.analytics_path)


@pytest.mark.e2e
@pytest.mark.parametrize(("min_group_size", "tiny_team"), [(5, True), (8, False)])
def test_nothing_can_be_recovered_with_a_tiny_team_or_a_higher_minimum(
    tmp_path: Path, registry: Registry, min_group_size: int, tiny_team: bool
) -> None:
    settings = run_sample(tmp_path, registry, min_group_size, tiny_team)
    published = assert_nothing_recoverable(settings, min_group_size)
    if tiny_team:
        assert ("team", "T099") in published.hidden[("2026-01", "response_rate")]
