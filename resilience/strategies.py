"""Organizational responses ("strategies") read from `strategies/*.toml`, and the rule that says
which of them answer a team's warnings and exposures.

A strategy is data: what a pattern of indicators may mean, what to do about it, the source it
follows (named by title, described in our own words), what it costs a team, and which indicator
should move and when. Adding one needs a TOML file and no code.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from resilience.settings import PROJECT_ROOT

DEFAULT_STRATEGIES = PROJECT_ROOT / "strategies"


class ExposureCondition(BaseModel):
    """At least `at_least` of a team's respondents answered the exposure `item` in one of
    `bands` (exposure band ids of the context module)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item: str
    bands: tuple[str, ...]
    at_least: float = Field(gt=0, le=1)


class MatchRule(BaseModel):
    """A team matches when one of `indicators` warned and, where exposures are listed, at least
    one of them holds for the team."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    indicators: tuple[str, ...] = Field(min_length=1)
    exposures: tuple[ExposureCondition, ...] = ()


class ExpectedMove(BaseModel):
    """Which indicator should move, which way, and by when, if the strategy works."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    indicator: str
    direction: Literal["up", "down"]
    when: str


class Strategy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str
    meaning: str
    what_to_do: str
    source: str
    cost: str
    moves: ExpectedMove
    match: MatchRule


@dataclass(frozen=True)
class TeamSignals:
    """What a strategy is matched on for one team in the latest wave: the indicators with an
    early warning, and the share of the team's respondents in each exposure band shown, keyed
    (item, band)."""

    warned: frozenset[str]
    exposure_shares: Mapping[tuple[str, str], float]


def load_strategies(folder: Path = DEFAULT_STRATEGIES) -> list[Strategy]:
    """Every `*.toml` in `folder`, in file-name order; a bad file fails with its name."""
    strategies = []
    for path in sorted(folder.glob("*.toml")):
        try:
            strategies.append(Strategy(**tomllib.loads(path.read_text(encoding="utf-8"))))
        except (tomllib.TOMLDecodeError, ValueError) as error:
            raise ValueError(f"{path}: {error}") from error
    ids = [strategy.id for strategy in strategies]
    if duplicated := sorted({i for i in ids if ids.count(i) > 1}):
        raise ValueError(f"{folder}: strategy ids used twice: {', '.join(duplicated)}")
    return strategies


def exposure_holds(condition: ExposureCondition, signals: TeamSignals) -> bool:
    share = sum(
        signals.exposure_shares.get((condition.item, band), 0.0) for band in condition.bands
    )
    return share >= condition.at_least


def matches(strategy: Strategy, signals: TeamSignals) -> bool:
    rule = strategy.match
    if not signals.warned.intersection(rule.indicators):
        return False
    return not rule.exposures or any(exposure_holds(c, signals) for c in rule.exposures)


def matching_strategies(strategies: Iterable[Strategy], signals: TeamSignals) -> list[Strategy]:
    return [strategy for strategy in strategies if matches(strategy, signals)]


def strategies_digest(strategies: Sequence[Strategy]) -> str:
    """The strategies as text, for the digests of pages that show them."""
    return "\n".join(strategy.model_dump_json() for strategy in strategies)
