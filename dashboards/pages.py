"""The one writer of dashboard pages: figures from `dashboards.figures`, HTML around them, files.

Every page is self-contained except for one shared copy of plotly.js written beside the pages, so
they open from disk with no network. The HTML around the figures is rendered by jinja2 with
autoescaping on; the figures' own HTML comes from plotly, whose JSON escapes <, > and /.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from dashboards import figures
from dashboards.model import PublishedTables, RunFacts, shown_rows

INDEX_PAGE = "index.html"
LEADERSHIP_PAGE = "leadership.html"
PLOTLY_BUNDLE = "plotly.min.js"
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}


@dataclass(frozen=True)
class _FigureSection:
    anchor: str
    heading: str
    explanation: str
    figure: go.Figure


@dataclass(frozen=True)
class _PageLink:
    file_name: str
    title: str
    description: str


def write_dashboards(
    out_dir: Path, tables: PublishedTables, run: RunFacts, min_group_size: int
) -> list[Path]:
    """Write index.html, leadership.html and the shared plotly.min.js into `out_dir`.

    Returns the paths written: the pages first, then the plotly.js bundle.
    """
    sections = _leadership_sections(tables, min_group_size)
    environment = _environment()
    wave = str(max(tables.team_indicators["wave"]))
    org_waves = tables.org_indicators["wave"]
    previous_wave = max(org_waves[org_waves < wave], default=None)
    instruments = _credited_instruments(tables)

    leadership_html = environment.get_template("leadership.html.j2").render(
        run=run,
        min_group_size=min_group_size,
        wave=wave,
        previous_wave=previous_wave,
        sections=[
            (section, _figure_html(section, loads_plotly=position == 0))
            for position, section in enumerate(sections)
        ],
        instruments=instruments,
        caveat_cbi=any(instrument["id"] == "cbi" for instrument in instruments),
        scales=_scale_rows(tables),
        teams=_team_rows(tables, wave, min_group_size),
    )
    index_html = environment.get_template("index.html.j2").render(
        run=run,
        min_group_size=min_group_size,
        duration=_duration(run.started_at, run.finished_at),
        pages=[
            _PageLink(
                LEADERSHIP_PAGE,
                "Leadership summary",
                f"organization and team indicators for wave {wave}, trends, bands and methods",
            )
        ],
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in ((INDEX_PAGE, index_html), (LEADERSHIP_PAGE, leadership_html)):
        path = out_dir / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    # Always rewrite the bundle: a copy left by an older plotly may not draw this plotly's JSON.
    bundle = out_dir / PLOTLY_BUNDLE
    bundle.write_text(get_plotlyjs(), encoding="utf-8")
    return [*written, bundle]


def _leadership_sections(tables: PublishedTables, min_group_size: int) -> list[_FigureSection]:
    """The leadership page's figures, in page order, each with a heading and how to read it."""
    featured = _featured_indicator(tables)
    featured_mean = tables.mean_indicator(featured)
    sections = [
        _FigureSection(
            "organization",
            "Organization",
            "The whole organization's average on each scale in the latest wave, its band, and the"
            " change since the previous wave.",
            figures.organization_headline(tables, min_group_size),
        ),
        _FigureSection(
            "teams",
            "Teams at a glance",
            "Each team's average on each scale in the latest wave. Read across a row for a team's"
            " profile, down a column to compare teams on one scale.",
            figures.team_heatmap(tables, min_group_size),
        ),
        _FigureSection(
            "trend",
            f"Trend: {featured_mean.name}",
            "Each team across the survey waves, with the whole organization as a dashed line."
            " Click a team in the legend to hide it; double-click to show it alone.",
            figures.team_trends(tables, min_group_size, featured),
        ),
    ]
    if tables.band_share_indicators(featured_mean):
        sections.append(
            _FigureSection(
                "bands",
                f"Bands: {featured_mean.name}",
                "How the organization's respondents spread across the bands of this scale in"
                " each wave.",
                figures.band_distribution(tables, min_group_size, featured),
            )
        )
    return sections


def _featured_indicator(tables: PublishedTables) -> str:
    """The trend and band charts show secondary traumatic stress when it is measured."""
    published = tables.published_indicators()
    candidates = [
        mean.indicator for mean in tables.mean_indicators() if mean.indicator in published
    ]
    if not candidates:
        raise ValueError("no mean indicator is published")
    if figures.DEFAULT_TREND_INDICATOR in candidates:
        return figures.DEFAULT_TREND_INDICATOR
    return candidates[0]


def _figure_html(section: _FigureSection, *, loads_plotly: bool) -> Markup:
    # Only the page's first figure loads plotly.min.js; the later figures' scripts run after it.
    return Markup(
        pio.to_html(
            section.figure,
            full_html=False,
            include_plotlyjs="directory" if loads_plotly else False,
            config=PLOTLY_CONFIG,
            div_id=f"figure-{section.anchor}",
        )
    )


def _credited_instruments(tables: PublishedTables) -> list[dict[str, str]]:
    """The instruments behind any published indicator: each one shown must be credited."""
    published = tables.published_indicators()
    definitions = tables.indicator_definitions
    shown_ids = set(definitions.loc[definitions["indicator"].isin(published), "instrument_id"])
    rows = tables.instruments[tables.instruments["instrument_id"].isin(shown_ids)]
    credited = []
    for row in rows.to_dict("records"):
        url = _text(row["url"])
        url = url if _is_web_address(url) else ""
        credited.append(
            {
                "id": _text(row["instrument_id"]),
                "name": _text(row["name"]),
                "title": _text(row["title"]),
                "credit": _text(row["credit"]),
                "licence": _text(row["licence"]),
                "url": url,
                "url_text": urlsplit(url).netloc,
            }
        )
    return credited


def _scale_rows(tables: PublishedTables) -> list[dict[str, object]]:
    published = tables.published_indicators()
    return [
        {
            "name": mean.name,
            "risk_when": "higher" if mean.risk_when == "high" else "lower",
            "bands": [{"id": band.id, "range": mean.band_range(band)} for band in mean.bands],
        }
        for mean in tables.mean_indicators()
        if mean.indicator in published
    ]


def _team_rows(tables: PublishedTables, wave: str, min_group_size: int) -> list[dict[str, str]]:
    latest = tables.team_indicators[tables.team_indicators["wave"] == wave]
    shown_team_ids = set(latest.loc[shown_rows(latest), "team_id"].astype(str))
    names = tables.team_display_names()
    details = {str(row["team_id"]): row for row in tables.teams.to_dict("records")}
    rows = []
    for team_id in names:
        detail = details.get(team_id)
        rows.append(
            {
                "name": names[team_id],
                "service_line": _text(detail["service_line"]) if detail else "",
                "parent_unit": _text(detail["parent_unit"]) if detail else "",
                # One wording for "suppressed" and "no rows": telling them apart would say
                # whether anyone in a small team answered.
                "status": "shown"
                if team_id in shown_team_ids
                else f"fewer than {min_group_size} respondents",
            }
        )
    return sorted(rows, key=lambda row: (row["service_line"].casefold(), row["name"].casefold()))


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("dashboards", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["timestamp"] = _timestamp
    return environment


def _timestamp(moment: datetime) -> str:
    text = moment.strftime("%Y-%m-%d %H:%M")
    return f"{text} {moment.tzname()}" if moment.tzinfo else text


def _duration(started: datetime, finished: datetime) -> str:
    minutes, seconds = divmod(round((finished - started).total_seconds()), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def _is_web_address(url: str) -> bool:
    # Links come from data: only http(s) may become a link (never javascript: or data:).
    return urlsplit(url).scheme in ("http", "https")


def _text(value: object) -> str:
    """Table cell as text; NULL becomes empty rather than "None" or "nan"."""
    return "" if pd.isna(value) else str(value)
