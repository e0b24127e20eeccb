"""Typed containers for what the dashboards read: the published tables and the facts of one run.

The dashboards only ever see published (already suppressed) tables. Reading them goes through this
module so that the rules for interpreting them (which rows may be shown, which band a score is in,
which rows a team's own page may receive) live in one place.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd

INDICATOR_COLUMNS = ("wave", "indicator", "n", "value", "ci_low", "ci_high", "suppressed")

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "team_indicators": ("team_id", *INDICATOR_COLUMNS),
    "org_indicators": INDICATOR_COLUMNS,
    "teams": ("team_id", "team_name", "service_line", "parent_unit"),
    "indicator_definitions": (
        "indicator",
        "instrument_id",
        "scale_id",
        "scale_name",
        "kind",
        "band_id",
        "risk_when",
    ),
    "scale_bands": ("indicator", "band_id", "band_order", "lower", "lower_inclusive"),
    "instruments": ("instrument_id", "name", "title", "credit", "licence", "url"),
}

# Tables a published file may or may not hold: each one adds a section to the dashboards when
# present and is left out cleanly when absent. Rows are keyed by team_id, or by group_type and
# group_id, where group_type 'organization' is the whole organization.
GROUP_COLUMNS = ("group_type", "group_id")
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    # One row per wave x group: the roster's headcount, the responses, and a low-rate flag.
    "response_rates": (
        "wave",
        *GROUP_COLUMNS,
        "invited",
        "respondents",
        "response_rate",
        "low_response_rate",
        "suppressed",
    ),
    # One row per wave x scale: Cronbach's alpha in the organization and its warning flag.
    "instrument_reliability": ("wave", "indicator", "n", "alpha", "below_threshold", "suppressed"),
    # One row per wave x team x indicator x rule that fired, with the evidence in words.
    "early_warnings": ("wave", "team_id", "indicator", "rule", "evidence"),
    # One row per wave x group x exposure band x indicator.
    "exposure_effects": (
        *GROUP_COLUMNS,
        "exposure_item",
        "exposure_label",
        "exposure_band",
        "exposure_band_label",
        "exposure_band_order",
        *INDICATOR_COLUMNS,
    ),
    # One row per action in the action log x mean indicator, with the waves around the action.
    "actions": (
        "action_id",
        "team_id",
        "action_date",
        "action",
        "indicator",
        "wave_before",
        "wave_after",
        "value_before",
        "value_after",
        "change_p_value",
        "change_significant",
    ),
    # One row per wave x cut between team and organization (parent unit, service line) x indicator.
    "group_indicators": (*GROUP_COLUMNS, *INDICATOR_COLUMNS),
    # One row per strategy x pair of waves x mean indicator: "what worked here".
    "strategy_effects": (
        "strategy",
        "wave_before",
        "wave_after",
        "indicator",
        "treated_teams",
        "control_teams",
        "effect",
        "effect_ci_low",
        "effect_ci_high",
        "suppressed",
    ),
}
ORGANIZATION_GROUP = "organization"
TEAM_GROUP = "team"

# The order scales are shown in: the instruments as their publishers list their scales; a scale
# added later follows by id. (A published table's rows come in no set order.)
DISPLAY_ORDER = (
    "proqol_cs",
    "proqol_bo",
    "proqol_sts",
    "cbi_personal",
    "cbi_work",
    "cbi_client",
    "brs_resilience",
    "miniz_burnout",
)

# Tables that describe no team: definitions, and the organization's own figures.
TEAMLESS_TABLES = frozenset(
    {
        "org_indicators",
        "indicator_definitions",
        "scale_bands",
        "instruments",
        "instrument_reliability",
        # Compares groups of teams; team pages are written without it.
        "strategy_effects",
    }
)

# What `PublishedTables` works out from the teamless tables alone: a team's tables take it over.
TEAMLESS_CACHES = ("_mean_indicators", "_share_indicators_by_scale", "_indicator_names")
NO_ROWS = np.empty(0, dtype=np.intp)


@dataclass(frozen=True)
class Band:
    id: str
    order: int
    lower: float
    lower_inclusive: bool


@dataclass(frozen=True)
class MeanIndicator:
    """A mean indicator (one scale's average score) and the bands its scores fall into."""

    indicator: str
    name: str
    instrument_id: str
    scale_id: str
    risk_when: Literal["high", "low"]
    bands: tuple[Band, ...]
    # The lowest and highest possible score, where indicator_definitions publishes them.
    score_range: tuple[float, float] | None = None
    # The scale's own name and its instrument's, for short column headings.
    scale_name: str = ""
    instrument_name: str = ""

    def band_of(self, score: float) -> Band:
        """The highest band whose lower bound `score` reaches (inclusive or strictly above)."""
        if not self.bands:
            raise ValueError(f"{self.indicator} has no bands in scale_bands")
        reached = [
            band
            for band in self.bands
            if score > band.lower or (band.lower_inclusive and score == band.lower)
        ]
        # A score below the first bound can only be the scale minimum of an exclusive first band.
        return reached[-1] if reached else self.bands[0]

    def unfavourability(self, band: Band) -> float:
        """0 for the most favourable band, 1 for the least, whichever end of the scale is risky."""
        if len(self.bands) < 2:
            return 0.0
        position = self.bands.index(band) / (len(self.bands) - 1)
        return position if self.risk_when == "high" else 1.0 - position

    def least_favourable_band(self) -> Band:
        return self.bands[-1] if self.risk_when == "high" else self.bands[0]

    def band_range(self, band: Band) -> str:
        """The band's scores in words, e.g. "above 22, below 42" or "42 or more"."""
        position = self.bands.index(band)
        upper = self.bands[position + 1] if position + 1 < len(self.bands) else None
        # The first band's lower bound is the scale minimum: only its upper end says anything.
        lower_text = (
            None
            if position == 0
            else f"{band.lower:g} or more"
            if band.lower_inclusive
            else f"above {band.lower:g}"
        )
        upper_text = (
            None
            if upper is None
            else f"below {upper.lower:g}"
            if upper.lower_inclusive
            else f"up to {upper.lower:g}"
        )
        if lower_text and upper_text:
            return f"{lower_text}, {upper_text}"
        return lower_text or upper_text or "all scores"


@dataclass(frozen=True)
class PublishedTables:
    """The published tables the dashboards are built from, one DataFrame each.

    The first six are always published; the others are None when the published file lacks them.
    """

    team_indicators: pd.DataFrame
    org_indicators: pd.DataFrame
    teams: pd.DataFrame
    indicator_definitions: pd.DataFrame
    scale_bands: pd.DataFrame
    instruments: pd.DataFrame
    response_rates: pd.DataFrame | None = None
    instrument_reliability: pd.DataFrame | None = None
    early_warnings: pd.DataFrame | None = None
    exposure_effects: pd.DataFrame | None = None
    actions: pd.DataFrame | None = None
    group_indicators: pd.DataFrame | None = None
    strategy_effects: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        # Fail at the boundary with the table and column named, not deep inside a figure builder.
        expected = {**REQUIRED_COLUMNS, **OPTIONAL_COLUMNS}
        problems = [
            f"{table} lacks {', '.join(missing)}"
            for table, frame in self.frames()
            if (missing := [c for c in expected[table] if c not in frame.columns])
        ]
        if problems:
            raise ValueError("published tables are incomplete: " + "; ".join(problems))
        # A misspelt direction would silently turn every colour and "worse" the wrong way round.
        definitions = self.indicator_definitions
        unknown = sorted(
            set(definitions.loc[~definitions["kind"].isin(["mean", "share"]), "indicator"])
            | set(definitions.loc[~definitions["risk_when"].isin(["high", "low"]), "indicator"])
        )
        if unknown:
            raise ValueError(
                "indicator_definitions needs kind 'mean'|'share' and risk_when 'high'|'low': "
                + ", ".join(unknown)
            )

    def frames(self) -> Iterator[tuple[str, pd.DataFrame]]:
        """(table name, frame) for every table present."""
        for field in dataclasses.fields(self):
            frame = getattr(self, field.name)
            if frame is not None:
                yield field.name, frame

    def for_team(self, team_id: str) -> PublishedTables:
        """Only what one team's own page may show: its rows and the organization's.

        A team page is written from this and nothing else, so it cannot contain another team's
        name or numbers, nor a cut (service line, unit) that other teams are part of.
        """
        kept = {}
        for name, frame in self.frames():
            if name in TEAMLESS_TABLES:
                kept[name] = frame
            else:
                by_team, organization = self._team_row_positions[name]
                own = by_team.get(team_id, NO_ROWS)
                kept[name] = frame.take(np.union1d(own, organization))
        team = PublishedTables(**kept)
        # Worked out from tables the team gets unchanged: shared, not worked out again per team.
        for name in TEAMLESS_CACHES:
            team.__dict__[name] = getattr(self, name)
        return team

    def team_digests(self, team_ids: Iterable[str]) -> dict[str, str]:
        """For each team, a digest of what `for_team` lets through (its own rows, the
        organization's, and the tables without teams): equal digests, equal team tables, in any
        row order (the marts are stored in none). Each table's rows are hashed once, not once per
        team."""
        shared = hashlib.sha256()
        row_hashes = {}
        for name, frame in self.frames():
            layout = f"{name}:{list(frame.columns)}:{[str(dtype) for dtype in frame.dtypes]};"
            # Object columns may hold lists, which pandas cannot hash: hashed as their text.
            hashable = frame.apply(
                lambda column: column.astype(str) if column.dtype == object else column
            )
            hashes = pd.util.hash_pandas_object(hashable, index=False).to_numpy()
            if name in TEAMLESS_TABLES:
                shared.update(layout.encode())
                shared.update(np.sort(hashes).tobytes())
            else:
                row_hashes[name] = (layout.encode(), hashes)
        digests = {}
        for team_id in team_ids:
            digest = shared.copy()
            for name, (layout, hashes) in row_hashes.items():
                by_team, organization = self._team_row_positions[name]
                digest.update(layout)
                rows = np.union1d(by_team.get(team_id, NO_ROWS), organization)
                digest.update(np.sort(hashes[rows]).tobytes())
            digests[team_id] = digest.hexdigest()
        return digests

    @functools.cached_property
    def _team_row_positions(self) -> dict[str, tuple[dict[str, np.ndarray], np.ndarray]]:
        """For every table that names teams: the positions of each team's own rows, and of the
        organization's rows, which every team may see. Found once, for `for_team` to be asked
        for every team in turn."""
        positions = {}
        for name, frame in self.frames():
            if name in TEAMLESS_TABLES:
                continue
            if "team_id" in frame.columns:
                team_ids = frame["team_id"].astype("string")
                # A null team_id is the organization's (an organization-wide action).
                organization = team_ids.isna()
            elif set(GROUP_COLUMNS) <= set(frame.columns):
                group_types = frame["group_type"].astype("string")
                is_team = (group_types == TEAM_GROUP).fillna(False)
                team_ids = frame["group_id"].astype("string").where(is_team)
                organization = (group_types == ORGANIZATION_GROUP).fillna(False)
            else:
                raise ValueError(f"{name} names no team: cannot tell which rows a team may see")
            by_team = team_ids.groupby(team_ids, dropna=True, sort=False).indices
            positions[name] = (by_team, np.flatnonzero(organization.to_numpy(dtype=bool)))
        return positions

    def latest_wave(self) -> str:
        """The latest wave with any team row: the wave the dashboards report on."""
        return self._latest_wave

    @functools.cached_property
    def _latest_wave(self) -> str:
        if self.team_indicators.empty:
            raise ValueError("no team indicator rows are published")
        return str(max(self.team_indicators["wave"]))

    def reported_team_ids(self) -> list[str]:
        """Teams with at least one shown indicator in the latest wave: the ones with a page."""
        indicators = self.team_indicators
        latest = indicators[indicators["wave"] == self.latest_wave()]
        return sorted(set(latest.loc[shown_rows(latest), "team_id"].astype(str)))

    def published_indicators(self) -> set[str]:
        """Indicator ids with at least one row, for a team or the organization."""
        return set(self.team_indicators["indicator"]) | set(self.org_indicators["indicator"])

    def mean_indicators(self) -> list[MeanIndicator]:
        """Every mean indicator with its bands, in display order (`DISPLAY_ORDER`)."""
        return list(self._mean_indicators)

    @functools.cached_property
    def _mean_indicators(self) -> tuple[MeanIndicator, ...]:
        # Every figure asks for these: worked out once per set of tables.
        bands_by_indicator = {
            indicator: tuple(
                Band(
                    id=str(row.band_id),
                    order=int(row.band_order),
                    lower=float(row.lower),
                    lower_inclusive=bool(row.lower_inclusive),
                )
                for row in rows.sort_values("band_order").itertuples()
            )
            for indicator, rows in self.scale_bands.groupby("indicator", sort=False)
        }
        instrument_names = dict(
            zip(self.instruments["instrument_id"], self.instruments["name"], strict=True)
        )
        means = self.indicator_definitions[self.indicator_definitions["kind"] == "mean"]
        means = means.sort_values(
            "indicator", key=lambda ids: ids.map(_display_position), kind="stable"
        )
        return tuple(
            MeanIndicator(
                indicator=str(row.indicator),
                # The scale and its instrument, e.g. "Burnout (ProQOL 5)": three scales are
                # called burnout, and the instrument is what tells them apart.
                name=f"{row.scale_name} ({instrument_names.get(row.instrument_id, '?')})",
                instrument_id=str(row.instrument_id),
                scale_id=str(row.scale_id),
                risk_when=row.risk_when,
                bands=bands_by_indicator.get(row.indicator, ()),
                score_range=_score_range(row._asdict()),
                scale_name=str(row.scale_name),
                instrument_name=str(instrument_names.get(row.instrument_id, "")),
            )
            for row in means.itertuples()
        )

    def mean_indicator(self, indicator: str) -> MeanIndicator:
        for mean in self.mean_indicators():
            if mean.indicator == indicator:
                return mean
        raise KeyError(f"{indicator!r} is not a mean indicator in indicator_definitions")

    def band_share_indicators(self, mean: MeanIndicator) -> list[tuple[Band, str]]:
        """The published share indicators of `mean`'s bands, in band order, with their band."""
        share_by_band = self._share_indicators_by_scale.get((mean.instrument_id, mean.scale_id), {})
        return [(band, share_by_band[band.id]) for band in mean.bands if band.id in share_by_band]

    @functools.cached_property
    def _share_indicators_by_scale(self) -> dict[tuple[str, str], dict[str, str]]:
        """(instrument id, scale id) -> band id -> the share indicator of that band. Every figure
        with bands asks for them, scale by scale."""
        definitions = self.indicator_definitions
        shares = definitions[definitions["kind"] == "share"]
        by_scale: dict[tuple[str, str], dict[str, str]] = {}
        for instrument_id, scale_id, band_id, indicator in zip(
            shares["instrument_id"],
            shares["scale_id"],
            shares["band_id"],
            shares["indicator"],
            strict=True,
        ):
            by_scale.setdefault((instrument_id, scale_id), {})[band_id] = indicator
        return by_scale

    def indicator_names(self) -> dict[str, str]:
        """Indicator id -> the name charts use for it (scale and instrument); an indicator that
        is no mean goes by its definition's label, or else its scale name."""
        return dict(self._indicator_names)

    @functools.cached_property
    def _indicator_names(self) -> dict[str, str]:
        names = {mean.indicator: mean.name for mean in self.mean_indicators()}
        for row in records(self.indicator_definitions):
            label = row.get("label", row["scale_name"])
            names.setdefault(str(row["indicator"]), "" if pd.isna(label) else str(label))
        return names

    def team_display_names(self) -> dict[str, str]:
        """Team id -> name for people to read; names shared by two teams get their id appended.

        Charts use the name as the category, so two teams with one name would silently merge.
        Teams missing from `teams` fall back to their id.
        """
        return dict(self._team_display_names)

    @functools.cached_property
    def _team_display_names(self) -> dict[str, str]:
        names = {
            str(team_id): str(name)
            for team_id, name in zip(self.teams["team_id"], self.teams["team_name"], strict=True)
        }
        for team_id in self.team_indicators["team_id"].astype(str).unique():
            names.setdefault(team_id, team_id)
        counts = pd.Series(list(names.values())).value_counts()
        return {
            team_id: f"{name} ({team_id})" if counts[name] > 1 else name
            for team_id, name in names.items()
        }


def _display_position(indicator: str) -> tuple[int, str]:
    position = DISPLAY_ORDER.index(indicator) if indicator in DISPLAY_ORDER else len(DISPLAY_ORDER)
    return position, indicator


def _score_range(definition: dict[str, object]) -> tuple[float, float] | None:
    low, high = definition.get("score_min"), definition.get("score_max")
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return None
    return float(low), float(high)


def read_published_tables(analytics_file: Path) -> PublishedTables:
    """Every table the dashboards use from a published analytics file; optional ones if present."""
    with duckdb.connect(str(analytics_file), read_only=True) as con:
        present = {
            name for (name,) in con.execute("select table_name from duckdb_tables()").fetchall()
        }
        missing = sorted(set(REQUIRED_COLUMNS) - present)
        if missing:
            raise ValueError(f"{analytics_file} lacks the published tables {', '.join(missing)}")
        wanted = [name for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if name in present]
        return PublishedTables(
            **{name: con.execute(f"select * from {name}").df() for name in wanted}
        )


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of `frame` as dicts, like `to_dict("records")` but read column by column: pandas
    pays a fixed cost per column and row there that every team page paid several times over."""
    columns = list(frame.columns)
    rows = zip(*(frame[column].tolist() for column in columns), strict=True)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def shown_rows(rows: pd.DataFrame, value_column: str = "value") -> pd.Series:
    """True for rows whose numbers may be shown.

    A row with an unknown suppression flag counts as suppressed: when in doubt, show nothing.
    A suppressed row is never shown, even if an upstream bug left a value in it.
    """
    suppressed = rows["suppressed"]
    # A column of plain booleans has no unknowns: taken as it is, for speed (pages ask often).
    if suppressed.dtype != bool:
        suppressed = suppressed.astype("boolean").fillna(True).astype(bool)
    return ~suppressed & rows[value_column].notna()


@dataclass(frozen=True)
class RunFacts:
    """What the index page says about the run that produced the published tables."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    responses_read: int
    responses_loaded: int
    responses_quarantined: int
    teams_reported: int
    teams_suppressed: int
