"""Figure builders for the leadership dashboard: published tables in, plotly Figures out, no I/O.

Two rules hold for every builder:
- Suppressed rows contribute no number to a figure (not in z, y, text, hover or customdata); they
  appear only as the words "fewer than N". Values are passed as plain lists, never numpy arrays,
  because plotly serialises arrays as base64 and that would hide what a figure carries.
- Text from the data (team names, labels, band ids) goes through `_plotly_text`, because plotly.js
  interprets tags such as <b> and <br> and entities such as &lt; in any text it draws.
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from dashboards.model import Band, MeanIndicator, PublishedTables, shown_rows

DEFAULT_TREND_INDICATOR = "proqol_sts"
# Teams drawn at first in the trend chart; the others are listed in its legend.
HIGHLIGHTED_TEAMS = 5

# Band colours from magma, a viridis-family scale that stays ordered for colour-blind readers and
# in greyscale print: pale for a scale's most favourable band, dark for its least favourable, so
# "darker means look here" holds whichever end of a scale is the risky one.
BAND_COLOURS = ("#fcfdbf", "#fc8961", "#8c2981")
BAND_LEVEL_NAMES = ("Most favourable band", "Middle band", "Least favourable band")
NOT_SHOWN_GREY = "#d9d9d9"
# Okabe-Ito colours: distinguishable with every common colour-vision deficiency.
WORSE_COLOUR = "#D55E00"
BETTER_COLOUR = "#0072B2"
UNCLEAR_CHANGE_COLOUR = "#6b6b6b"
ORGANIZATION_COLOUR = "#000000"
TEAM_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999933")
FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


@dataclass(frozen=True)
class _Reading:
    """One shown (not suppressed) estimate."""

    value: float
    ci_low: float | None
    ci_high: float | None
    n: int | None


# A key maps to a reading, or to None when that group was suppressed; absent keys have no row.
_Readings = dict[tuple[str, ...], _Reading | None]


def team_heatmap(tables: PublishedTables, min_group_size: int) -> go.Figure:
    """Teams (rows) by mean indicators (columns) in the latest wave, coloured by band."""
    wave = _latest_wave(tables.team_indicators)
    latest = tables.team_indicators[tables.team_indicators["wave"] == wave]
    readings = _readings(latest, ("team_id", "indicator"))
    present = set(latest["indicator"])
    means = [mean for mean in tables.mean_indicators() if mean.indicator in present]
    names = tables.team_display_names()
    team_ids = sorted({key[0] for key in readings}, key=lambda team: names[team].casefold())
    fewer_than = f"fewer than {min_group_size}"

    levels: list[list[int | None]] = []
    cell_text: list[list[str]] = []
    hover: list[list[str]] = []
    for team_id in team_ids:
        team = _plotly_text(names[team_id])
        levels.append([])
        cell_text.append([])
        hover.append([])
        for mean in means:
            heading = f"<b>{team}</b><br>{_plotly_text(mean.name)}<br>"
            key = (team_id, mean.indicator)
            reading = readings.get(key)
            if key not in readings:
                levels[-1].append(None)
                cell_text[-1].append("no data")
                hover[-1].append(heading + f"no data in {_plotly_text(wave)}")
            elif reading is None:
                levels[-1].append(None)
                cell_text[-1].append(fewer_than)
                hover[-1].append(heading + f"{fewer_than} respondents: not shown")
            else:
                band = mean.band_of(reading.value)
                levels[-1].append(_colour_level(mean.unfavourability(band)))
                cell_text[-1].append(f"{_score(reading.value)}<br>{_plotly_text(band.id)}")
                hover[-1].append(
                    heading
                    + f"Score {_score(reading.value)} ({_plotly_text(band.id)} band)<br>"
                    + f"95% interval {_interval(reading, _score)}<br>n = {_count(reading.n)}"
                )

    column_labels = [_wrap(mean.name, 12) for mean in means]
    figure = go.Figure(
        go.Heatmap(
            z=levels,
            x=column_labels,
            y=[_plotly_text(names[team_id]) for team_id in team_ids],
            text=cell_text,
            texttemplate="%{text}",
            textfont={"size": 12},
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            colorscale=_stepped_colourscale(BAND_COLOURS),
            zmin=-0.5,
            zmax=len(BAND_COLOURS) - 0.5,
            xgap=3,
            ygap=3,
            # The key sits under the grid so that the columns get the full width.
            colorbar={
                "orientation": "h",
                "tickvals": list(range(len(BAND_COLOURS))),
                "ticktext": list(BAND_LEVEL_NAMES),
                "thickness": 12,
                "len": 0.6,
                "x": 0.5,
                "xanchor": "center",
                "y": 0,
                "yanchor": "bottom",
                "yref": "container",
                "ypad": 16,
            },
        )
    )
    _apply_layout(
        figure,
        finding=_heatmap_finding(levels, team_ids, names, wave, min_group_size),
        note=(
            f"Wave {_plotly_text(wave)}. Colour shows each score's band; darker is less favourable"
            f" whichever way the scale runs. Grey: {fewer_than} respondents, not shown."
        ),
        plot_height=52 * max(len(team_ids), 3),
        room_above_plot=16 * max(label.count("<br>") + 1 for label in column_labels),
    )
    # Categories, not dates or numbers: a team called "2025" or a wave "2025-05" stays a label.
    figure.update_xaxes(
        type="category", side="top", tickangle=0, showgrid=False, tickfont={"size": 12}
    )
    figure.update_yaxes(type="category", autorange="reversed", showgrid=False)
    figure.update_layout(plot_bgcolor=NOT_SHOWN_GREY)
    return figure


def team_trends(
    tables: PublishedTables, min_group_size: int, indicator: str = DEFAULT_TREND_INDICATOR
) -> go.Figure:
    """One line per team across waves for a mean indicator, with the organization for reference."""
    mean = tables.mean_indicator(indicator)
    team_rows = _rows_of(tables.team_indicators, indicator)
    org_rows = _rows_of(tables.org_indicators, indicator)
    waves = sorted(set(team_rows["wave"]) | set(org_rows["wave"]))
    team_readings = _readings(team_rows, ("team_id", "wave"))
    org_readings = _readings(org_rows, ("wave",))
    names = tables.team_display_names()
    team_ids = _teams_least_favourable_first(mean, team_readings, names, waves)

    series: list[tuple[str, dict[str, _Reading | None]]] = [
        ("Whole organization", {key[0]: reading for key, reading in org_readings.items()})
    ]
    series += [
        (
            _plotly_text(names[team_id]),
            {key[1]: reading for key, reading in team_readings.items() if key[0] == team_id},
        )
        for team_id in team_ids
    ]
    # Spread each wave's points sideways a little so that overlapping error bars stay readable;
    # the spread is for the series drawn at first, and teams added from the legend reuse it.
    offsets = _spread(min(len(series), HIGHLIGHTED_TEAMS + 1), width=0.36)
    figure = go.Figure()
    for position, (name, by_wave) in enumerate(series):
        points = [by_wave.get(wave) for wave in waves]
        is_organization = position == 0
        colour = (
            ORGANIZATION_COLOUR
            if is_organization
            else TEAM_COLOURS[(position - 1) % len(TEAM_COLOURS)]
        )
        figure.add_trace(
            go.Scatter(
                # Dozens of lines are unreadable: the rest are one legend click away.
                visible=True if position <= HIGHLIGHTED_TEAMS else "legendonly",
                x=[index + offsets[position % len(offsets)] for index in range(len(waves))],
                y=[point.value if point else None for point in points],
                error_y={
                    "type": "data",
                    "array": [_upper_error(point) for point in points],
                    "arrayminus": [_lower_error(point) for point in points],
                    "thickness": 1.2,
                    "width": 3,
                    "color": colour,
                },
                customdata=[
                    _trend_hover(name, wave, point) if point else None
                    for wave, point in zip(waves, points, strict=True)
                ],
                hovertemplate="%{customdata}<extra></extra>",
                mode="lines+markers",
                connectgaps=False,
                name=name,
                line={
                    "color": colour,
                    "width": 3 if is_organization else 2,
                    # Beyond the palette, a dash pattern keeps teams apart.
                    "dash": "dash"
                    if is_organization
                    else ("solid", "dot", "dashdot")[(position - 1) // len(TEAM_COLOURS) % 3],
                },
                marker={"size": 9 if is_organization else 7, "color": colour},
            )
        )
    for band in mean.bands[1:]:
        figure.add_hline(
            y=band.lower,
            line={"color": "#8a8a8a", "width": 1, "dash": "dot"},
            annotation_text=f"{_plotly_text(band.id)} band: {mean.band_range(band)}",
            annotation_position="top left",
            annotation_font={"size": 11, "color": "#555555"},
        )
    _apply_layout(
        figure,
        finding=_trend_finding(mean, team_readings, names, waves),
        note=_organization_change_note(org_readings, waves)
        + _highlight_note(mean, len(team_ids))
        + f" Bars: 95% intervals. No point where fewer than {min_group_size} responded.",
        plot_height=400,
    )
    figure.update_xaxes(
        tickvals=list(range(len(waves))),
        ticktext=[_plotly_text(wave) for wave in waves],
        title_text="Survey wave",
        range=[-0.5, len(waves) - 0.5],
        showgrid=False,
        zeroline=False,
    )
    figure.update_yaxes(title_text="Mean score")
    figure.update_layout(legend={"title": {"text": "Click to hide or show"}})
    return figure


def _teams_least_favourable_first(
    mean: MeanIndicator, team_readings: _Readings, names: dict[str, str], waves: list[str]
) -> list[str]:
    """Teams by their latest shown score, least favourable first; teams without one last."""
    latest = {
        team_id: reading.value
        for (team_id, wave), reading in team_readings.items()
        if waves and wave == waves[-1] and reading is not None
    }
    direction = -1 if mean.risk_when == "high" else 1
    return sorted(
        {key[0] for key in team_readings},
        key=lambda team: (
            team not in latest,
            direction * latest.get(team, 0.0),
            names[team].casefold(),
        ),
    )


def _highlight_note(mean: MeanIndicator, team_count: int) -> str:
    if team_count <= HIGHLIGHTED_TEAMS:
        return ""
    extreme = "highest" if mean.risk_when == "high" else "lowest"
    return (
        f" Shown: the {HIGHLIGHTED_TEAMS} teams with the {extreme} latest scores; click another"
        " team in the legend to add it."
    )


def organization_headline(tables: PublishedTables, min_group_size: int) -> go.Figure:
    """The organization's mean indicators in the latest wave, with intervals and change."""
    org = tables.org_indicators
    wave = _latest_wave(org)
    earlier_waves = sorted(org.loc[org["wave"] < wave, "wave"].unique())
    previous_wave = earlier_waves[-1] if earlier_waves else None
    readings = _readings(org, ("wave", "indicator"))
    means = [mean for mean in tables.mean_indicators() if (wave, mean.indicator) in readings]

    columns = min(4, max(len(means), 1))
    rows = math.ceil(len(means) / columns)
    figure = go.Figure()
    worsened: list[str] = []
    improved: list[str] = []
    for position, mean in enumerate(means):
        row, column = divmod(position, columns)
        # plotly centres the number in the domain and draws the title above the domain, so the
        # domain is the lower part of the card's slot and the title fills the upper part.
        slot_bottom = 1 - (row + 1) / rows
        domain = {
            "x": [column / columns + 0.01, (column + 1) / columns - 0.01],
            "y": [slot_bottom, slot_bottom + 0.5 / rows],
        }
        reading = readings[(wave, mean.indicator)]
        if reading is None:
            figure.add_annotation(
                text=f"<b>{_wrap(mean.name, 26)}</b><br>fewer than {min_group_size} respondents",
                x=sum(domain["x"]) / 2,
                y=sum(domain["y"]) / 2,
                xref="paper",
                yref="paper",
                showarrow=False,
            )
            continue
        earlier = readings.get((previous_wave, mean.indicator)) if previous_wave else None
        band = mean.band_of(reading.value)
        lines = [
            f"<b>{_wrap(mean.name, 26)}</b>",
            f"{_plotly_text(band.id)} band · n = {_count(reading.n)}",
            f"95% interval {_interval(reading, _score)}",
            _change_note(reading, earlier, previous_wave),
        ]
        delta = None
        if earlier is not None:
            clear = not _intervals_overlap(reading, earlier)
            worse_when_up = mean.risk_when == "high"
            up_colour = WORSE_COLOUR if worse_when_up else BETTER_COLOUR
            down_colour = BETTER_COLOUR if worse_when_up else WORSE_COLOUR
            delta = {
                "reference": earlier.value,
                "valueformat": _score_format(reading.value),
                # Colour only a change the intervals support; anything else may be chance.
                "increasing": {"color": up_colour if clear else UNCLEAR_CHANGE_COLOUR},
                "decreasing": {"color": down_colour if clear else UNCLEAR_CHANGE_COLOUR},
                "font": {"size": 18},
            }
            if clear:
                rose = reading.value > earlier.value
                (worsened if rose == worse_when_up else improved).append(mean.name)
        figure.add_trace(
            go.Indicator(
                mode="number+delta" if delta else "number",
                value=reading.value,
                number={"valueformat": _score_format(reading.value), "font": {"size": 38}},
                delta=delta,
                title={"text": "<br>".join(lines), "font": {"size": 13}},
                domain=domain,
            )
        )
    _apply_layout(
        figure,
        finding=_headline_finding(wave, previous_wave, worsened, improved),
        note=(
            f"Organization, wave {_plotly_text(wave)}. Big number: mean score; small: change since"
            " the previous wave, coloured only where the 95% intervals do not overlap"
            " (orange: less favourable, blue: more favourable); grey changes may be chance."
        ),
        plot_height=200 * max(rows, 1),
    )
    return figure


def band_distribution(
    tables: PublishedTables, min_group_size: int, indicator: str = DEFAULT_TREND_INDICATOR
) -> go.Figure:
    """The organization's share of respondents in each band of a scale, per wave (stacked)."""
    mean = tables.mean_indicator(indicator)
    bands_and_shares = tables.band_share_indicators(mean)
    if not bands_and_shares:
        raise ValueError(f"no band shares are published for {indicator}")
    share_ids = [share for _, share in bands_and_shares]
    org = tables.org_indicators[tables.org_indicators["indicator"].isin(share_ids)]
    waves = sorted(org["wave"].unique())
    readings = _readings(org, ("wave", "indicator"))

    figure = go.Figure()
    for band, share in bands_and_shares:
        level = _colour_level(mean.unfavourability(band))
        points = [readings.get((wave, share)) for wave in waves]
        band_name = _plotly_text(band.id)
        figure.add_trace(
            go.Bar(
                x=[_plotly_text(wave) for wave in waves],
                y=[point.value if point else None for point in points],
                text=[_percent(point.value) if point else None for point in points],
                textposition="inside",
                insidetextanchor="middle",
                textfont={"color": "#ffffff" if level == len(BAND_COLOURS) - 1 else "#000000"},
                customdata=[
                    _share_hover(band_name, mean.band_range(band), wave, point) if point else None
                    for wave, point in zip(waves, points, strict=True)
                ],
                hovertemplate="%{customdata}<extra></extra>",
                name=f"{band_name} ({mean.band_range(band)})",
                marker={"color": BAND_COLOURS[level], "line": {"color": "#444444", "width": 0.5}},
            )
        )
    for wave in waves:
        if all(
            (wave, share) in readings and readings[(wave, share)] is None for share in share_ids
        ):
            figure.add_annotation(
                x=_plotly_text(wave),
                y=0.5,
                text=f"fewer than {min_group_size}<br>respondents",
                showarrow=False,
            )
    published = {band.id for band, _ in bands_and_shares}
    unpublished = [band.id for band in mean.bands if band.id not in published]
    _apply_layout(
        figure,
        finding=_band_finding(mean, bands_and_shares, readings, waves),
        note=f"Organization, share of respondents in each band of {_plotly_text(mean.name)}."
        + (f" Bands not published: {_plotly_text(', '.join(unpublished))}." if unpublished else ""),
        plot_height=360,
    )
    # The legend lists the bands top to bottom in the order they are stacked.
    figure.update_layout(
        barmode="stack",
        legend={"traceorder": "reversed"},
        # A thin band's label would shrink to an unreadable size: hide it; hover still has it.
        uniformtext={"minsize": 10, "mode": "hide"},
    )
    figure.update_xaxes(type="category", title_text="Survey wave")
    figure.update_yaxes(range=[0, 1], tickformat=".0%", title_text="Share of respondents")
    return figure


def _heatmap_finding(
    levels: list[list[int | None]],
    team_ids: list[str],
    names: dict[str, str],
    wave: str,
    min_group_size: int,
) -> str:
    worst_level = len(BAND_COLOURS) - 1
    worst_counts = {
        team_id: sum(level == worst_level for level in row)
        for team_id, row in zip(team_ids, levels, strict=True)
    }
    if all(level is None for row in levels for level in row):
        return f"No team reached {min_group_size} respondents in {_plotly_text(wave)}"
    most = max(worst_counts.values())
    if most == 0:
        return f"No team score is in its least favourable band in {_plotly_text(wave)}"
    leaders = [
        _plotly_text(names[team_id]) for team_id, count in worst_counts.items() if count == most
    ]
    verb = "has" if len(leaders) == 1 else "have"
    scores = "score" if most == 1 else "scores"
    return (
        f"{_join(leaders)} {verb} the most {scores} in the least favourable band"
        f" ({most} of {len(levels[0])})"
    )


def _trend_finding(
    mean: MeanIndicator, team_readings: _Readings, names: dict[str, str], waves: list[str]
) -> str:
    label = _plotly_text(mean.name)
    if not waves:
        return f"No {label} results are published"
    latest = waves[-1]
    shown = {
        team_id: reading
        for (team_id, wave), reading in team_readings.items()
        if wave == latest and reading is not None
    }
    if not shown:
        return f"{label}: no team has enough respondents to show in {_plotly_text(latest)}"
    pick = max if mean.risk_when == "high" else min
    worst = pick(shown.values(), key=lambda reading: reading.value)
    teams = [
        _plotly_text(names[team_id])
        for team_id, reading in shown.items()
        if reading.value == worst.value
    ]
    extreme = "highest" if mean.risk_when == "high" else "lowest"
    return (
        f"{label} is {extreme} in {_join(teams)} ({_score(worst.value)} in {_plotly_text(latest)})"
    )


def _organization_change_note(org_readings: _Readings, waves: list[str]) -> str:
    shown = [(wave, org_readings.get((wave,))) for wave in waves if org_readings.get((wave,))]
    if not shown:
        return "Organization: not shown."
    wave, reading = shown[-1]
    note = f"Organization {_score(reading.value)} in {_plotly_text(wave)}"
    if len(shown) > 1:
        earlier_wave, earlier = shown[-2]
        change = reading.value - earlier.value
        direction = "up" if change > 0 else "down" if change < 0 else "unchanged"
        # A change is written with its score's precision: "up 4.0", not "up 4.00", on 10-50.
        amount = f" {format(abs(change), _score_format(reading.value))}" if change else ""
        note += f", {direction}{amount} since {_plotly_text(earlier_wave)}"
    return note + "."


def _headline_finding(
    wave: str, previous_wave: str | None, worsened: list[str], improved: list[str]
) -> str:
    if previous_wave is None:
        return f"Organization scores for {_plotly_text(wave)}, the first wave: no change to show"
    since = f"Since {_plotly_text(previous_wave)}"
    if not worsened and not improved:
        return f"{since}, no organization score changed beyond the uncertainty"
    parts = [
        f"{_join([_plotly_text(label) for label in labels])} clearly {verb}"
        for labels, verb in ((worsened, "worsened"), (improved, "improved"))
        if labels
    ]
    return f"{since}, " + " and ".join(parts)


def _band_finding(
    mean: MeanIndicator,
    bands_and_shares: list[tuple[Band, str]],
    readings: _Readings,
    waves: list[str],
) -> str:
    band, share = max(bands_and_shares, key=lambda pair: mean.unfavourability(pair[0]))
    shown = [(wave, readings.get((wave, share))) for wave in waves if readings.get((wave, share))]
    label = _plotly_text(mean.name)
    if not shown:
        return f"How {label} scores spread across its bands"
    wave, reading = shown[-1]
    finding = (
        f"{_percent(reading.value)} of respondents were in the {_plotly_text(band.id)} band"
        f" of {label} in {_plotly_text(wave)}"
    )
    if len(shown) > 1:
        earlier_wave, earlier = shown[-2]
        finding += f", against {_percent(earlier.value)} in {_plotly_text(earlier_wave)}"
    return finding


def _change_note(reading: _Reading, earlier: _Reading | None, previous_wave: str | None) -> str:
    if previous_wave is None:
        return "first wave"
    since = f"vs {_plotly_text(previous_wave)}"
    if earlier is None:
        return f"{since}: not shown"
    if _intervals_overlap(reading, earlier):
        return f"{since}: may be chance"
    return f"{since}: clear change"


def _trend_hover(name: str, wave: str, reading: _Reading) -> str:
    return (
        f"<b>{name}</b><br>{_plotly_text(wave)}: {_score(reading.value)}<br>"
        f"95% interval {_interval(reading, _score)}<br>n = {_count(reading.n)}"
    )


def _share_hover(band_name: str, band_range: str, wave: str, reading: _Reading) -> str:
    return (
        f"<b>{band_name} band</b> ({band_range})<br>"
        f"{_plotly_text(wave)}: {_percent(reading.value)} of respondents<br>"
        f"95% interval {_interval(reading, _percent)}<br>n = {_count(reading.n)}"
    )


def _apply_layout(
    figure: go.Figure, *, finding: str, note: str, plot_height: int, room_above_plot: int = 0
) -> None:
    """Title and subtitle at the top, then the plot area at a height independent of the title.

    `room_above_plot` keeps space for anything drawn between the subtitle and the plot, such as
    column labels on top of a heatmap.
    """
    title_lines = _wrap_markup(finding, 85)
    note_lines = _wrap_markup(note, 130)
    top = 16 + 24 * len(title_lines) + 6 + 16 * len(note_lines) + 18 + room_above_plot
    bottom = 60
    figure.update_layout(
        title={
            "text": "<br>".join(title_lines),
            "subtitle": {"text": "<br>".join(note_lines), "font": {"size": 12, "color": "#444"}},
            "x": 0,
            "xanchor": "left",
            "xref": "container",
            "y": 1,
            "yanchor": "top",
            "yref": "container",
            "pad": {"t": 16, "l": 8},
            "font": {"size": 18},
        },
        template="plotly_white",
        font={"family": FONT_FAMILY, "size": 13, "color": "#222222"},
        height=top + plot_height + bottom,
        margin={"l": 20, "r": 20, "t": top, "b": bottom},
        hoverlabel={"align": "left"},
    )
    figure.update_yaxes(automargin=True)
    figure.update_xaxes(automargin=True)


def _readings(frame: pd.DataFrame, key_columns: tuple[str, ...]) -> _Readings:
    shown = shown_rows(frame)
    readings: _Readings = {}
    for is_shown, row in zip(shown, frame.to_dict("records"), strict=True):
        key = tuple(str(row[column]) for column in key_columns)
        readings[key] = (
            _Reading(
                value=float(row["value"]),
                ci_low=_optional_float(row["ci_low"]),
                ci_high=_optional_float(row["ci_high"]),
                n=None if pd.isna(row["n"]) else int(row["n"]),
            )
            if is_shown
            else None
        )
    return readings


def _rows_of(indicators: pd.DataFrame, indicator: str) -> pd.DataFrame:
    return indicators[indicators["indicator"] == indicator]


def _latest_wave(indicators: pd.DataFrame) -> str:
    if indicators.empty:
        raise ValueError("no indicator rows are published")
    return str(max(indicators["wave"]))


def _colour_level(unfavourability: float) -> int:
    return round(unfavourability * (len(BAND_COLOURS) - 1))


def _stepped_colourscale(colours: Iterable[str]) -> list[list[float | str]]:
    """A colourscale with one flat step per colour, for z values 0, 1, 2, ..."""
    colours = list(colours)
    scale: list[list[float | str]] = []
    for index, colour in enumerate(colours):
        scale += [[index / len(colours), colour], [(index + 1) / len(colours), colour]]
    return scale


def _spread(count: int, width: float) -> list[float]:
    if count < 2:
        return [0.0] * count
    return [-width / 2 + width * index / (count - 1) for index in range(count)]


def _intervals_overlap(first: _Reading, second: _Reading) -> bool:
    """True when either interval is unknown or the two overlap.

    Non-overlapping 95% intervals are a conservative sign of a real change; overlap does not prove
    there was none, so such a change is called possibly chance, never "no change".
    """
    bounds = (first.ci_low, first.ci_high, second.ci_low, second.ci_high)
    if any(bound is None for bound in bounds):
        return True
    return first.ci_low <= second.ci_high and second.ci_low <= first.ci_high


def _upper_error(reading: _Reading | None) -> float | None:
    if reading is None or reading.ci_high is None:
        return None
    return reading.ci_high - reading.value


def _lower_error(reading: _Reading | None) -> float | None:
    if reading is None or reading.ci_low is None:
        return None
    return reading.value - reading.ci_low


def _optional_float(value: object) -> float | None:
    return None if pd.isna(value) else float(value)


def _score_format(value: float) -> str:
    # Scales run 1-5 (BRS, Mini-Z) or 0-100 (ProQOL, CBI): keep about three significant digits.
    return ".1f" if abs(value) >= 10 else ".2f"


def _score(value: float) -> str:
    return format(value, _score_format(value))


def _percent(value: float) -> str:
    return f"{value:.0%}"


def _count(n: int | None) -> str:
    return "not published" if n is None else str(n)


def _interval(reading: _Reading, formatter: Callable[[float], str]) -> str:
    if reading.ci_low is None or reading.ci_high is None:
        return "not available"
    return f"{formatter(reading.ci_low)}–{formatter(reading.ci_high)}"


def _join(names: list[str]) -> str:
    """People-readable list of data names: "A", "A and B", "A, B and 3 more"."""
    if len(names) > 2:
        return f"{names[0]}, {names[1]} and {len(names) - 2} more"
    return " and ".join(names)


def _plotly_text(text: str) -> str:
    # plotly.js decodes &amp; &lt; &gt; but not &quot;, so quotes must stay as they are.
    return html.escape(str(text), quote=False)


def _wrap(text: str, width: int) -> str:
    """Escape data text and break it into lines plotly can draw."""
    lines = textwrap.wrap(str(text), width, break_long_words=False, break_on_hyphens=False)
    return "<br>".join(_plotly_text(line) for line in lines or [""])


def _wrap_markup(markup: str, width: int) -> list[str]:
    # Entities contain no spaces, so wrapping at spaces never splits one.
    return textwrap.wrap(markup, width, break_long_words=False)
