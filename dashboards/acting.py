"""From numbers to action: which teams to act on first and why, in plain words, and which
organizational responses (strategies) answer a team's warnings and exposures.

The severity rule (docs/acting.md says the same for readers):

* teams with at least one early warning in the latest wave come before teams without;
* within each group, teams are ordered by a severity score, the sum of
  - `WARNING_POINTS` for every warning (a scale and a rule that fired),
  - for every scale on which the team is clearly worse than the organization (its 95% interval
    lies wholly on the worse side of the organization's value): how far, in half-widths of the
    team's interval, up to `SURENESS_CAP` (further and surer counts more),
  - `HIGH_BAND_POINTS` times the largest share of the team's respondents in any scale's least
    favourable band,
  - `WORSENED_POINTS` for every scale that clearly worsened since the previous wave;
* ties go by team name.

Only shown (not suppressed) numbers enter the score, so the order tells nothing the published
tables do not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from dashboards.model import (
    DISPLAY_ORDER,
    TEAM_GROUP,
    MeanIndicator,
    PublishedTables,
    records,
    shown_rows,
)
from dashboards.plotting import (
    Reading,
    clear_change,
    less_favourable,
    percent,
    readings,
    score,
    score_format,
    signed_change,
)
from resilience.strategies import Strategy, TeamSignals, matching_strategies

WARNING_POINTS = 3.0
SURENESS_CAP = 3.0
HIGH_BAND_POINTS = 2.0
WORSENED_POINTS = 1.0
# How many scales a row of "Where to act" names as its reasons.
TOP_REASONS = 3


@dataclass
class ScaleConcern:
    """What is wrong with one scale of one team, as fragments of a sentence and their weight."""

    mean: MeanIndicator
    points: float = 0.0
    fragments: list[str] = field(default_factory=list)
    warned: bool = False

    def sentence(self) -> str:
        return f"{self.mean.name}: {'; '.join(self.fragments)}"


@dataclass(frozen=True)
class TeamPriority:
    """One row of "Where to act"."""

    team_id: str
    name: str
    service_line: str
    page: str
    severity: float
    warning_count: int
    reasons: tuple[str, ...]
    warnings: tuple[dict[str, str], ...]
    strategies: tuple[Strategy, ...]


def where_to_act(
    tables: PublishedTables,
    strategies: Sequence[Strategy],
    team_pages: Mapping[str, str],
    rule_names: Mapping[str, str],
    top_reasons: int | None = TOP_REASONS,
) -> list[TeamPriority]:
    """Every team with a shown score in the latest wave that has a warning or a scale clearly
    worse than the organization's, most severe first (see the module's rule), each with its
    `top_reasons` most severe scales in words (None: every scale of concern)."""
    wave = tables.latest_wave()
    team_rows = tables.team_indicators
    latest = team_rows[team_rows["wave"] == wave]
    team_readings = readings(latest, ("team_id", "indicator"))
    org = tables.org_indicators
    org_readings = readings(org[org["wave"] == wave], ("indicator",))
    warnings = _latest_warnings(tables)
    names = tables.team_display_names()
    service_lines = {
        str(row["team_id"]): "" if pd.isna(row["service_line"]) else str(row["service_line"])
        for row in records(tables.teams)
    }
    signals = team_signals(tables)
    priorities = []
    for team_id in sorted({key[0] for key, reading in team_readings.items() if reading}):
        team_warnings = warnings.get(team_id, [])
        concerns = _concerns(tables, team_id, team_readings, org_readings, team_warnings)
        severity = sum(concern.points for concern in concerns)
        if not team_warnings and severity == 0:
            continue
        ranked = sorted(concerns, key=lambda concern: (-concern.warned, -concern.points))
        priorities.append(
            TeamPriority(
                team_id=team_id,
                name=names.get(team_id, team_id),
                service_line=service_lines.get(team_id, ""),
                page=team_pages.get(team_id, ""),
                severity=round(severity, 2),
                warning_count=len(team_warnings),
                reasons=tuple(c.sentence() for c in ranked[:top_reasons] if c.fragments),
                warnings=tuple(
                    _warning_row(tables, row, rule_names)
                    for row in sorted(team_warnings, key=lambda row: _scale_order(tables, row))
                ),
                strategies=tuple(matching_strategies(strategies, signals[team_id])),
            )
        )
    return sorted(
        priorities,
        key=lambda row: (row.warning_count == 0, -row.severity, row.name.casefold()),
    )


def team_exposure_shares(tables: PublishedTables) -> dict[str, dict[tuple[str, str], float]]:
    """Per team, the share of its respondents in each exposure band shown in the latest wave
    (out of the respondents in the item's shown bands). A suppressed band counts as unknown,
    never as zero people."""
    effects = tables.exposure_effects
    if effects is None or effects.empty:
        return {}
    latest = effects[
        (effects["wave"] == tables.latest_wave())
        & (effects["group_type"] == TEAM_GROUP)
        & shown_rows(effects)
    ]
    # Each indicator counts the band's respondents scored on it: the largest is the band's size.
    sizes = latest.groupby(["group_id", "exposure_item", "exposure_band"])["n"].max().reset_index()
    totals = sizes.groupby(["group_id", "exposure_item"])["n"].transform("sum")
    shares: dict[str, dict[tuple[str, str], float]] = {}
    for row, total in zip(records(sizes), totals.tolist(), strict=True):
        key = (str(row["exposure_item"]), str(row["exposure_band"]))
        shares.setdefault(str(row["group_id"]), {})[key] = float(row["n"]) / float(total)
    return shares


def team_signals(tables: PublishedTables) -> defaultdict[str, TeamSignals]:
    """Per team, what strategies are matched on: its warned indicators in the latest wave and its
    exposure shares (a team with neither gets empty signals)."""
    warnings = _latest_warnings(tables)
    exposures = team_exposure_shares(tables)
    return defaultdict(
        lambda: TeamSignals(frozenset(), {}),
        {
            team_id: TeamSignals(
                frozenset(str(row["indicator"]) for row in warnings.get(team_id, [])),
                exposures.get(team_id, {}),
            )
            for team_id in {*warnings, *exposures}
        },
    )


def organization_scores(tables: PublishedTables, min_group_size: int) -> list[dict[str, object]]:
    """The organization's scores in the latest wave in plain words, each with its statistics
    (interval, n, earlier value) for a reader who opens them."""
    org = tables.org_indicators
    wave = tables.latest_wave()
    waves = sorted(set(org["wave"]))
    previous = max((w for w in waves if w < wave), default=None)
    by_wave = readings(org, ("wave", "indicator"))
    rows = []
    for mean in tables.mean_indicators():
        if (wave, mean.indicator) not in by_wave:
            continue
        reading = by_wave[(wave, mean.indicator)]
        if reading is None:
            rows.append(
                {
                    "name": mean.name,
                    "shown": False,
                    "tone": "unclear",
                    "words": f"fewer than {min_group_size} respondents: not shown",
                }
            )
            continue
        earlier = by_wave.get((previous, mean.indicator)) if previous else None
        change = clear_change(mean, reading, earlier, previous) if previous else None
        if previous is None:
            words, tone = "first wave: no change to show", "unclear"
        elif earlier is None:
            words, tone = f"not shown in {previous}", "unclear"
        elif change is None:
            words, tone = f"no clear change since {previous}", "unclear"
        else:
            tone = "worse" if change == "worsened" else "better"
            words = f"clearly {tone} than in {previous}"
        rows.append(
            {
                "name": mean.name,
                "shown": True,
                "value": score(reading.value),
                "band": mean.band_of(reading.value).id,
                "words": words,
                "tone": tone,
                "interval": _interval_text(reading),
                "n": "" if reading.n is None else str(reading.n),
                "earlier": "" if earlier is None else f"{score(earlier.value)} in {previous}",
                "change": ""
                if earlier is None
                else signed_change(reading.value - earlier.value, score, reading.value),
            }
        )
    return rows


def _interval_text(reading: Reading) -> str:
    if reading.ci_low is None or reading.ci_high is None:
        return "not available"
    return f"{score(reading.ci_low)} to {score(reading.ci_high)}"


def _latest_warnings(tables: PublishedTables) -> dict[str, list[dict[str, object]]]:
    if tables.early_warnings is None:
        return {}
    warnings = tables.early_warnings
    by_team: dict[str, list[dict[str, object]]] = {}
    for row in records(warnings[warnings["wave"] == tables.latest_wave()]):
        by_team.setdefault(str(row["team_id"]), []).append(row)
    return by_team


def _scale_order(tables: PublishedTables, row: Mapping[str, object]) -> tuple[int, str]:
    order = [mean.indicator for mean in tables.mean_indicators()]
    indicator = str(row["indicator"])
    return (order.index(indicator) if indicator in order else len(order), str(row["rule"]))


def _warning_row(
    tables: PublishedTables, row: Mapping[str, object], rule_names: Mapping[str, str]
) -> dict[str, str]:
    indicator = str(row["indicator"])
    rule = str(row["rule"])
    return {
        "indicator": tables.indicator_names().get(indicator, indicator),
        "rule": rule_names.get(rule, rule.replace("_", " ")),
        "evidence": "" if pd.isna(row["evidence"]) else str(row["evidence"]),
    }


def _concerns(
    tables: PublishedTables,
    team_id: str,
    team_readings: Mapping[tuple[str, ...], Reading | None],
    org_readings: Mapping[tuple[str, ...], Reading | None],
    team_warnings: list[dict[str, object]],
) -> list[ScaleConcern]:
    rules_by_scale: dict[str, set[str]] = {}
    for row in team_warnings:
        rules_by_scale.setdefault(str(row["indicator"]), set()).add(str(row["rule"]))
    concerns = []
    for mean in tables.mean_indicators():
        reading = team_readings.get((team_id, mean.indicator))
        if reading is None:
            continue
        rules = rules_by_scale.get(mean.indicator, set())
        concern = ScaleConcern(mean, points=WARNING_POINTS * len(rules), warned=bool(rules))
        organization = org_readings.get((mean.indicator,))
        if organization is not None and _clearly_worse(mean, reading, organization.value):
            half = (reading.ci_high - reading.ci_low) / 2 or 1.0
            gap = abs(reading.value - organization.value)
            concern.points += min(gap / half, SURENESS_CAP)
            concern.fragments.append(
                f"{score(reading.value)} against {score(organization.value)} for the organization"
            )
        if reading.change is not None and reading.previous_wave is not None:
            earlier = Reading(reading.value - reading.change, None, None, None)
            if clear_change(mean, reading, earlier, reading.previous_wave) == "worsened":
                concern.points += WORSENED_POINTS
                way = "up" if reading.change > 0 else "down"
                amount = format(abs(reading.change), score_format(reading.value))
                concern.fragments.append(f"{way} {amount} since {reading.previous_wave}")
        share = _least_favourable_share(tables, team_id, mean, team_readings)
        if share is not None:
            band, value = share
            concern.points += HIGH_BAND_POINTS * value
            if "high_band_share" in rules or "crossed_band" in rules:
                concern.fragments.append(f"{percent(value)} in the {band} band")
        if not concern.fragments and rules:
            concern.fragments.append(", ".join(sorted(rule.replace("_", " ") for rule in rules)))
        if concern.warned or concern.fragments:
            concerns.append(concern)
    return concerns


def _clearly_worse(mean: MeanIndicator, reading: Reading, organization: float) -> bool:
    if reading.ci_low is None or reading.ci_high is None:
        return False
    beyond = reading.ci_low > organization or reading.ci_high < organization
    return beyond and less_favourable(mean, reading.value, organization)


def _least_favourable_share(
    tables: PublishedTables,
    team_id: str,
    mean: MeanIndicator,
    team_readings: Mapping[tuple[str, ...], Reading | None],
) -> tuple[str, float] | None:
    if not mean.bands:
        return None
    least = mean.least_favourable_band()
    for band, indicator in tables.band_share_indicators(mean):
        if band.id == least.id:
            reading = team_readings.get((team_id, indicator))
            return (band.id, reading.value) if reading is not None else None
    return None


def what_worked(tables: PublishedTables, strategies: Sequence[Strategy]) -> list[dict[str, object]]:
    """For each strategy and pair of waves in `strategy_effects`: the teams that started it
    against those that did not, in plain words, the indicator it should move first, every other
    scale after it. Suppressed rows say so and carry no number."""
    effects = tables.strategy_effects
    if effects is None or effects.empty:
        return []
    titles = {strategy.id: strategy for strategy in strategies}
    means = {mean.indicator: mean for mean in tables.mean_indicators()}
    groups = []
    for (strategy_id, before, after), rows in effects.groupby(
        ["strategy", "wave_before", "wave_after"], sort=True
    ):
        strategy = titles.get(str(strategy_id))
        expected = strategy.moves.indicator if strategy else None
        scales = []
        for row in records(rows):
            mean = means.get(str(row["indicator"]))
            if mean is None:
                continue
            scales.append(_effect_row(mean, row, expected))
        scales.sort(key=lambda scale: (not scale["expected"], scale["order"]))
        first = records(rows)[0]
        groups.append(
            {
                "title": strategy.title if strategy else str(strategy_id),
                "strategy": str(strategy_id),
                "waves": f"{before} to {after}",
                "treated_teams": int(first["treated_teams"]),
                "control_teams": int(first["control_teams"]),
                "scales": scales,
            }
        )
    return groups


def _effect_row(
    mean: MeanIndicator, row: Mapping[str, object], expected: str | None
) -> dict[str, object]:
    order = [
        position for position, indicator in enumerate(DISPLAY_ORDER) if indicator == mean.indicator
    ]
    shown = not (pd.isna(row["suppressed"]) or bool(row["suppressed"])) and not pd.isna(
        row["effect"]
    )
    words, tone, amount, interval = "not shown: too few respondents", "unclear", "", ""
    if shown:
        effect, low, high = (float(row[c]) for c in ("effect", "effect_ci_low", "effect_ci_high"))
        worse = 1 if mean.risk_when == "high" else -1
        if min(low * worse, high * worse) > 0:
            words, tone = "clearly worse than where it did not start", "worse"
        elif max(low * worse, high * worse) < 0:
            words, tone = "clearly better than where it did not start", "better"
        else:
            words = "no clear difference from where it did not start"
        # Written with the scale's precision: points on 10-100 scales, hundredths on 1-5.
        top = mean.score_range[1] if mean.score_range else max(b.lower for b in mean.bands or ())
        precision = score_format(top)
        way = "rose" if effect > 0 else "fell"
        amount = f"{way} {format(abs(effect), precision)} more"
        interval = f"{format(low, precision)} to {format(high, precision)}"
    return {
        "name": mean.name,
        "expected": mean.indicator == expected,
        "order": order[0] if order else len(DISPLAY_ORDER),
        "words": words,
        "tone": tone,
        "amount": amount,
        "interval": interval,
    }
