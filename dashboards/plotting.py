"""What every figure builder shares: reading published rows, colours, layout, and writing numbers
and data text the way plotly draws them.

Two rules hold for every figure:
- Suppressed rows contribute no number (not in z, x, y, text, hover or customdata); they appear only
  as the words "fewer than N". Values are passed as plain lists, never numpy arrays, because plotly
  serialises arrays as base64 and that would hide what a figure carries.
- Text from the data (team names, labels, band ids, actions) goes through `plotly_text`, because
  plotly.js interprets tags such as <b> and <br> and entities such as &lt; in any text it draws.
"""

from __future__ import annotations

import functools
import html
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
import plotly.io as pio

from dashboards.model import MeanIndicator, PublishedTables, records, shown_rows

# One meaning per colour on every page: orange is worse (than the organization, or than before),
# blue is better, grey is not shown or possibly chance, and bands are shades of purple (pale for
# a scale's most favourable band, dark for its least favourable, whichever end of the scale is the
# risky one), which stay ordered for colour-blind readers and in greyscale print.
BAND_COLOURS = ("#efedf5", "#bcbddc", "#6a51a3")
NOT_SHOWN_GREY = "#d9d9d9"
# Okabe-Ito colours: distinguishable with every common colour-vision deficiency.
WORSE_COLOUR = "#D55E00"
BETTER_COLOUR = "#0072B2"
UNCLEAR_CHANGE_COLOUR = "#6b6b6b"
ORGANIZATION_COLOUR = "#000000"
# Teams' lines: Okabe-Ito colours without the orange and blue that mean worse and better.
TEAM_COLOURS = ("#009E73", "#CC79A7", "#56B4E9", "#999933", "#882255", "#44AA99", "#332288")
# A team's difference from the organization in seven steps, much better to much worse, whichever
# way the scale runs: blues, a near white for "as the organization", oranges. Each is light enough
# for DIFFERENCE_TEXT to keep WCAG AA contrast (4.5:1) on it.
DIFFERENCE_COLOURS = (
    "#3d8fcc",
    "#8cbce3",
    "#c3dcee",
    "#f7f7f7",
    "#f6cfae",
    "#f0a26a",
    "#e06a1b",
)
DIFFERENCE_TEXT = "#1f1f1f"
DIFFERENCE_LEVEL_NAMES = (
    "much better",
    "better",
    "a little better",
    "as the organization",
    "a little worse",
    "worse",
    "much worse",
)
# Neutral marks for flags that are neither better nor worse (low participation, weak reliability).
FLAGGED_GREY = "#4d4d4d"
UNFLAGGED_GREY = "#b3b3b3"
GUIDE_LINE = {"color": "#8a8a8a", "width": 1, "dash": "dot"}
FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
ORGANIZATION = "Whole organization"
# Every dashboard figure uses this template: `figure_spec` puts it in each figure's layout, as a
# plotly Figure would, and plotly's own figures (make_subplots, a spec checked by go.Figure) pick
# it up as their default.
pio.templates.default = "plotly_white"

# A figure as plotly.js takes it, {"data": [trace, ...], "layout": {...}}, in the form a validated
# plotly Figure's to_plotly_json() gives: pages write it as it is, without plotly's object layer,
# which took more than half the time of a team page.
FigureSpec = dict[str, object]
# Layout properties holding lists of items the builders may leave empty.
LAYOUT_ITEM_LISTS = frozenset({"annotations", "shapes"})


@dataclass(frozen=True)
class Reading:
    """One shown (not suppressed) estimate, with what the published row says beside it: the
    estimate shrunk toward the organization, and the change since the group's previous wave with
    its test. Those are None where the table does not publish them."""

    value: float
    ci_low: float | None
    ci_high: float | None
    n: int | None
    shrunk_value: float | None = None
    previous_wave: str | None = None
    change: float | None = None
    change_p_value: float | None = None
    change_significant: bool | None = None


# Columns a published indicator row may carry beside its estimate, in `Reading`'s order.
READING_DETAILS = (
    "shrunk_value",
    "previous_wave",
    "change",
    "change_p_value",
    "change_significant",
)
# A key maps to a reading, or to None when that group was suppressed; absent keys have no row.
Readings = dict[tuple[str, ...], Reading | None]


@dataclass(frozen=True)
class Action:
    """A change a team (or, with no team, the organization) recorded in the action log, with the
    last wave before it (None: before the first wave)."""

    action_id: str
    day: str
    text: str
    wave_before: str | None


def figure_spec(data: list[dict[str, object]], layout: Mapping[str, object]) -> FigureSpec:
    """The figure of these traces and layout as go.Figure(data=data, layout=layout) gives it by
    to_plotly_json(): with the default template in its layout, and without what validation
    leaves out (a trace property set to None, an empty list of annotations or shapes).

    The template dict is shared by every figure: it must not be changed."""
    return {
        "data": [
            {key: value for key, value in trace.items() if value is not None} for trace in data
        ],
        "layout": {
            **{
                key: value for key, value in layout.items() if value or key not in LAYOUT_ITEM_LISTS
            },
            "template": _template_json(pio.templates.default),
        },
    }


@functools.cache
def _template_json(name: str) -> dict[str, object]:
    return pio.templates[name].to_plotly_json()


def readings(frame: pd.DataFrame, key_columns: tuple[str, ...]) -> Readings:
    # Column by column: going through the frame a row at a time took a third of a team page.
    def values(column: str) -> list[object]:
        # A column the table does not publish reads as unknown in every row.
        return frame[column].tolist() if column in frame.columns else [None] * len(frame)

    keys = zip(*([str(value) for value in values(column)] for column in key_columns), strict=True)
    rows = zip(
        keys,
        shown_rows(frame).tolist(),
        *(values(column) for column in ("value", "ci_low", "ci_high", "n", *READING_DETAILS)),
        strict=True,
    )
    found: Readings = {}
    for key, is_shown, value, ci_low, ci_high, n, shrunk, previous, change, p_value, tested in rows:
        found[key] = (
            Reading(
                value=float(value),
                ci_low=optional_float(ci_low),
                ci_high=optional_float(ci_high),
                n=None if pd.isna(n) else int(n),
                shrunk_value=optional_float(shrunk),
                previous_wave=None if pd.isna(previous) else str(previous),
                change=optional_float(change),
                change_p_value=optional_float(p_value),
                change_significant=None if pd.isna(tested) else bool(tested),
            )
            if is_shown
            else None
        )
    return found


def actions_by_team(tables: PublishedTables) -> dict[str | None, list[Action]]:
    """The action log by team id (None: organization-wide actions), oldest first."""
    if tables.actions is None:
        return {}
    found: dict[str | None, list[Action]] = {}
    # The table repeats each action once per indicator.
    for row in records(tables.actions.drop_duplicates("action_id")):
        team_id = None if pd.isna(row["team_id"]) else str(row["team_id"])
        found.setdefault(team_id, []).append(
            Action(
                action_id=str(row["action_id"]),
                day=iso_day(row["action_date"]),
                text=str(row["action"]),
                wave_before=None if pd.isna(row["wave_before"]) else str(row["wave_before"]),
            )
        )
    return {team: sorted(actions, key=lambda action: action.day) for team, actions in found.items()}


def action_position(action: Action, waves: list[str]) -> float:
    """Where an action sits on a wave axis drawn at 0, 1, 2, ...: halfway between the last wave
    before it and the next one."""
    if action.wave_before is None or action.wave_before not in waves:
        return -0.5
    return waves.index(action.wave_before) + 0.5


def iso_day(value: object) -> str:
    if isinstance(value, datetime | pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def clear_change(
    mean: MeanIndicator, reading: Reading, earlier: Reading | None, earlier_wave: str | None
) -> str | None:
    """ "worsened" or "improved" when the change since `earlier_wave` is beyond chance; None when
    it may be chance. The published test decides where the row carries one for that wave;
    otherwise the 95% intervals must not overlap (a conservative rule)."""
    if earlier is None:
        return None
    if reading.change_significant is not None and reading.previous_wave == earlier_wave:
        clear = reading.change_significant
    else:
        clear = not intervals_overlap(reading, earlier)
    if not clear:
        return None
    rose = reading.value > earlier.value
    return "worsened" if rose == (mean.risk_when == "high") else "improved"


def less_favourable(mean: MeanIndicator, first: float, second: float) -> bool:
    return first > second if mean.risk_when == "high" else first < second


def titled_layout(
    *,
    finding: str,
    note: str,
    plot_height: int,
    room_above_plot: int = 0,
    axes: Iterable[str] = ("xaxis", "yaxis"),
) -> dict[str, object]:
    """Layout for a title and subtitle at the top, then the plot area at a height independent of
    the title.

    `room_above_plot` keeps space for anything drawn between the subtitle and the plot, such as
    column labels on top of a heatmap. `axes` names every axis of the figure (layout keys such as
    "xaxis2"): each makes room for its own labels.
    """
    title_lines = wrap_markup(finding, 85)
    note_lines = wrap_markup(note, 130)
    top = 16 + 24 * len(title_lines) + 6 + 16 * len(note_lines) + 18 + room_above_plot
    bottom = 60
    return {
        "title": {
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
        "font": {"family": FONT_FAMILY, "size": 13, "color": "#222222"},
        "height": top + plot_height + bottom,
        "margin": {"l": 20, "r": 20, "t": top, "b": bottom},
        "hoverlabel": {"align": "left"},
        **{axis: {"automargin": True} for axis in axes},
    }


def merged(*layouts: Mapping[str, object]) -> dict[str, object]:
    """The layouts combined as successive `update_layout` calls would combine them: a later value
    replaces an earlier one, except that nested dicts (an axis, a font) are merged key by key.
    No argument is changed."""
    combined: dict[str, object] = {}
    for layout in layouts:
        for key, value in layout.items():
            earlier = combined.get(key)
            if isinstance(earlier, Mapping) and isinstance(value, Mapping):
                combined[key] = merged(earlier, value)
            else:
                combined[key] = value
    return combined


def latest_wave(indicators: pd.DataFrame) -> str:
    if indicators.empty:
        raise ValueError("no indicator rows are published")
    return str(max(indicators["wave"]))


def colour_level(unfavourability: float) -> int:
    return round(unfavourability * (len(BAND_COLOURS) - 1))


def stepped_colourscale(colours: Iterable[str]) -> list[list[float | str]]:
    """A colourscale with one flat step per colour, for z values 0, 1, 2, ..."""
    colours = list(colours)
    scale: list[list[float | str]] = []
    for index, colour in enumerate(colours):
        scale += [[index / len(colours), colour], [(index + 1) / len(colours), colour]]
    return scale


def spread(count: int, width: float) -> list[float]:
    if count < 2:
        return [0.0] * count
    return [-width / 2 + width * index / (count - 1) for index in range(count)]


def intervals_overlap(first: Reading, second: Reading) -> bool:
    """True when either interval is unknown or the two overlap.

    Non-overlapping 95% intervals are a conservative sign of a real difference; overlap does not
    prove there was none, so such a difference is called possibly chance, never "no difference".
    """
    bounds = (first.ci_low, first.ci_high, second.ci_low, second.ci_high)
    if any(bound is None for bound in bounds):
        return True
    return first.ci_low <= second.ci_high and second.ci_low <= first.ci_high


def upper_error(reading: Reading | None) -> float | None:
    if reading is None or reading.ci_high is None:
        return None
    return reading.ci_high - reading.value


def lower_error(reading: Reading | None) -> float | None:
    if reading is None or reading.ci_low is None:
        return None
    return reading.value - reading.ci_low


def optional_float(value: object) -> float | None:
    return None if pd.isna(value) else float(value)


def score_format(value: float) -> str:
    # Scales run 1-5 (BRS, Mini-Z) or 0-100 (ProQOL, CBI): keep about three significant digits.
    return ".1f" if abs(value) >= 10 else ".2f"


def score(value: float) -> str:
    return format(value, score_format(value))


def percent(value: float) -> str:
    return f"{value:.0%}"


def count(n: int | None) -> str:
    return "not published" if n is None else str(n)


def interval(reading: Reading, formatter: Callable[[float], str]) -> str:
    if reading.ci_low is None or reading.ci_high is None:
        return "not available"
    return f"{formatter(reading.ci_low)}–{formatter(reading.ci_high)}"


def reading_hover(
    heading: str, label: str, reading: Reading, formatter: Callable[[float], str] = score
) -> str:
    """Hover text of one estimate: what it is, its value, its interval and its n, then what its
    row publishes beside it."""
    return (
        f"<b>{heading}</b><br>{label}: {formatter(reading.value)}<br>"
        f"95% interval {interval(reading, formatter)}<br>n = {count(reading.n)}"
        + reading_details(reading, formatter)
    )


def reading_details(reading: Reading, formatter: Callable[[float], str] = score) -> str:
    """The shrunk estimate and the change since the previous wave, as extra hover lines."""
    details = ""
    if reading.shrunk_value is not None:
        details += f"<br>Pulled toward the organization: {formatter(reading.shrunk_value)}"
    if reading.change is not None and reading.previous_wave is not None:
        details += f"<br>Change since {plotly_text(reading.previous_wave)}: " + signed_change(
            reading.change, formatter, reading.value
        )
        if reading.change_significant is not None:
            # Plain words for leaders and managers; the p-value is in the analyst tables.
            details += " (clear change)" if reading.change_significant else " (may be chance)"
    return details


def signed_change(change: float, formatter: Callable[[float], str], value: float) -> str:
    """A change written with the precision of the `value` it led to: "+4.0", not "+4.02", on
    10-50; shares in percentage points."""
    if formatter is percent:
        return f"{change * 100:+.0f} percentage points"
    return f"{change:+{score_format(value)}}"


def rate_text(row: dict[str, object]) -> str:
    """A shown response rate with its counts: "72% (36 of 50)"."""
    rate = percent(float(row["response_rate"]))
    if pd.isna(row["respondents"]) or pd.isna(row["invited"]):
        return rate
    return f"{rate} ({int(row['respondents'])} of {int(row['invited'])})"


def flag(value: object) -> bool:
    """A published yes/no flag; unknown counts as no."""
    return False if pd.isna(value) else bool(value)


def join(names: list[str]) -> str:
    """People-readable list of data names: "A", "A and B", "A, B and 3 more"."""
    if len(names) > 2:
        return f"{names[0]}, {names[1]} and {len(names) - 2} more"
    return " and ".join(names)


def plotly_text(text: object) -> str:
    # plotly.js decodes &amp; &lt; &gt; but not &quot;, so quotes must stay as they are.
    return html.escape(str(text), quote=False)


def wrap(text: object, width: int, *, hyphens: bool = False) -> str:
    """Escape data text and break it into lines plotly can draw (after hyphens too, if asked)."""
    lines = textwrap.wrap(str(text), width, break_long_words=False, break_on_hyphens=hyphens)
    return "<br>".join(plotly_text(line) for line in lines or [""])


def wrap_markup(markup: str, width: int) -> list[str]:
    # Entities contain no spaces, so wrapping at spaces never splits one.
    return textwrap.wrap(markup, width, break_long_words=False)
