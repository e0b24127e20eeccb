"""`python -m benchmarks.dashboards --teams 500 --waves 3`: the dashboards for a large organization.

Builds published tables of that size in memory (the instruments' real definitions, generated team
and organization rows with some suppressed), writes every page, and prints the time to write them,
the leadership page's size and how long headless Chromium takes to draw it from disk.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from playwright.sync_api import sync_playwright

from dashboards.model import PublishedTables, RunFacts
from dashboards.pages import LEADERSHIP_PAGE, write_dashboards
from resilience.instruments import load_registry
from resilience.sqlfiles import read_sql
from resilience.warehouse import ensure_schema, load_seeds
from tests.browsing import CHROMIUM, CHROMIUM_ARGS, PageVisitor

MIN_GROUP_SIZE = 5
SUPPRESSED_SHARE = 0.08
SERVICE_LINES = 12
PARENT_UNITS = 30


def definition_tables() -> dict[str, pd.DataFrame]:
    """indicator_definitions, scale_bands and instruments from the shipped instrument files,
    made by the marts' own SQL."""
    with duckdb.connect() as con:
        registry = load_registry()
        ensure_schema(con, registry)
        load_seeds(con, registry)
        return {
            name: con.execute(read_sql(f"marts/{name}.sql")).df()
            for name in ("indicator_definitions", "scale_bands", "instruments")
        }


def published_tables(teams: int, waves: int, seed: int) -> PublishedTables:
    rng = np.random.default_rng(seed)
    definitions = definition_tables()
    indicators = definitions["indicator_definitions"]
    wave_ids = [f"{2020 + index // 3}-{1 + 4 * (index % 3):02d}" for index in range(waves)]
    team_ids = [f"T{index:04d}" for index in range(1, teams + 1)]
    roster = pd.DataFrame(
        {
            "team_id": team_ids,
            "team_name": [
                f"Team {index} {rng.choice(['North', 'South', 'East'])}"
                for index in range(1, teams + 1)
            ],
            "service_line": [f"Service line {index % SERVICE_LINES + 1}" for index in range(teams)],
            "parent_unit": [f"Unit {index % PARENT_UNITS + 1}" for index in range(teams)],
        }
    )
    team_rows = _indicator_rows(rng, indicators, wave_ids, team_ids, respondents=(3, 60))
    org_rows = _indicator_rows(rng, indicators, wave_ids, ["all"], respondents=(2000, 2001))
    group_rows = _indicator_rows(
        rng,
        indicators,
        wave_ids,
        sorted(set(roster["service_line"])),
        respondents=(200, 400),
    )
    latest = wave_ids[-1]
    warned = rng.choice(team_ids, size=max(teams // 20, 1), replace=False)
    acted = rng.choice(team_ids, size=max(teams // 10, 1), replace=False)
    first_day = date(2020, 1, 1)
    return PublishedTables(
        team_indicators=team_rows.rename(columns={"group_id": "team_id"}),
        org_indicators=org_rows.drop(columns="group_id"),
        teams=roster,
        **definitions,
        response_rates=_response_rates(rng, roster, latest),
        early_warnings=pd.DataFrame(
            {
                "wave": latest,
                "team_id": warned,
                "indicator": "proqol_sts",
                "rule": "far_worse_than_organization",
                "evidence": "Secondary traumatic stress mean far above the organization",
            }
        ),
        actions=pd.DataFrame(
            {
                "action_id": [f"A{index}" for index in range(len(acted))],
                "team_id": acted,
                "action_date": [
                    first_day + timedelta(days=int(day)) for day in rng.integers(0, 300, len(acted))
                ],
                "action": "Reflective supervision started",
                "indicator": "proqol_sts",
                "wave_before": wave_ids[0],
                "wave_after": wave_ids[1] if waves > 1 else None,
                "value_before": None,
                "value_after": None,
                "change_p_value": None,
                "change_significant": None,
            }
        ),
        group_indicators=group_rows.assign(group_type="service_line"),
        instrument_reliability=_reliability(rng, indicators, wave_ids),
        exposure_effects=_exposure_effects(rng, indicators, latest),
    )


def _indicator_rows(
    rng: np.random.Generator,
    indicators: pd.DataFrame,
    waves: list[str],
    groups: list[str],
    respondents: tuple[int, int],
) -> pd.DataFrame:
    """Every indicator for every group and wave: means within their scale, shares in 0..1, with
    the groups under the minimum group size suppressed."""
    grid = pd.MultiIndex.from_product(
        [waves, groups, indicators["indicator"]], names=["wave", "group_id", "indicator"]
    ).to_frame(index=False)
    grid = grid.merge(indicators[["indicator", "kind"]], on="indicator")
    size = len(grid)
    is_mean = (grid["kind"] == "mean").to_numpy()
    low = np.where(is_mean, 10.0, 0.0)
    high = np.where(is_mean, 50.0, 1.0)
    grid["n"] = rng.integers(*respondents, size)
    grid["value"] = low + (high - low) * rng.uniform(0.2, 0.8, size)
    half = (high - low) * rng.uniform(0.02, 0.08, size)
    grid["ci_low"] = grid["value"] - half
    grid["ci_high"] = grid["value"] + half
    grid["suppressed"] = (grid["n"] < MIN_GROUP_SIZE) | (rng.uniform(size=size) < SUPPRESSED_SHARE)
    hidden = grid["suppressed"]
    grid.loc[hidden, ["n", "value", "ci_low", "ci_high"]] = None
    return grid.drop(columns="kind")


def _response_rates(rng: np.random.Generator, roster: pd.DataFrame, wave: str) -> pd.DataFrame:
    invited = rng.integers(8, 80, len(roster))
    respondents = (invited * rng.uniform(0.35, 0.95, len(roster))).astype(int)
    rate = respondents / invited
    return pd.DataFrame(
        {
            "wave": wave,
            "group_type": "team",
            "group_id": roster["team_id"],
            "invited": invited,
            "respondents": respondents,
            "response_rate": rate,
            "low_response_rate": rate < 0.6,
            "suppressed": False,
        }
    )


def _reliability(
    rng: np.random.Generator, indicators: pd.DataFrame, waves: list[str]
) -> pd.DataFrame:
    means = indicators.loc[indicators["kind"] == "mean", "indicator"]
    grid = pd.MultiIndex.from_product([waves, means], names=["wave", "indicator"]).to_frame(
        index=False
    )
    grid["n"] = 1900
    grid["alpha"] = rng.uniform(0.55, 0.92, len(grid))
    grid["below_threshold"] = grid["alpha"] < 0.6
    grid["suppressed"] = False
    return grid


def _exposure_effects(
    rng: np.random.Generator, indicators: pd.DataFrame, wave: str
) -> pd.DataFrame:
    """Three exposures of three bands each for the compassion-fatigue means, organization only."""
    watched = ["proqol_bo", "proqol_sts", "cbi_client"]
    rows = [
        {
            "wave": wave,
            "group_type": "organization",
            "group_id": "all",
            "exposure_item": f"ctx_exposure_{exposure}",
            "exposure_label": f"Exposure {exposure}",
            "exposure_band": f"band_{band}",
            "exposure_band_label": f"Band {band}",
            "exposure_band_order": band,
            "indicator": indicator,
            "n": 300,
            "value": 20 + 4 * band + rng.uniform(-1, 1),
            "suppressed": False,
        }
        for exposure in range(1, 4)
        for band in range(1, 4)
        for indicator in watched
        if indicator in set(indicators["indicator"])
    ]
    effects = pd.DataFrame(rows)
    effects["ci_low"] = effects["value"] - 1.5
    effects["ci_high"] = effects["value"] + 1.5
    return effects


def draw_seconds(page_path: Path) -> float:
    """From navigation to every figure drawn, by the page's own clock, in headless Chromium."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            with PageVisitor(browser) as visitor:
                visit = visitor.visit(page_path)
                return visit.page.evaluate("performance.now()") / 1000
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboards", description=__doc__)
    parser.add_argument("--teams", type=int, default=500)
    parser.add_argument("--waves", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="folder for the pages (default: a temp folder)")
    arguments = parser.parse_args(argv)

    tables = published_tables(arguments.teams, arguments.waves, arguments.seed)
    now = datetime.now(UTC)
    run = RunFacts("benchmark", now, now, 0, 0, 0, len(tables.reported_team_ids()), 0)
    with tempfile.TemporaryDirectory() as temporary:
        out_dir = arguments.out or Path(temporary)
        started = time.perf_counter()
        written = write_dashboards(out_dir, tables, run, MIN_GROUP_SIZE)
        write_seconds = time.perf_counter() - started
        leadership = out_dir / LEADERSHIP_PAGE
        team_pages = [path for path in written if path.parent.name == "teams"]
        print(f"teams {arguments.teams}, waves {arguments.waves}")
        print(
            f"pages written: {len(written) - 1} ({len(team_pages)} team pages)"
            f" in {write_seconds:.1f} s"
        )
        print(
            f"leadership page: {leadership.stat().st_size / 2**20:.2f} MiB"
            f" (plus the shared plotly.min.js)"
        )
        if team_pages:
            largest = max(path.stat().st_size for path in team_pages)
            print(f"largest team page: {largest / 2**20:.2f} MiB")
        print(f"leadership page drawn in Chromium: {draw_seconds(leadership):.2f} s")


if __name__ == "__main__":
    main()
