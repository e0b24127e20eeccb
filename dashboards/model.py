"""Typed containers for what the dashboards read: the published tables and the facts of one run.

The dashboards only ever see published (already suppressed) tables. Reading them goes through this
module so that the rules for interpreting them (which rows may be shown, which band a score is in)
live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import pandas as pd

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "team_indicators": (
        "wave",
        "team_id",
        "indicator",
        "n",
        "value",
        "ci_low",
        "ci_high",
        "suppressed",
    ),
    "org_indicators": ("wave", "indicator", "n", "value", "ci_low", "ci_high", "suppressed"),
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
    """The published tables the dashboards are built from, one DataFrame each."""

    team_indicators: pd.DataFrame
    org_indicators: pd.DataFrame
    teams: pd.DataFrame
    indicator_definitions: pd.DataFrame
    scale_bands: pd.DataFrame
    instruments: pd.DataFrame

    def __post_init__(self) -> None:
        # Fail at the boundary with the table and column named, not deep inside a figure builder.
        problems = [
            f"{table} lacks {', '.join(missing)}"
            for table, columns in REQUIRED_COLUMNS.items()
            if (missing := [c for c in columns if c not in getattr(self, table).columns])
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

    def published_indicators(self) -> set[str]:
        """Indicator ids with at least one row, for a team or the organization."""
        return set(self.team_indicators["indicator"]) | set(self.org_indicators["indicator"])

    def mean_indicators(self) -> list[MeanIndicator]:
        """Every mean indicator with its bands, in the order of `indicator_definitions`."""
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
        return [
            MeanIndicator(
                indicator=str(row.indicator),
                # The scale and its instrument, e.g. "Burnout (ProQOL 5)": three scales are
                # called burnout, and the instrument is what tells them apart.
                name=f"{row.scale_name} ({instrument_names.get(row.instrument_id, '?')})",
                instrument_id=str(row.instrument_id),
                scale_id=str(row.scale_id),
                risk_when=row.risk_when,
                bands=bands_by_indicator.get(row.indicator, ()),
            )
            for row in means.itertuples()
        ]

    def mean_indicator(self, indicator: str) -> MeanIndicator:
        for mean in self.mean_indicators():
            if mean.indicator == indicator:
                return mean
        raise KeyError(f"{indicator!r} is not a mean indicator in indicator_definitions")

    def band_share_indicators(self, mean: MeanIndicator) -> list[tuple[Band, str]]:
        """The published share indicators of `mean`'s bands, in band order, with their band."""
        definitions = self.indicator_definitions
        shares = definitions[
            (definitions["kind"] == "share")
            & (definitions["instrument_id"] == mean.instrument_id)
            & (definitions["scale_id"] == mean.scale_id)
        ]
        share_by_band = dict(zip(shares["band_id"], shares["indicator"], strict=True))
        return [(band, share_by_band[band.id]) for band in mean.bands if band.id in share_by_band]

    def team_display_names(self) -> dict[str, str]:
        """Team id -> name for people to read; names shared by two teams get their id appended.

        Charts use the name as the category, so two teams with one name would silently merge.
        Teams missing from `teams` fall back to their id.
        """
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


def shown_rows(indicators: pd.DataFrame) -> pd.Series:
    """True for rows whose numbers may be shown.

    A row with an unknown suppression flag counts as suppressed: when in doubt, show nothing.
    A suppressed row is never shown, even if an upstream bug left a value in it.
    """
    suppressed = indicators["suppressed"].astype("boolean").fillna(True).astype(bool)
    return ~suppressed & indicators["value"].notna()


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
