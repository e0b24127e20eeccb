"""Figure builders for the dashboards: published tables in, figure specs out (`FigureSpec`, the
dicts plotly.js draws, as a validated plotly Figure gives them), no I/O.

Every builder reads only the `PublishedTables` it is given and follows the rules in
`dashboards.plotting`: suppressed rows carry no number, and data text is escaped for plotly.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
from plotly.subplots import make_subplots

from dashboards.model import (
    ORGANIZATION_GROUP,
    TEAM_GROUP,
    Band,
    MeanIndicator,
    PublishedTables,
    records,
    shown_rows,
)
from dashboards.plotting import (
    BAND_COLOURS,
    BETTER_COLOUR,
    DIFFERENCE_COLOURS,
    DIFFERENCE_LEVEL_NAMES,
    DIFFERENCE_TEXT,
    FLAGGED_GREY,
    GUIDE_LINE,
    NOT_SHOWN_GREY,
    ORGANIZATION,
    ORGANIZATION_COLOUR,
    TEAM_COLOURS,
    UNCLEAR_CHANGE_COLOUR,
    UNFLAGGED_GREY,
    WORSE_COLOUR,
    Action,
    FigureSpec,
    Reading,
    Readings,
    action_position,
    actions_by_team,
    clear_change,
    colour_level,
    count,
    figure_spec,
    flag,
    interval,
    intervals_overlap,
    join,
    latest_wave,
    less_favourable,
    lower_error,
    merged,
    percent,
    plotly_text,
    rate_text,
    reading_details,
    reading_hover,
    readings,
    score,
    score_format,
    spread,
    stepped_colourscale,
    titled_layout,
    upper_error,
    wrap,
)

DEFAULT_TREND_INDICATOR = "proqol_sts"
# Teams drawn at first in the trend chart; the others are listed in its legend.
HIGHLIGHTED_TEAMS = 5
# Above this many teams (or groups) the charts of all teams get lighter to stay quick to draw:
# the heatmap's cells lose their gaps and their numbers (hover still has them, and cells not shown
# still say so), and the trend and participation charts keep this many teams.
MANY_TEAMS = 40
# A guide line only: the published below_threshold flag decides which scales are marked.
ALPHA_GUIDE = 0.6
NO_SERVICE_LINE = "Service line not recorded"
# How the cuts between team and organization are named and ordered; others follow by name.
GROUP_KIND_NAMES = {"service_line": "Service line", "parent_unit": "Unit", "role": "Role"}
GROUP_KIND_ORDER = list(GROUP_KIND_NAMES)
ACTION_MARKER = {"symbol": "star", "size": 14, "line": {"color": "#ffffff", "width": 1}}


# --- the organization --------------------------------------------------------------------------


def organization_headline(tables: PublishedTables, min_group_size: int) -> FigureSpec:
    """The organization's mean indicators in the latest wave, with intervals and change."""
    org = tables.org_indicators
    wave = latest_wave(org)
    earlier_waves = sorted(org.loc[org["wave"] < wave, "wave"].unique())
    previous_wave = earlier_waves[-1] if earlier_waves else None
    org_readings = readings(org, ("wave", "indicator"))
    means = [mean for mean in tables.mean_indicators() if (wave, mean.indicator) in org_readings]

    columns = min(4, max(len(means), 1))
    rows = math.ceil(len(means) / columns)
    cards: list[dict[str, object]] = []
    not_shown: list[dict[str, object]] = []
    for position, mean in enumerate(means):
        row, column = divmod(position, columns)
        # plotly centres the number in the domain and draws the title above the domain, so the
        # domain is the lower part of the card's slot and the title fills the upper part.
        slot_bottom = 1 - (row + 1) / rows
        domain = {
            "x": [column / columns + 0.01, (column + 1) / columns - 0.01],
            "y": [slot_bottom, slot_bottom + 0.5 / rows],
        }
        reading = org_readings[(wave, mean.indicator)]
        if reading is None:
            not_shown.append(
                {
                    "text": f"<b>{wrap(mean.name, 26)}</b><br>fewer than {min_group_size}"
                    " respondents",
                    "x": sum(domain["x"]) / 2,
                    "y": sum(domain["y"]) / 2,
                    "xref": "paper",
                    "yref": "paper",
                    "showarrow": False,
                }
            )
            continue
        earlier = org_readings.get((previous_wave, mean.indicator)) if previous_wave else None
        band = mean.band_of(reading.value)
        lines = [
            f"<b>{wrap(mean.name, 26)}</b>",
            f"{plotly_text(band.id)} band · n = {count(reading.n)}",
            f"95% interval {interval(reading, score)}",
            _change_note(mean, reading, earlier, previous_wave),
        ]
        delta = None
        if earlier is not None:
            change = clear_change(mean, reading, earlier, previous_wave)
            worse_when_up = mean.risk_when == "high"
            up_colour = WORSE_COLOUR if worse_when_up else BETTER_COLOUR
            down_colour = BETTER_COLOUR if worse_when_up else WORSE_COLOUR
            delta = {
                "reference": earlier.value,
                "valueformat": score_format(reading.value),
                # Colour only a change beyond chance; anything else is grey.
                "increasing": {"color": up_colour if change else UNCLEAR_CHANGE_COLOUR},
                "decreasing": {"color": down_colour if change else UNCLEAR_CHANGE_COLOUR},
                "font": {"size": 18},
            }
        cards.append(
            {
                "type": "indicator",
                "mode": "number+delta" if delta else "number",
                "value": reading.value,
                "number": {"valueformat": score_format(reading.value), "font": {"size": 38}},
                "delta": delta,
                "title": {"text": "<br>".join(lines), "font": {"size": 13}},
                "domain": domain,
            }
        )
    worsened, improved = _clear_changes(means, org_readings, wave, previous_wave)
    layout = merged(
        {"annotations": not_shown},
        titled_layout(
            finding=_change_finding(wave, previous_wave, worsened, improved),
            note=(
                f"Organization, wave {plotly_text(wave)}. Big number: mean score; small: change"
                " since the previous wave, coloured only where it is beyond chance (orange: less"
                " favourable, blue: more favourable); grey changes may be chance."
            ),
            plot_height=200 * max(rows, 1),
        ),
    )
    return figure_spec(cards, layout)


# --- all teams ---------------------------------------------------------------------------------


def team_heatmap(
    tables: PublishedTables, min_group_size: int, team_pages: Mapping[str, str] | None = None
) -> FigureSpec:
    """Teams (rows, grouped by service line) by mean indicators (columns) in the latest wave,
    coloured by the team's difference from the organization.

    `team_pages` maps a team id to its page; each cell carries it as its second customdata item,
    for the page to open on a click.
    """
    wave = tables.latest_wave()
    latest = tables.team_indicators[tables.team_indicators["wave"] == wave]
    team_readings = readings(latest, ("team_id", "indicator"))
    names = tables.team_display_names()
    service_lines = _service_lines(tables)
    team_pages = team_pages or {}
    rows = [
        _HeatmapRow((team_id,), service_lines[team_id], names[team_id], team_pages.get(team_id, ""))
        for team_id in {key[0] for key in team_readings}
    ]
    rows.sort(key=lambda row: (row.group.casefold(), row.label.casefold()))
    warned = set()
    if tables.early_warnings is not None:
        warnings = tables.early_warnings[tables.early_warnings["wave"] == wave]
        warned = set(zip(warnings["team_id"].astype(str), warnings["indicator"], strict=True))
    return _difference_heatmap(
        rows,
        team_readings,
        tables,
        latest,
        wave,
        min_group_size,
        noun="team",
        warned=warned,
        note=(
            f"Wave {plotly_text(wave)}, teams grouped by service line. Colour: the team's"
            " difference from the whole organization, orange where worse and blue where better,"
            " whichever way the scale runs. ● the team's 95% interval excludes the"
            " organization's value (clearly different); ⚠ an early warning. Grey: fewer than"
            f" {min_group_size} respondents, not shown."
            + (" Hover over a cell for its score." if len(rows) > MANY_TEAMS else "")
            + (" Click a team's row to open its page." if team_pages else "")
        ),
    )


def group_heatmap(tables: PublishedTables, min_group_size: int) -> FigureSpec:
    """The cuts between team and organization (service lines, units, roles ...) by mean
    indicators in the latest wave, coloured by their difference from the organization; each cut
    is published on its own."""
    if tables.group_indicators is None:
        raise ValueError("no group_indicators table is published")
    groups = tables.group_indicators
    wave = latest_wave(groups)
    latest = groups[groups["wave"] == wave]
    group_readings = readings(latest, ("group_type", "group_id", "indicator"))
    kinds = sorted(
        {key[0] for key in group_readings},
        key=lambda kind: (GROUP_KIND_ORDER.index(kind) if kind in GROUP_KIND_ORDER else 99, kind),
    )
    rows = [
        _HeatmapRow((kind, group_id), _group_kind_name(kind), group_id)
        for kind in kinds
        for group_id in sorted(
            {key[1] for key in group_readings if key[0] == kind}, key=str.casefold
        )
    ]
    return _difference_heatmap(
        rows,
        group_readings,
        tables,
        latest,
        wave,
        min_group_size,
        noun="group",
        warned=set(),
        note=(
            f"Wave {plotly_text(wave)}. Every team of a service line or unit together; colour:"
            " the difference from the whole organization, orange where worse and blue where"
            " better. ● the group's 95% interval excludes the organization's value. Grey: fewer"
            f" than {min_group_size} respondents, not shown."
        ),
    )


@dataclass(frozen=True)
class _HeatmapRow:
    """One heatmap row: the key its readings carry (before the indicator), the group it is drawn
    in, its own label (data text, not yet escaped), and the page a click opens."""

    key: tuple[str, ...]
    group: str
    label: str
    page: str = ""


# A difference of this share of a scale's range (or more) takes the strongest colour.
STRONGEST_DIFFERENCE = 0.2
CLEAR_MARK = "●"
WARNING_MARK = "⚠"


def _difference_heatmap(
    rows: list[_HeatmapRow],
    row_readings: Readings,
    tables: PublishedTables,
    latest: pd.DataFrame,
    wave: str,
    min_group_size: int,
    *,
    noun: str,
    warned: set[tuple[str, str]],
    note: str,
) -> FigureSpec:
    """Rows by mean indicators, each cell coloured by how much worse (orange) or better (blue)
    than the organization it is, under a title that names the rows (`noun`: "team", "group")
    clearly worse than the organization on the most scales."""
    present = set(latest["indicator"])
    means = [mean for mean in tables.mean_indicators() if mean.indicator in present]
    org = tables.org_indicators
    org_readings = readings(org[org["wave"] == wave], ("indicator",))
    compact = len(rows) > MANY_TEAMS
    fewer_than = f"fewer than {min_group_size}"
    differences: list[list[int | None]] = []
    clearly_worse: list[int] = []
    cell_text: list[list[str]] = []
    cell_data: list[list[list[str]]] = []
    for row in rows:
        differences.append([])
        cell_text.append([])
        cell_data.append([])
        worse_count = 0
        for mean in means:
            heading = f"<b>{plotly_text(row.label)}</b><br>{plotly_text(mean.name)}<br>"
            key = (*row.key, mean.indicator)
            reading = row_readings.get(key)
            organization = org_readings.get((mean.indicator,))
            if key not in row_readings:
                differences[-1].append(None)
                cell_text[-1].append("no data")
                hover = heading + f"no data in {plotly_text(wave)}"
            elif reading is None:
                differences[-1].append(None)
                cell_text[-1].append(fewer_than if compact else f"fewer<br>than {min_group_size}")
                hover = heading + f"{fewer_than} respondents: not shown"
            else:
                band = mean.band_of(reading.value)
                difference = _worse_by(mean, reading.value, organization)
                differences[-1].append(difference)
                clear = organization is not None and _interval_excludes(reading, organization)
                worse_count += clear and less_favourable(mean, reading.value, organization.value)
                marks = (f" {CLEAR_MARK}" if clear else "") + (
                    f" {WARNING_MARK}" if (row.key[-1], mean.indicator) in warned else ""
                )
                cell_text[-1].append(marks.strip() if compact else f"{score(reading.value)}{marks}")
                comparison = (
                    f"<br>Organization {score(organization.value)}"
                    + (": clearly different" if clear else ": may be chance")
                    if organization is not None
                    else ""
                )
                hover = (
                    heading
                    + f"Score {score(reading.value)} ({plotly_text(band.id)} band)<br>"
                    + f"95% interval {interval(reading, score)}<br>n = {count(reading.n)}"
                    + comparison
                    + reading_details(reading)
                )
            cell_data[-1].append([hover, row.page])
        clearly_worse.append(worse_count)

    column_labels = [_short_heading(mean) for mean in means]
    heatmap = {
        "type": "heatmap",
        "z": differences,
        "x": column_labels,
        # Two-level rows: the group, then the row within it.
        "y": [[wrap(row.group, 22) for row in rows], [plotly_text(row.label) for row in rows]],
        "text": cell_text,
        "texttemplate": "%{text}",
        "textfont": {"size": 11 if compact else 12, "color": DIFFERENCE_TEXT},
        "customdata": cell_data,
        "hovertemplate": "%{customdata[0]}<extra></extra>",
        "colorscale": stepped_colourscale(DIFFERENCE_COLOURS),
        "zmin": -0.5,
        "zmax": len(DIFFERENCE_COLOURS) - 0.5,
        # Gaps make plotly draw every cell on its own: too slow for hundreds of teams.
        "xgap": 0 if compact else 3,
        "ygap": 0 if compact else 3,
        # The key sits under the grid so that the columns get the full width.
        "colorbar": {
            "orientation": "h",
            "tickvals": list(range(len(DIFFERENCE_COLOURS))),
            "ticktext": list(DIFFERENCE_LEVEL_NAMES),
            "thickness": 12,
            "len": 0.9,
            "x": 0.5,
            "xanchor": "center",
            "y": 0,
            "yanchor": "bottom",
            "yref": "container",
            "ypad": 16,
        },
    }
    layout = merged(
        {
            # Categories, not dates or numbers: a team called "2025" or a wave "2025-05" stays a
            # label.
            "xaxis": {
                "type": "category",
                "side": "top",
                "tickangle": 0,
                "showgrid": False,
                "tickfont": {"size": 12},
            },
            "yaxis": {"type": "multicategory", "autorange": "reversed", "showgrid": False},
            "plot_bgcolor": NOT_SHOWN_GREY,
        },
        titled_layout(
            finding=_heatmap_finding(differences, clearly_worse, rows, wave, min_group_size, noun),
            note=note,
            plot_height=_row_height(rows) * max(len(rows), 3),
            room_above_plot=_column_label_room(column_labels),
        ),
    )
    return figure_spec([heatmap], layout)


def _short_heading(mean: MeanIndicator) -> str:
    """A column heading: the scale's name, then its instrument in small type."""
    name = mean.scale_name or mean.name
    instrument = mean.instrument_name.split()[0] if mean.instrument_name else ""
    small = f"<br><span style='font-size:10px'>{plotly_text(instrument)}</span>"
    return wrap(name, 12, hyphens=True) + (small if instrument else "")


def _worse_by(mean: MeanIndicator, value: float, organization: Reading | None) -> int | None:
    """How much worse than the organization `value` is, as a colour step: 0 (much better) to 6
    (much worse), 3 for as the organization, by its share of the scale's range (a fifth of it or
    more takes the end step); None without an organization value. Steps, not the difference
    itself: the colour places the cell, the text and hover report the numbers."""
    if organization is None:
        return None
    low, high = mean.score_range or (
        (mean.bands[0].lower, mean.bands[-1].lower) if mean.bands else (0.0, 1.0)
    )
    width = (high - low) or 1.0
    worse = 1 if mean.risk_when == "high" else -1
    difference = (value - organization.value) * worse / (width * STRONGEST_DIFFERENCE)
    middle = len(DIFFERENCE_COLOURS) // 2
    return middle + round(max(-1.0, min(1.0, difference)) * middle)


def _interval_excludes(reading: Reading, organization: Reading) -> bool:
    if reading.ci_low is None or reading.ci_high is None:
        return False
    return reading.ci_low > organization.value or reading.ci_high < organization.value


def _row_height(rows: list[_HeatmapRow]) -> int:
    return 26 if len(rows) > MANY_TEAMS else 52


def _column_label_room(column_labels: list[str]) -> int:
    """Height for the column labels drawn above the heatmap."""
    return 16 * max((label.count("<br>") + 1 for label in column_labels), default=1)


def _group_kind_name(kind: str) -> str:
    return GROUP_KIND_NAMES.get(kind, kind.replace("_", " ").capitalize())


def team_trends(
    tables: PublishedTables, min_group_size: int, indicator: str = DEFAULT_TREND_INDICATOR
) -> FigureSpec:
    """One line per team across waves for a mean indicator, with the organization for reference
    and each team's actions from the action log marked between the waves."""
    mean = tables.mean_indicator(indicator)
    team_rows = _rows_of(tables.team_indicators, indicator)
    org_rows = _rows_of(tables.org_indicators, indicator)
    waves = sorted(set(team_rows["wave"]) | set(org_rows["wave"]))
    team_readings = readings(team_rows, ("team_id", "wave"))
    org_readings = readings(org_rows, ("wave",))
    names = tables.team_display_names()
    ranked = _teams_least_favourable_first(mean, team_readings, names, waves)
    team_ids = ranked[:MANY_TEAMS]
    actions = actions_by_team(tables)

    series: list[tuple[str | None, str, dict[str, Reading | None]]] = [
        (None, ORGANIZATION, {key[0]: reading for key, reading in org_readings.items()})
    ]
    series += [
        (
            team_id,
            plotly_text(names[team_id]),
            {key[1]: reading for key, reading in team_readings.items() if key[0] == team_id},
        )
        for team_id in team_ids
    ]
    # Spread each wave's points sideways a little so that overlapping error bars stay readable;
    # the spread is for the series drawn at first, and teams added from the legend reuse it.
    offsets = _spread_for(len(series))
    traces: list[dict[str, object]] = []
    for position, (team_id, name, by_wave) in enumerate(series):
        is_organization = team_id is None
        colour = (
            ORGANIZATION_COLOUR
            if is_organization
            else TEAM_COLOURS[(position - 1) % len(TEAM_COLOURS)]
        )
        # Dozens of lines are unreadable: the rest are one legend click away.
        visible = True if position <= HIGHLIGHTED_TEAMS else "legendonly"
        points = [by_wave.get(wave) for wave in waves]
        line_style = {
            "color": colour,
            "width": 3 if is_organization else 2,
            # Beyond the palette, a dash pattern keeps teams apart.
            "dash": "dash"
            if is_organization
            else ("solid", "dot", "dashdot")[(position - 1) // len(TEAM_COLOURS) % 3],
        }
        traces.append(
            _trend_trace(
                name,
                waves,
                points,
                offsets[position % len(offsets)],
                line_style,
                legendgroup=f"series-{position}",
                visible=visible,
                marker_size=9 if is_organization else 7,
            )
        )
        if actions.get(team_id):
            traces.append(
                _action_trace(
                    name,
                    actions[team_id],
                    waves,
                    points,
                    colour,
                    legendgroup=f"series-{position}",
                    visible=visible,
                )
            )
    edges = mean.bands[1:]
    layout = merged(
        {
            "shapes": [_band_edge(band, "x", "y") for band in edges],
            "annotations": [
                {
                    "text": f"{plotly_text(band.id)} band: {mean.band_range(band)}",
                    "font": {"size": 11, "color": "#555555"},
                    "showarrow": False,
                    "x": 0,
                    "xanchor": "left",
                    "xref": "x domain",
                    "y": band.lower,
                    "yanchor": "bottom",
                    "yref": "y",
                }
                for band in edges
            ],
            "xaxis": {"title": {"text": "Survey wave"}, **_wave_axis(waves)},
            "yaxis": {"title": {"text": "Mean score"}},
            "legend": {"title": {"text": "Click to hide or show"}},
        },
        titled_layout(
            finding=_trend_finding(mean, team_readings, names, waves),
            note=_organization_change_note(org_readings, waves)
            + _highlight_note(mean, len(team_ids), len(ranked) - len(team_ids))
            + f" Bars: 95% intervals. No point where fewer than {min_group_size} responded."
            + (" Stars: actions from the action log." if actions else ""),
            plot_height=400,
        ),
    )
    return figure_spec(traces, layout)


def band_shares(
    tables: PublishedTables, min_group_size: int, team_id: str | None = None
) -> FigureSpec:
    """The share of respondents in each band of every scale.

    Without `team_id`: the organization in the latest two waves. With it: that team beside the
    organization in the latest wave.
    """
    wave = tables.latest_wave()
    org = tables.org_indicators
    if team_id is None:
        waves = sorted(earlier for earlier in org["wave"].unique() if earlier <= wave)[-2:]
        groups = [
            (plotly_text(shown), readings(org[org["wave"] == shown], ("indicator",)))
            for shown in waves
        ]
        # The latest wave is the finding; the wave before it is the comparison.
        focus, comparison = groups[-1][1], (groups[0][1] if len(groups) > 1 else None)
        wording = ("respondents", f" in {groups[-1][0]}", f" in {groups[0][0]}")
    else:
        team = plotly_text(tables.team_display_names()[team_id])
        team_rows = tables.team_indicators[
            (tables.team_indicators["team_id"].astype(str) == team_id)
            & (tables.team_indicators["wave"] == wave)
        ]
        groups = [
            (team, readings(team_rows, ("indicator",))),
            (ORGANIZATION, readings(org[org["wave"] == wave], ("indicator",))),
        ]
        focus, comparison = groups[0][1], groups[1][1]
        wording = (f"respondents in {team}", "", " across the organization")
    means = [mean for mean in tables.mean_indicators() if tables.band_share_indicators(mean)]
    slots = max((len(mean.bands) for mean in means), default=0)
    fewer_than = f"fewer than {min_group_size} respondents"

    scale_labels: list[str] = []
    group_labels: list[str] = []
    # Per slot (a band's position on its scale), per row: value, text, colour, hover.
    values: list[list[float | None]] = [[] for _ in range(slots)]
    texts: list[list[str | None]] = [[] for _ in range(slots)]
    colours: list[list[str]] = [[] for _ in range(slots)]
    hovers: list[list[str | None]] = [[] for _ in range(slots)]
    not_shown: list[float | None] = []
    for mean in means:
        shares = {band.id: share for band, share in tables.band_share_indicators(mean)}
        for group_label, group_readings in groups:
            scale_labels.append(wrap(mean.name, 24))
            group_labels.append(group_label)
            shown_any = False
            for slot in range(slots):
                band = mean.bands[slot] if slot < len(mean.bands) else None
                reading = group_readings.get((shares.get(band.id, ""),)) if band else None
                colours[slot].append(
                    BAND_COLOURS[colour_level(mean.unfavourability(band))] if band else "#ffffff"
                )
                if band is None or reading is None:
                    values[slot].append(None)
                    texts[slot].append(None)
                    hovers[slot].append(None)
                    continue
                shown_any = True
                values[slot].append(reading.value)
                texts[slot].append(f"{plotly_text(band.id)} {percent(reading.value)}")
                hovers[slot].append(
                    reading_hover(
                        f"{group_label}, {plotly_text(mean.name)}",
                        f"{plotly_text(band.id)} band ({mean.band_range(band)})",
                        reading,
                        percent,
                    )
                )
            not_shown.append(None if shown_any else 1.0)

    y = [scale_labels, group_labels]
    bars: list[dict[str, object]] = [
        {
            "type": "bar",
            "orientation": "h",
            "x": values[slot],
            "y": y,
            "text": texts[slot],
            "textposition": "inside",
            "insidetextanchor": "middle",
            "textfont": {
                "color": [
                    "#ffffff" if colour == BAND_COLOURS[-1] else "#000000"
                    for colour in colours[slot]
                ]
            },
            "customdata": hovers[slot],
            "hovertemplate": "%{customdata}<extra></extra>",
            "marker": {"color": colours[slot], "line": {"color": "#444444", "width": 0.5}},
            "name": f"band {slot + 1}",
            "showlegend": False,
        }
        for slot in range(slots)
    ]
    if any(value is not None for value in not_shown):
        bars.append(
            {
                "type": "bar",
                "orientation": "h",
                "x": not_shown,
                "y": y,
                "text": [fewer_than if value else None for value in not_shown],
                "textposition": "inside",
                "insidetextanchor": "middle",
                "hovertemplate": f"{fewer_than}: not shown<extra></extra>",
                "marker": {"color": NOT_SHOWN_GREY},
                "name": fewer_than,
                "showlegend": False,
            }
        )
    layout = merged(
        {
            "barmode": "stack",
            # A thin band's label would shrink to an unreadable size: hide it; hover still has it.
            "uniformtext": {"minsize": 10, "mode": "hide"},
            "bargap": 0.25,
            "xaxis": {
                "range": [0, 1],
                "tickformat": ".0%",
                "title": {"text": "Share of respondents"},
            },
            "yaxis": {"type": "multicategory", "autorange": "reversed"},
        },
        titled_layout(
            finding=_band_share_finding(tables, means, focus, comparison, *wording),
            note=(
                "Share of respondents in each band, scales in rows; pale: the scale's most"
                " favourable band, dark: its least favourable. Hover for the 95% interval and n."
            ),
            plot_height=34 * max(len(group_labels), 2),
        ),
    )
    return figure_spec(bars, layout)


def exposure_effects(tables: PublishedTables, min_group_size: int) -> FigureSpec:
    """The organization's mean scores by exposure band (client aggression, stimulant caseload,
    supervision ...) in the latest wave: one row of panels per scale, one column per exposure."""
    if tables.exposure_effects is None:
        raise ValueError("no exposure_effects table is published")
    effects = tables.exposure_effects[tables.exposure_effects["group_type"] == ORGANIZATION_GROUP]
    if effects.empty:
        raise ValueError("exposure_effects has no organization rows")
    wave = latest_wave(effects)
    effects = effects[effects["wave"] == wave]
    published = set(effects["indicator"])
    means = [mean for mean in tables.mean_indicators() if mean.indicator in published]
    if not means:
        raise ValueError("exposure_effects has no mean indicator")
    effect_readings = readings(effects, ("indicator", "exposure_item", "exposure_band"))
    bands = (
        effects[
            [
                "exposure_item",
                "exposure_label",
                "exposure_band",
                "exposure_band_label",
                "exposure_band_order",
            ]
        ]
        .drop_duplicates(["exposure_item", "exposure_band"])
        .sort_values(["exposure_item", "exposure_band_order"])
    )
    exposures = list(dict.fromkeys(bands["exposure_item"]))
    exposure_labels = dict(zip(bands["exposure_item"], bands["exposure_label"], strict=True))
    bands_of = {
        exposure: list(zip(rows["exposure_band"], rows["exposure_band_label"], strict=True))
        for exposure, rows in bands.groupby("exposure_item", sort=False)
    }

    # Exposures name the columns, scales the rows.
    column_titles = [wrap(exposure_labels[exposure], 34) for exposure in exposures]
    grid = _subplot_grid(
        len(means),
        len(exposures),
        column_titles,
        vertical_spacing=0.3 / len(means),
        horizontal_spacing=0.08,
    )
    traces: list[dict[str, object]] = []
    axes: dict[str, dict[str, object]] = {}
    contrasts: list[tuple[float, str]] = []
    for row, mean in enumerate(means):
        colour = TEAM_COLOURS[row % len(TEAM_COLOURS)]
        for column, exposure in enumerate(exposures):
            x_axis, y_axis = _subplot_axes(row * len(exposures) + column + 1)
            exposure_label = plotly_text(exposure_labels[exposure])
            points = [
                effect_readings.get((mean.indicator, exposure, band))
                for band, _ in bands_of[exposure]
            ]
            labels = [plotly_text(label) for _, label in bands_of[exposure]]
            traces.append(
                {
                    "type": "scatter",
                    "x": list(range(len(points))),
                    "y": [point.value if point else None for point in points],
                    "xaxis": x_axis,
                    "yaxis": y_axis,
                    "error_y": _error_bars(points, colour),
                    "customdata": [
                        reading_hover(f"{exposure_label}: {label}", plotly_text(mean.name), point)
                        if point
                        else None
                        for label, point in zip(labels, points, strict=True)
                    ],
                    "hovertemplate": "%{customdata}<extra></extra>",
                    "mode": "lines+markers",
                    "connectgaps": False,
                    "line": {"color": colour, "width": 1.5},
                    "marker": {"color": colour, "size": 9},
                    "showlegend": False,
                    "name": plotly_text(mean.name),
                }
            )
            # A band with too few respondents is named on the axis with the reason.
            axes[_layout_key(x_axis)] = {
                "tickvals": list(range(len(points))),
                "ticktext": [
                    wrap(label, 12) + _not_shown_suffix(point, min_group_size)
                    for label, point in zip(labels, points, strict=True)
                ],
                "range": [-0.5, len(points) - 0.5],
                "tickangle": 0,
                "showgrid": False,
            }
            if column == 0:
                axes[_layout_key(y_axis)] = {"title": {"text": wrap(mean.name, 24)}}
            contrast = _exposure_contrast(mean, exposure_label, labels, points)
            if contrast:
                contrasts.append(contrast)
    layout = merged(
        grid,
        axes,
        {"annotations": [merged(title, {"font": {"size": 13}}) for title in grid["annotations"]]},
        titled_layout(
            finding=max(contrasts)[1]
            if contrasts
            else f"No score differs clearly between exposure bands in {plotly_text(wave)}",
            note=(
                f"Organization, wave {plotly_text(wave)}. Mean score in each exposure band, in"
                " the order the question offers them; bars: 95% intervals. A difference is called"
                " clear only where the intervals do not overlap. No point where fewer than"
                f" {min_group_size} responded."
            ),
            plot_height=250 * len(means),
            room_above_plot=16 * max(title.count("<br>") + 1 for title in column_titles),
            axes=_axis_keys(grid),
        ),
    )
    return figure_spec(traces, layout)


def response_rates(tables: PublishedTables) -> FigureSpec:
    """Each team's response rate in the latest wave, lowest first, low participation flagged."""
    if tables.response_rates is None:
        raise ValueError("no response_rates table is published")
    rates = tables.response_rates
    wave = latest_wave(rates)
    rates = rates[rates["wave"] == wave]
    team_rates = rates[rates["group_type"] == TEAM_GROUP]
    names = tables.team_display_names()
    rows = records(team_rates[shown_rows(team_rates, "response_rate")].sort_values("response_rate"))
    hidden = len(team_rates) - len(rows)
    low = [row for row in rows if flag(row["low_response_rate"])]
    # A chart of hundreds of bars says no more than its lowest ones; the team table has them all.
    drawn = rows[:MANY_TEAMS]
    labels = [plotly_text(names.get(str(row["group_id"]), str(row["group_id"]))) for row in drawn]

    bars = {
        "type": "bar",
        "orientation": "h",
        "x": [float(row["response_rate"]) for row in drawn],
        "y": labels,
        "text": [rate_text(row) for row in drawn],
        "textposition": "outside",
        "cliponaxis": False,
        "marker": {
            "color": [
                FLAGGED_GREY if flag(row["low_response_rate"]) else UNFLAGGED_GREY for row in drawn
            ]
        },
        "customdata": [
            f"<b>{label}</b><br>{plotly_text(wave)}: {rate_text(row)}"
            + ("<br>low participation" if flag(row["low_response_rate"]) else "")
            for label, row in zip(labels, drawn, strict=True)
        ],
        "hovertemplate": "%{customdata}<extra></extra>",
        "showlegend": False,
    }
    if low:
        finding = (
            f"{len(low)} of {len(rows)} teams had low participation in {plotly_text(wave)}"
            f" (lowest: {labels[0]}, {percent(float(rows[0]['response_rate']))})"
        )
    else:
        finding = f"No team shown had low participation in {plotly_text(wave)}"
    organization = rates[
        (rates["group_type"] == ORGANIZATION_GROUP) & shown_rows(rates, "response_rate")
    ]
    layout = merged(
        {
            "xaxis": {"range": [0, 1.15], "tickformat": ".0%", "title": {"text": "Response rate"}},
            "yaxis": {"type": "category", "autorange": "reversed"},
        },
        titled_layout(
            finding=finding,
            note=(
                f"Responses as a share of the staff invited, wave {plotly_text(wave)}; dark"
                " grey: low participation, where results may not speak for the whole team."
                + "".join(f" Organization: {rate_text(row)}." for row in records(organization))
                + (
                    f" {hidden} {'team is' if hidden == 1 else 'teams are'} not shown: too few"
                    " invited or responding to show a rate."
                    if hidden
                    else ""
                )
                + (
                    f" Drawn: the {len(drawn)} lowest of {len(rows)} teams; the team table lists"
                    " every rate."
                    if len(drawn) < len(rows)
                    else ""
                )
            ),
            plot_height=24 * max(len(drawn), 4),
        ),
    )
    return figure_spec([bars], layout)


def instrument_reliability(tables: PublishedTables) -> FigureSpec:
    """Cronbach's alpha of each scale in each wave; flagged scales drawn in dark grey."""
    if tables.instrument_reliability is None:
        raise ValueError("no instrument_reliability table is published")
    reliability = tables.instrument_reliability
    reliability = reliability[shown_rows(reliability, "alpha")]
    waves = sorted(reliability["wave"].unique())
    names = {mean.indicator: wrap(mean.name, 44) for mean in tables.mean_indicators()}
    measured = [indicator for indicator in names if indicator in set(reliability["indicator"])]
    traces: list[dict[str, object]] = []
    for position, wave in enumerate(waves):
        rows = [
            row
            for row in records(reliability[reliability["wave"] == wave])
            if row["indicator"] in measured
        ]
        is_latest = position == len(waves) - 1
        below_threshold = [flag(row["below_threshold"]) for row in rows]
        traces.append(
            {
                "type": "scatter",
                "x": [float(row["alpha"]) for row in rows],
                "y": [names[row["indicator"]] for row in rows],
                "mode": "markers",
                "name": plotly_text(wave),
                "marker": {
                    "size": 12 if is_latest else 8,
                    "symbol": "circle" if is_latest else "circle-open",
                    "color": [FLAGGED_GREY if low else UNFLAGGED_GREY for low in below_threshold],
                    "line": {"width": 1.5},
                },
                "customdata": [
                    f"<b>{names[row['indicator']]}</b><br>{plotly_text(wave)}:"
                    f" alpha {row['alpha']:.2f}<br>n = {count(_int(row['n']))}"
                    + ("<br>low internal consistency" if low else "")
                    for row, low in zip(rows, below_threshold, strict=True)
                ],
                "hovertemplate": "%{customdata}<extra></extra>",
            }
        )
    latest = reliability[reliability["wave"] == waves[-1]] if waves else reliability
    flagged = [
        f"{names[row['indicator']]} (alpha {row['alpha']:.2f})"
        for row in records(latest)
        if flag(row["below_threshold"]) and row["indicator"] in measured
    ]
    latest_label = plotly_text(waves[-1]) if waves else ""
    layout = merged(
        {
            "shapes": [
                {
                    "type": "line",
                    "xref": "x",
                    "x0": ALPHA_GUIDE,
                    "x1": ALPHA_GUIDE,
                    "yref": "y domain",
                    "y0": 0,
                    "y1": 1,
                    "line": GUIDE_LINE,
                }
            ],
            "annotations": [
                {
                    "text": f"{ALPHA_GUIDE:g}, a common minimum",
                    "showarrow": False,
                    "xref": "x",
                    "x": ALPHA_GUIDE,
                    "xanchor": "center",
                    "yref": "y domain",
                    "y": 1,
                    "yanchor": "bottom",
                }
            ],
            "xaxis": {"range": [0, 1], "title": {"text": "Cronbach's alpha"}},
            "yaxis": {"type": "category", "autorange": "reversed"},
            "legend": {"title": {"text": "Wave"}},
        },
        titled_layout(
            finding=(
                f"Low internal consistency in {latest_label}: {join(flagged)}"
                if flagged
                else f"Every scale was answered consistently enough to interpret in {latest_label}"
            ),
            note=(
                "Cronbach's alpha: how consistently each scale's items were answered (1 is"
                " perfect). Filled: the latest wave; open: earlier waves; dark grey: flagged as"
                " low, which makes that scale's scores less trustworthy."
            ),
            plot_height=34 * max(len(measured), 4),
        ),
    )
    return figure_spec(traces, layout)


# --- one team ----------------------------------------------------------------------------------


def team_versus_organization(
    tables: PublishedTables, min_group_size: int, team_id: str
) -> FigureSpec:
    """One team's mean scores beside the organization's in the latest wave, one row per scale,
    over the scale's bands."""
    wave = tables.latest_wave()
    team = plotly_text(tables.team_display_names()[team_id])
    indicators = tables.team_indicators
    team_readings = readings(
        indicators[(indicators["team_id"].astype(str) == team_id) & (indicators["wave"] == wave)],
        ("indicator",),
    )
    org = tables.org_indicators
    org_readings = readings(org[org["wave"] == wave], ("indicator",))
    means = [
        mean
        for mean in tables.mean_indicators()
        if (mean.indicator,) in team_readings and mean.bands
    ]
    fewer_than = f"fewer than {min_group_size} respondents: not shown"

    grid = _subplot_grid(
        max(len(means), 1),
        1,
        [plotly_text(mean.name) for mean in means],
        vertical_spacing=0.5 / max(len(means), 1),
    )
    traces: list[dict[str, object]] = []
    shapes: list[dict[str, object]] = []
    axes: dict[str, dict[str, object]] = {}
    less, more = [], []
    for row, mean in enumerate(means, start=1):
        x_axis, y_axis = _subplot_axes(row)
        team_reading = team_readings.get((mean.indicator,))
        org_reading = org_readings.get((mean.indicator,))
        low, high = _score_range(mean, [team_reading, org_reading])
        uppers = [*(band.lower for band in mean.bands[1:]), high]
        shapes += [
            {
                "type": "rect",
                "xref": x_axis,
                "yref": f"{y_axis} domain",
                "x0": max(band.lower, low),
                "x1": upper,
                "y0": 0,
                "y1": 1,
                "fillcolor": BAND_COLOURS[colour_level(mean.unfavourability(band))],
                "opacity": 0.5,
                "line": {"width": 0},
                "layer": "below",
            }
            for band, upper in zip(mean.bands, uppers, strict=True)
        ]
        for label, reading, colour in (
            (ORGANIZATION, org_reading, ORGANIZATION_COLOUR),
            (team, team_reading, TEAM_COLOURS[0]),
        ):
            if reading is None:
                traces.append(
                    {
                        "type": "scatter",
                        "x": [(low + high) / 2],
                        "y": [label],
                        "xaxis": x_axis,
                        "yaxis": y_axis,
                        "mode": "text",
                        "text": [fewer_than],
                        "hoverinfo": "skip",
                        "showlegend": False,
                    }
                )
                continue
            band = mean.band_of(reading.value)
            traces.append(
                {
                    "type": "scatter",
                    "x": [reading.value],
                    "y": [label],
                    "xaxis": x_axis,
                    "yaxis": y_axis,
                    "error_x": {
                        "type": "data",
                        "array": [upper_error(reading)],
                        "arrayminus": [lower_error(reading)],
                        "color": colour,
                        "thickness": 2,
                        "width": 6,
                    },
                    "mode": "markers+text",
                    "text": [score(reading.value)],
                    "textposition": "top center",
                    "marker": {"color": colour, "size": 12},
                    "customdata": [
                        reading_hover(
                            label,
                            f"{plotly_text(mean.name)} ({plotly_text(band.id)} band)",
                            reading,
                        )
                    ],
                    "hovertemplate": "%{customdata}<extra></extra>",
                    "showlegend": False,
                    "name": label,
                }
            )
        axes[_layout_key(x_axis)] = {"range": [low, high], "showgrid": False}
        axes[_layout_key(y_axis)] = {
            "type": "category",
            "categoryorder": "array",
            "categoryarray": [ORGANIZATION, team],
            "range": [-0.7, 1.9],
        }
        if team_reading and org_reading and not intervals_overlap(team_reading, org_reading):
            worse = less_favourable(mean, team_reading.value, org_reading.value)
            (less if worse else more).append(plotly_text(mean.name))
    layout = merged(
        grid,
        {"shapes": shapes, **axes},
        titled_layout(
            finding=_comparison_finding(team, wave, less, more),
            note=(
                f"Wave {plotly_text(wave)}. Dots: mean scores; bars: 95% intervals; background:"
                " the scale's bands, darker where less favourable. A difference is called clear"
                " only where the intervals do not overlap."
            ),
            plot_height=130 * max(len(means), 1),
            axes=_axis_keys(grid),
        ),
    )
    return figure_spec(traces, layout)


def team_trend_panels(tables: PublishedTables, min_group_size: int, team_id: str) -> FigureSpec:
    """One team across the waves on every scale, beside the organization, with its actions."""
    team = plotly_text(tables.team_display_names()[team_id])
    indicators = tables.team_indicators
    team_rows = indicators[indicators["team_id"].astype(str) == team_id]
    team_readings = readings(team_rows, ("wave", "indicator"))
    org_readings = readings(tables.org_indicators, ("wave", "indicator"))
    waves = sorted(set(team_rows["wave"]) | set(tables.org_indicators["wave"]))
    published = {indicator for _, indicator in team_readings}
    means = [mean for mean in tables.mean_indicators() if mean.indicator in published]
    actions = actions_by_team(tables)
    columns = 2 if len(means) > 1 else 1
    rows = max(math.ceil(len(means) / columns), 1)

    grid = _subplot_grid(
        rows,
        columns,
        [plotly_text(mean.name) for mean in means],
        vertical_spacing=0.45 / rows,
        horizontal_spacing=0.1,
    )
    # The organization, then the team: offset, line and the actions drawn on that line.
    series = (
        (None, ORGANIZATION, org_readings, -0.06, ORGANIZATION_COLOUR, 2, "dash"),
        (team_id, team, team_readings, 0.06, TEAM_COLOURS[0], 2.5, "solid"),
    )
    traces: list[dict[str, object]] = []
    shapes: list[dict[str, object]] = []
    axes: dict[str, dict[str, object]] = {}
    for position, mean in enumerate(means, start=1):
        x_axis, y_axis = _subplot_axes(position)
        in_legend = position == 1
        for group, name, by_wave, offset, colour, width, dash in series:
            points = [by_wave.get((wave, mean.indicator)) for wave in waves]
            line_style = {"color": colour, "width": width, "dash": dash}
            trace = _trend_trace(
                name, waves, points, offset, line_style, legendgroup=name, marker_size=7
            )
            traces.append({**trace, "xaxis": x_axis, "yaxis": y_axis, "showlegend": in_legend})
            if actions.get(group):
                trace = _action_trace(
                    name, actions[group], waves, points, colour, legendgroup=f"{name} actions"
                )
                traces.append(
                    {
                        **trace,
                        "xaxis": x_axis,
                        "yaxis": y_axis,
                        "showlegend": in_legend,
                        "name": f"{name}: action from the action log",
                    }
                )
        shapes += [_band_edge(band, x_axis, y_axis) for band in mean.bands[1:]]
        axes[_layout_key(x_axis)] = _wave_axis(waves)
    latest = waves[-1] if waves else ""
    previous = waves[-2] if len(waves) > 1 else None
    worsened, improved = _clear_changes(means, team_readings, latest, previous)
    layout = merged(
        grid,
        {"shapes": shapes, **axes},
        titled_layout(
            finding=_change_finding(latest, previous, worsened, improved, team=team),
            note=(
                "Solid: this team; dashed: the whole organization; bars: 95% intervals; dotted"
                f" lines: band edges. No point where fewer than {min_group_size} responded."
                + (" Stars: actions from the action log." if actions else "")
            ),
            plot_height=230 * rows,
            room_above_plot=20,
            axes=_axis_keys(grid),
        ),
        {"legend": {"orientation": "h", "y": -0.08, "yanchor": "top"}},
    )
    return figure_spec(traces, layout)


@functools.lru_cache(maxsize=32)
def _subplot_grid_template(
    rows: int,
    cols: int,
    title_count: int,
    vertical_spacing: float,
    horizontal_spacing: float | None,
) -> dict[str, object]:
    """make_subplots' layout for a grid with `title_count` placeholder titles. Cached because
    make_subplots builds and validates a whole figure (about as long as the rest of a team
    page's figures take), while every team page asks for one of the same few grids."""
    placeholders = [f"title {index}" for index in range(title_count)]
    layout = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=placeholders,
        vertical_spacing=vertical_spacing,
        horizontal_spacing=horizontal_spacing,
    ).layout.to_plotly_json()
    # `figure_spec` puts the template in the whole figure's layout.
    del layout["template"]
    return layout


def _subplot_grid(
    rows: int,
    cols: int,
    titles: list[str],
    *,
    vertical_spacing: float,
    horizontal_spacing: float | None = None,
) -> dict[str, object]:
    """The layout make_subplots gives a grid of `rows` by `cols` with these subplot titles (row
    by row; an empty title is left out, as make_subplots leaves it out): a new dict to change at
    will."""
    layout = copy.deepcopy(
        _subplot_grid_template(rows, cols, len(titles), vertical_spacing, horizontal_spacing)
    )
    # Every title has its subplot here, so make_subplots made one annotation per placeholder,
    # in title order.
    placed = layout.get("annotations", [])
    layout["annotations"] = [
        {**annotation, "text": title}
        for annotation, title in zip(placed, titles, strict=True)
        if title
    ]
    return layout


def _axis_keys(layout: Mapping[str, object]) -> list[str]:
    """The layout keys of a layout's x and y axes: "xaxis", "yaxis2", ..."""
    return [key for key in layout if key.startswith(("xaxis", "yaxis"))]


def _subplot_axes(position: int) -> tuple[str, str]:
    """The x and y axis ids of make_subplots' `position`-th subplot (from 1, row by row)."""
    suffix = "" if position == 1 else str(position)
    return f"x{suffix}", f"y{suffix}"


def _layout_key(axis: str) -> str:
    """The layout property of an axis id: "x3" -> "xaxis3", "y" -> "yaxis"."""
    return f"{axis[0]}axis{axis[1:]}"


# --- pieces ------------------------------------------------------------------------------------


def _trend_trace(
    name: str,
    waves: list[str],
    points: list[Reading | None],
    offset: float,
    line_style: dict[str, object],
    *,
    legendgroup: str,
    marker_size: int,
    visible: bool | str = True,
) -> dict[str, object]:
    """A line across the waves (drawn at 0, 1, 2, ... plus `offset`) with 95% interval bars."""
    colour = line_style["color"]
    return {
        "type": "scatter",
        "visible": visible,
        "x": [index + offset for index in range(len(waves))],
        "y": [point.value if point else None for point in points],
        "error_y": _error_bars(points, colour),
        "customdata": [
            reading_hover(name, plotly_text(wave), point) if point else None
            for wave, point in zip(waves, points, strict=True)
        ],
        "hovertemplate": "%{customdata}<extra></extra>",
        "mode": "lines+markers",
        "connectgaps": False,
        "name": name,
        "legendgroup": legendgroup,
        "line": line_style,
        "marker": {"size": marker_size, "color": colour},
    }


def _action_trace(
    name: str,
    actions: list[Action],
    waves: list[str],
    points: list[Reading | None],
    colour: str,
    *,
    legendgroup: str,
    visible: bool | str = True,
) -> dict[str, object]:
    """Stars between the waves where a group's actions fall, on its line where it has one."""
    shown = [point.value for point in points if point]
    fallback = sum(shown) / len(shown) if shown else None
    positions = [action_position(action, waves) for action in actions]
    heights = []
    for position in positions:
        # The line's height halfway between the waves before and after the action.
        around = [
            points[index].value
            for index in (math.floor(position), math.ceil(position))
            if 0 <= index < len(points) and points[index]
        ]
        heights.append(sum(around) / len(around) if around else fallback)
    return {
        "type": "scatter",
        "visible": visible,
        "x": positions,
        "y": heights,
        "mode": "markers",
        "marker": {**ACTION_MARKER, "color": colour},
        "customdata": [
            f"<b>{name}</b><br>Action on {plotly_text(action.day)}:<br>{wrap(action.text, 48)}"
            for action in actions
        ],
        "hovertemplate": "%{customdata}<extra></extra>",
        "name": f"{name}: actions",
        "legendgroup": legendgroup,
        "showlegend": False,
    }


def _error_bars(points: list[Reading | None], colour: object) -> dict[str, object]:
    return {
        "type": "data",
        "array": [upper_error(point) for point in points],
        "arrayminus": [lower_error(point) for point in points],
        "thickness": 1.2,
        "width": 3,
        "color": colour,
    }


def _wave_axis(waves: list[str]) -> dict[str, object]:
    return {
        "tickvals": list(range(len(waves))),
        "ticktext": [plotly_text(wave) for wave in waves],
        # Room beyond the first and last wave for actions before or after them.
        "range": [-0.6, len(waves) - 0.4],
        "showgrid": False,
        "zeroline": False,
    }


def _band_edge(band: Band, x_axis: str, y_axis: str) -> dict[str, object]:
    """A dotted line across a subplot at the lower edge of `band`."""
    return {
        "type": "line",
        "xref": f"{x_axis} domain",
        "yref": y_axis,
        "x0": 0,
        "x1": 1,
        "y0": band.lower,
        "y1": band.lower,
        "line": GUIDE_LINE,
    }


def _spread_for(series_count: int) -> list[float]:
    return spread(min(series_count, HIGHLIGHTED_TEAMS + 1), width=0.36)


def _teams_least_favourable_first(
    mean: MeanIndicator, team_readings: Readings, names: dict[str, str], waves: list[str]
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


def _highlight_note(mean: MeanIndicator, team_count: int, left_out: int) -> str:
    if team_count <= HIGHLIGHTED_TEAMS:
        return ""
    extreme = "highest" if mean.risk_when == "high" else "lowest"
    note = (
        f" Shown: the {HIGHLIGHTED_TEAMS} teams with the {extreme} latest scores; click another"
        " team in the legend to add it."
    )
    if left_out:
        note += f" {left_out} more teams are not listed: each team's page has its trend."
    return note


def _service_lines(tables: PublishedTables) -> dict[str, str]:
    """Team id -> service line to group by; a team without one goes in a group of its own."""
    recorded = {
        str(team_id): str(line)
        for team_id, line in zip(tables.teams["team_id"], tables.teams["service_line"], strict=True)
        if not pd.isna(line) and str(line).strip()
    }
    return {
        team_id: recorded.get(team_id, NO_SERVICE_LINE) for team_id in tables.team_display_names()
    }


def _score_range(mean: MeanIndicator, points: list[Reading | None]) -> tuple[float, float]:
    """An axis range that holds the scale (or, where it is not published, every band edge) and
    every interval shown, with a small margin."""
    edges = list(mean.score_range or [band.lower for band in mean.bands])
    for point in points:
        if point:
            edges += [point.value, point.ci_low or point.value, point.ci_high or point.value]
    low, high = min(edges), max(edges)
    margin = (high - low) * 0.04 or 1.0
    return low - margin, high + margin


def _rows_of(indicators: pd.DataFrame, indicator: str) -> pd.DataFrame:
    return indicators[indicators["indicator"] == indicator]


def _clear_changes(
    means: list[MeanIndicator], by_wave: Readings, wave: str, previous_wave: str | None
) -> tuple[list[str], list[str]]:
    """The scales that clearly worsened and clearly improved since the previous wave."""
    changes: dict[str, list[str]] = {"worsened": [], "improved": []}
    if previous_wave is None:
        return [], []
    for mean in means:
        reading = by_wave.get((wave, mean.indicator))
        if reading is None:
            continue
        earlier = by_wave.get((previous_wave, mean.indicator))
        change = clear_change(mean, reading, earlier, previous_wave)
        if change:
            changes[change].append(mean.name)
    return changes["worsened"], changes["improved"]


def _int(value: object) -> int | None:
    return None if pd.isna(value) else int(value)


def _not_shown_suffix(point: Reading | None, min_group_size: int) -> str:
    return "" if point else f"<br>(fewer than {min_group_size})"


def _exposure_contrast(
    mean: MeanIndicator, exposure_label: str, bands: list[str], points: list[Reading | None]
) -> tuple[float, str] | None:
    """The difference between the first and the last band shown, when it is clear. The labels
    are already escaped for plotly."""
    shown = [(band, point) for band, point in zip(bands, points, strict=True) if point]
    if len(shown) < 2:
        return None
    (low_band, least), (high_band, most) = shown[0], shown[-1]
    if intervals_overlap(least, most):
        return None
    direction = "higher" if most.value > least.value else "lower"
    finding = (
        f"{plotly_text(mean.name)} is clearly {direction} among staff answering"
        f" “{high_band}” than “{low_band}” to"
        f" {exposure_label.lower()} ({score(most.value)} vs {score(least.value)})"
    )
    return abs(most.value - least.value) / (abs(least.value) or 1.0), finding


# --- titles that state the finding -------------------------------------------------------------


def _heatmap_finding(
    differences: list[list[int | None]],
    clearly_worse: list[int],
    rows: list[_HeatmapRow],
    wave: str,
    min_group_size: int,
    noun: str,
) -> str:
    if all(value is None for row_values in differences for value in row_values):
        return f"No {noun} reached {min_group_size} respondents in {plotly_text(wave)}"
    most = max(clearly_worse, default=0)
    if most == 0:
        return (
            f"No {noun} is clearly worse than the organization on any scale in {plotly_text(wave)}"
        )
    leaders = [
        plotly_text(row.label)
        for row, worse in zip(rows, clearly_worse, strict=True)
        if worse == most
    ]
    verb = "is" if len(leaders) == 1 else "are"
    scales = "scale" if most == 1 else "scales"
    return (
        f"{join(leaders)} {verb} clearly worse than the organization on the most {scales}"
        f" ({most} of {len(differences[0])})"
    )


def _trend_finding(
    mean: MeanIndicator, team_readings: Readings, names: dict[str, str], waves: list[str]
) -> str:
    label = plotly_text(mean.name)
    if not waves:
        return f"No {label} results are published"
    latest = waves[-1]
    shown = {
        team_id: reading
        for (team_id, wave), reading in team_readings.items()
        if wave == latest and reading is not None
    }
    if not shown:
        return f"{label}: no team has enough respondents to show in {plotly_text(latest)}"
    pick = max if mean.risk_when == "high" else min
    worst = pick(shown.values(), key=lambda reading: reading.value)
    teams = [
        plotly_text(names[team_id])
        for team_id, reading in shown.items()
        if reading.value == worst.value
    ]
    extreme = "highest" if mean.risk_when == "high" else "lowest"
    return f"{label} is {extreme} in {join(teams)} ({score(worst.value)} in {plotly_text(latest)})"


def _organization_change_note(org_readings: Readings, waves: list[str]) -> str:
    shown = [(wave, org_readings.get((wave,))) for wave in waves if org_readings.get((wave,))]
    if not shown:
        return "Organization: not shown."
    wave, reading = shown[-1]
    note = f"Organization {score(reading.value)} in {plotly_text(wave)}"
    if len(shown) > 1:
        earlier_wave, earlier = shown[-2]
        change = reading.value - earlier.value
        direction = "up" if change > 0 else "down" if change < 0 else "unchanged"
        # A change is written with its score's precision: "up 4.0", not "up 4.00", on 10-50.
        amount = f" {format(abs(change), score_format(reading.value))}" if change else ""
        note += f", {direction}{amount} since {plotly_text(earlier_wave)}"
    return note + "."


def _change_finding(
    wave: str,
    previous_wave: str | None,
    worsened: list[str],
    improved: list[str],
    team: str | None = None,
) -> str:
    """What changed beyond the uncertainty since the previous wave, for the organization or for
    `team` (already escaped for plotly)."""
    whose = team or "the organization"
    if previous_wave is None:
        return f"Scores of {whose} for {plotly_text(wave)}, the first wave: no change to show"
    since = f"Since {plotly_text(previous_wave)}"
    if not worsened and not improved:
        return f"{since}, no score of {whose} changed beyond the uncertainty"
    parts = [
        f"{join([plotly_text(label) for label in labels])} clearly {verb}"
        for labels, verb in ((worsened, "worsened"), (improved, "improved"))
        if labels
    ]
    return f"{since}{f', in {team}' if team else ''}, " + " and ".join(parts)


def _comparison_finding(team: str, wave: str, less: list[str], more: list[str]) -> str:
    if not less and not more:
        return (
            f"No score of {team} differs from the organization beyond the uncertainty in"
            f" {plotly_text(wave)}"
        )
    parts = [
        f"{adjective} favourable than the organization on {join(labels)}"
        for labels, adjective in ((less, "less"), (more, "more"))
        if labels
    ]
    return f"In {plotly_text(wave)}, {team} is clearly " + " and ".join(parts)


def _band_share_finding(
    tables: PublishedTables,
    means: list[MeanIndicator],
    focus: Readings,
    comparison: Readings | None,
    whose: str,
    when: str,
    compared: str,
) -> str:
    """The largest share in any scale's least favourable band in the focus group (the latest
    wave, or the team), with the comparison group's share beside it."""
    candidates = []
    for mean in means:
        least = mean.least_favourable_band()
        shares = {band.id: share for band, share in tables.band_share_indicators(mean)}
        reading = focus.get((shares.get(least.id, ""),))
        if reading is not None:
            candidates.append((reading.value, mean, least, shares[least.id]))
    if not candidates:
        return "How scores spread across each scale's bands"
    value, mean, least, share = max(candidates, key=lambda candidate: candidate[0])
    finding = (
        f"{percent(value)} of {whose} were in the {plotly_text(least.id)} band of"
        f" {plotly_text(mean.name)}{when}"
    )
    other = comparison.get((share,)) if comparison is not None else None
    if other is not None:
        finding += f", against {percent(other.value)}{compared}"
    return finding


def _change_note(
    mean: MeanIndicator, reading: Reading, earlier: Reading | None, previous_wave: str | None
) -> str:
    if previous_wave is None:
        return "first wave"
    since = f"vs {plotly_text(previous_wave)}"
    if earlier is None:
        return f"{since}: not shown"
    if clear_change(mean, reading, earlier, previous_wave) is None:
        return f"{since}: may be chance"
    return f"{since}: clear change"
