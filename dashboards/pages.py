"""The one writer of dashboard pages: figures from `dashboards.figures`, HTML around them, files.

Every page is self-contained except for one shared copy of plotly.js written beside the index,
so the pages open from disk with no network. The HTML around the figures is rendered by jinja2
with autoescaping on; the figures' own HTML comes from plotly, whose JSON escapes <, > and /.

Each team page is rendered from `PublishedTables.for_team`: it is given only that team's rows and
the organization's totals, so it cannot show another team's name or numbers.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import html
import importlib.metadata
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import plotly.io as pio
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from dashboards import figures
from dashboards.acting import (
    TeamPriority,
    organization_scores,
    team_signals,
    what_worked,
    where_to_act,
)
from dashboards.model import (
    ORGANIZATION_GROUP,
    TEAM_GROUP,
    PublishedTables,
    RunFacts,
    records,
    shown_rows,
)
from dashboards.page_workers import helpers_writing
from dashboards.paths import (
    INDEX_PAGE,
    LEADERSHIP_PAGE,
    PLOTLY_BUNDLE,
    TEAMS_FOLDER,
    team_page_path,
)
from dashboards.plotting import FigureSpec, flag, iso_day, rate_text
from dashboards.sources import source_digest
from resilience.strategies import (
    Strategy,
    load_strategies,
    matching_strategies,
    strategies_digest,
)

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}
# A click on a heatmap cell opens the team page its customdata names (teams without a page have
# none). plotly fills in {plot_id}.
OPEN_TEAM_PAGE_ON_CLICK = """
document.getElementById('{plot_id}').on('plotly_click', function (event) {
  var page = event.points.length ? event.points[0].customdata[1] : '';
  if (page) { window.location.href = page; }
});
"""
# From this many team pages on, helper processes write pages too (see `dashboards.page_workers`):
# a team page takes about 15 ms, and a helper needs about 2 s to start.
PARALLEL_TEAM_PAGES_FROM = 200
# A team page carries the digest of what it was made from, so that the next release can keep it.
PAGE_DIGEST = re.compile(r'<meta name="content-digest" content="([0-9a-f]{64})">')
PAGE_HEAD_BYTES = 4096
RENDERING_PACKAGES = ("pandas", "plotly", "jinja2")
WARNING_RULE_NAMES = {
    "worsened": "worsened beyond chance since the previous wave",
    "crossed_band": "moved into a less favourable band",
    "far_worse_than_organization": "far worse than the organization",
    "high_band_share": "many more in the least favourable band than the organization",
}
# Tags plotly draws in hover text: a line break, and markup that only styles.
HOVER_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
HOVER_MARKUP = re.compile(r"</?[a-z][^>]*>", re.IGNORECASE)


@dataclass(frozen=True)
class Section:
    """One part of a page: a heading, how to read it, and its figure (None: an HTML table)."""

    anchor: str
    heading: str
    explanation: str
    spec: FigureSpec | None = None
    opens_team_pages: bool = False

    def numbers(self) -> list[tuple[str, str]]:
        """What the figure shows on hover, point by point, as (what, numbers) text: the figure's
        data table, for readers who cannot hover (print, tablets, screen readers)."""
        return hover_rows(self.spec) if self.spec is not None else []


def hover_rows(spec: FigureSpec) -> list[tuple[str, str]]:
    """Every distinct hover text of a figure's traces, in trace order, as its first line and the
    rest joined: the builders put each point's hover text in its customdata (a heatmap cell's as
    the first item of [hover, page])."""
    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    for trace in spec["data"]:
        for hover in _hover_texts(trace):
            if hover in seen:
                continue
            seen.add(hover)
            lines = [
                html.unescape(HOVER_MARKUP.sub("", line)).strip()
                for line in HOVER_LINE_BREAK.split(hover)
            ]
            lines = [line for line in lines if line]
            if lines:
                rows.append((lines[0], " · ".join(lines[1:])))
    return rows


def _hover_texts(trace: dict[str, object]) -> list[str]:
    data = trace.get("customdata") or []
    if trace.get("type") == "heatmap":
        return [cell[0] for row in data for cell in row if cell and cell[0]]
    found: list[str] = []
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, list | tuple):
            pending.extend(reversed(item))
    return found


@dataclass(frozen=True)
class PageLink:
    """A page the index links to, such as a report written beside the dashboards."""

    file_name: str
    title: str
    description: str


def write_dashboards(
    out_dir: Path,
    tables: PublishedTables,
    run: RunFacts,
    min_group_size: int,
    linked_pages: Sequence[PageLink] = (),
    workers: int | None = None,
    reuse_from: Path | None = None,
    strategies: Sequence[Strategy] | None = None,
) -> list[Path]:
    """Write index.html, leadership.html, teams/<team>.html for every team with a shown score in
    the latest wave, and the shared plotly.min.js into `out_dir`. `linked_pages` are other pages
    in `out_dir` (such as the validation report) for the index to link. When there are many team
    pages, `workers` processes write them (default: one per usable CPU core): this one and
    helpers. A team page in the dashboards folder `reuse_from` (the published one) that was made
    from the very same team tables, settings and code is linked rather than written again: it
    still says which run built it. `strategies` are the organizational responses offered where
    they match (default: the project's `strategies/` folder).

    Returns the paths written: index, leadership, the team pages (written or kept), then the
    plotly.js bundle.
    """
    team_pages = {team_id: team_page_path(team_id) for team_id in tables.reported_team_ids()}
    strategies = load_strategies() if strategies is None else list(strategies)
    priorities = where_to_act(tables, strategies, team_pages, WARNING_RULE_NAMES)
    # Matched on the team's own warnings and exposures, before its page's tables drop the
    # exposures: a team page is given only its own matches.
    team_strategies = _team_strategies(tables, strategies, team_pages)
    environment = _environment()
    (out_dir / TEAMS_FOLDER).mkdir(parents=True, exist_ok=True)
    # Team pages show neither the exposure effects nor the service lines and units: left out, they
    # are neither sliced for every team nor sent to the helpers (the largest tables by far).
    # Nor what worked where: it compares groups of teams.
    team_page_tables = dataclasses.replace(
        tables, exposure_effects=None, group_indicators=None, strategy_effects=None
    )
    page_digests = _team_page_digests(team_page_tables, team_pages, min_group_size, team_strategies)
    teams = []  # the pages to write: those not kept from `reuse_from`
    for team_id, page in team_pages.items():
        if reuse_from is None or not _kept(
            reuse_from / page, out_dir / page, page_digests[team_id]
        ):
            teams.append((team_id, page))
    writer = TeamPageWriter(
        out_dir, team_page_tables, run, min_group_size, page_digests, team_strategies
    )
    workers = workers or len(os.sched_getaffinity(0))
    helpers = workers - 1 if len(teams) >= PARALLEL_TEAM_PAGES_FROM else 0
    # Helpers start first, so that they are ready sooner; this process writes pages too.
    with helpers_writing(writer, teams, helpers) as claims:
        written = [
            _write(
                out_dir / INDEX_PAGE,
                _index_html(environment, tables, run, min_group_size, team_pages, linked_pages),
            ),
            _write(
                out_dir / LEADERSHIP_PAGE,
                _leadership_html(
                    environment, tables, run, min_group_size, team_pages, priorities, strategies
                ),
            ),
        ]
        while (team := claims.claim()) is not None:
            writer.write(team)
    written += [out_dir / page for page in team_pages.values()]
    # Always rewrite the bundle: a copy left by an older plotly may not draw this plotly's JSON.
    written.append(_write(out_dir / PLOTLY_BUNDLE, get_plotlyjs()))
    return written


@dataclass
class TeamPageWriter:
    """Writes team pages (teams/<team id>.html) of one dashboard folder. It pickles, for a
    helper process to write pages with it."""

    out_dir: Path
    tables: PublishedTables
    run: RunFacts
    min_group_size: int
    page_digests: dict[str, str]
    team_strategies: dict[str, list[Strategy]]

    def __post_init__(self) -> None:
        self.environment = _environment()

    def __getstate__(self) -> dict[str, object]:
        return {name: value for name, value in vars(self).items() if name != "environment"}

    def __setstate__(self, state: dict[str, object]) -> None:
        vars(self).update(state)
        self.__post_init__()

    def write(self, team: tuple[str, str]) -> Path:
        """Write the page of `team` (its id and its page path) and return the file."""
        team_id, page = team
        # The team's page never sees the whole tables: only what `for_team` lets through.
        team_html = _team_html(
            self.environment,
            self.tables.for_team(team_id),
            team_id,
            self.run,
            self.min_group_size,
            self.page_digests[team_id],
            self.team_strategies.get(team_id, []),
        )
        return _write(self.out_dir / page, team_html)


def _write(path: Path, content: str) -> Path:
    # A kept page is a link to the published one: replaced, never written through.
    path.unlink(missing_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def _team_page_digests(
    tables: PublishedTables,
    team_pages: dict[str, str],
    min_group_size: int,
    team_strategies: dict[str, list[Strategy]],
) -> dict[str, str]:
    """What each team page is made from, as a digest: its team tables, its path, the minimum
    group size, the strategies it offers, and the code and packages that render it. The run that
    builds it shows only in the footer, and is left out."""
    return {
        team_id: hashlib.sha256(
            f"{_renderer_digest()}:{min_group_size}:{team_id}:{team_pages[team_id]}:"
            f"{tables_digest}:{strategies_digest(team_strategies.get(team_id, []))}".encode()
        ).hexdigest()
        for team_id, tables_digest in tables.team_digests(team_pages).items()
    }


def _team_strategies(
    tables: PublishedTables, strategies: Sequence[Strategy], team_pages: dict[str, str]
) -> dict[str, list[Strategy]]:
    """For each team with a page, the strategies that match its latest warnings and exposures."""
    signals = team_signals(tables)
    return {team_id: matching_strategies(strategies, signals[team_id]) for team_id in team_pages}


@functools.cache
def _renderer_digest() -> str:
    package = Path(__file__).parent
    versions = ";".join(
        f"{name}=={importlib.metadata.version(name)}" for name in RENDERING_PACKAGES
    )
    code = source_digest([package], (".py", ".j2", ".css"), package)
    return hashlib.sha256(f"{code}:{versions}".encode()).hexdigest()


def _kept(published: Path, page: Path, digest: str) -> bool:
    """Link (or, where links cannot be made, copy) the `published` page to `page` when it was made
    from what `digest` describes; False when it must be written."""
    try:
        with published.open("rb") as head:
            found = PAGE_DIGEST.search(head.read(PAGE_HEAD_BYTES).decode("utf-8", "replace"))
    except OSError:
        return False
    if found is None or found.group(1) != digest:
        return False
    page.unlink(missing_ok=True)
    try:
        os.link(published, page)
    except OSError:
        shutil.copyfile(published, page)
    return True


def leadership_sections(
    tables: PublishedTables, min_group_size: int, team_pages: dict[str, str] | None = None
) -> list[Section]:
    """The leadership page's sections in page order; a section whose table is not published is
    left out."""
    featured = _featured_indicator(tables)
    featured_mean = tables.mean_indicator(featured)
    sections: list[Section] = []
    sections += [
        Section(
            "teams",
            "Teams at a glance",
            "Each team's average on each scale in the latest wave against the whole organization."
            " Read across a row for a team's profile, down a column to compare teams on one"
            " scale. Click a team to open its page.",
            figures.team_heatmap(tables, min_group_size, team_pages),
            opens_team_pages=bool(team_pages),
        ),
    ]
    if _has_rows(tables.group_indicators):
        sections.append(
            Section(
                "groups",
                "Service lines and units",
                "Each service line and unit as a whole, for what teams share. A group is shown"
                " only when it has enough respondents on its own.",
                figures.group_heatmap(tables, min_group_size),
            )
        )
    sections += [
        Section(
            "trend",
            f"Trend: {featured_mean.name}",
            "Each team across the survey waves, with the whole organization as a dashed line and"
            " actions from the action log as stars. Click a team in the legend to hide it;"
            " double-click to show it alone.",
            figures.team_trends(tables, min_group_size, featured),
        ),
    ]
    if any(tables.band_share_indicators(mean) for mean in tables.mean_indicators()):
        sections.append(
            Section(
                "bands",
                "Bands of every scale",
                "How the organization's respondents spread across the bands of each scale in the"
                " latest two waves.",
                figures.band_shares(tables, min_group_size),
            )
        )
    if _has_organization_means(tables.exposure_effects, tables):
        sections.append(
            Section(
                "exposure",
                "Exposure",
                "How scores differ with what staff face at work: client aggression, the share of"
                " clients who use stimulants, and access to supervision.",
                figures.exposure_effects(tables, min_group_size),
            )
        )
    if _has_rows(tables.response_rates):
        sections.append(
            Section(
                "participation",
                "Participation",
                "How many of the staff invited took part. Results from a team with low"
                " participation may not speak for the whole team.",
                figures.response_rates(tables),
            )
        )
    if _has_rows(tables.instrument_reliability):
        sections.append(
            Section(
                "reliability",
                "Reliability of the scales",
                "Whether each scale's items were answered consistently enough for its score to be"
                " read as one thing.",
                figures.instrument_reliability(tables),
            )
        )
    return sections


def board_pack_sections(tables: PublishedTables, min_group_size: int) -> list[Section]:
    """The charts of a board pack: the organization's scores as cards, then the leadership
    page's charts."""
    organization = Section(
        "organization",
        "Organization",
        "The whole organization's average on each scale in the latest wave, its band, and the"
        " change since the previous wave.",
        figures.organization_headline(tables, min_group_size),
    )
    return [organization, *leadership_sections(tables, min_group_size)]


def _leadership_html(
    environment: Environment,
    tables: PublishedTables,
    run: RunFacts,
    min_group_size: int,
    team_pages: dict[str, str],
    priorities: list[TeamPriority],
    strategies: Sequence[Strategy],
) -> str:
    sections = leadership_sections(tables, min_group_size, team_pages)
    wave = tables.latest_wave()
    org_waves = tables.org_indicators["wave"]
    warnings = _warning_rows(tables, team_pages)
    return environment.get_template("leadership.html.j2").render(
        run=run,
        home="",
        min_group_size=min_group_size,
        wave=wave,
        previous_wave=max(org_waves[org_waves < wave], default=None),
        sections=_rendered(sections, bundle=PLOTLY_BUNDLE),
        priorities=priorities,
        what_worked=what_worked(tables, strategies),
        warned_teams=[row for row in priorities if row.warnings],
        organization=organization_scores(tables, min_group_size),
        warnings=warnings,
        teams=_team_rows(tables, wave, min_group_size, team_pages),
        with_response_rates=tables.response_rates is not None,
        method=_method(tables, warnings, severity_rule=True),
    )


def _team_html(
    environment: Environment,
    tables: PublishedTables,
    team_id: str,
    run: RunFacts,
    min_group_size: int,
    page_digest: str,
    strategies: list[Strategy],
) -> str:
    name = tables.team_display_names()[team_id]
    sections = [
        Section(
            "comparison",
            "Compared with the organization",
            f"{name}'s average on each scale in the latest wave beside the whole organization's,"
            " over the scale's bands.",
            figures.team_versus_organization(tables, min_group_size, team_id),
        ),
        Section(
            "trend",
            "Across the waves",
            "The team on every scale across the survey waves, with the organization for"
            " reference and the team's actions from the action log.",
            figures.team_trend_panels(tables, min_group_size, team_id),
        ),
    ]
    if any(tables.band_share_indicators(mean) for mean in tables.mean_indicators()):
        sections.append(
            Section(
                "bands",
                "Bands",
                "How the team's respondents spread across the bands of each scale, beside the"
                " whole organization.",
                figures.band_shares(tables, min_group_size, team_id),
            )
        )
    wave = tables.latest_wave()
    team = records(tables.teams[tables.teams["team_id"].astype(str) == team_id])
    warnings = _warning_rows(tables, {})
    return environment.get_template("team.html.j2").render(
        page_digest=page_digest,
        run=run,
        home="../",
        min_group_size=min_group_size,
        team_name=name,
        service_line=_text(team[0]["service_line"]) if team else "",
        parent_unit=_text(team[0]["parent_unit"]) if team else "",
        wave=wave,
        sections=_rendered(sections, bundle=f"../{PLOTLY_BUNDLE}"),
        actions=_action_rows(tables),
        participation=_participation_rows(tables),
        warnings=warnings,
        concerns=_team_concerns(tables, team_id),
        strategies=strategies,
        indicator_names=tables.indicator_names(),
        method=_method(tables, warnings),
    )


def _team_concerns(tables: PublishedTables, team_id: str) -> list[str]:
    """Every scale of concern for the team, most severe first, in plain words."""
    rows = where_to_act(tables, [], {}, WARNING_RULE_NAMES, top_reasons=None)
    return next((list(row.reasons) for row in rows if row.team_id == team_id), [])


def _index_html(
    environment: Environment,
    tables: PublishedTables,
    run: RunFacts,
    min_group_size: int,
    team_pages: dict[str, str],
    linked_pages: Sequence[PageLink],
) -> str:
    wave = tables.latest_wave()
    leadership = PageLink(
        LEADERSHIP_PAGE,
        "Leadership summary",
        f"organization and team indicators for wave {wave}, early warnings, trends, bands,"
        " participation and methods",
    )
    teams = _team_rows(tables, wave, min_group_size, team_pages)
    return environment.get_template("index.html.j2").render(
        run=run,
        home="",
        min_group_size=min_group_size,
        duration=_duration(run.started_at, run.finished_at),
        pages=[leadership, *linked_pages],
        teams=[team for team in teams if team["page"]],
        teams_without_page=sum(1 for team in teams if not team["page"]),
        wave=wave,
    )


def _rendered(sections: list[Section], bundle: str) -> list[tuple[Section, Markup | None]]:
    """Each section with its figure's HTML; only the first figure loads the plotly.js `bundle`
    (a path relative to the page), and the later figures' scripts run after it."""
    rendered = []
    loads_plotly = True
    for section in sections:
        figure_html = None
        if section.spec is not None:
            figure_html = Markup(
                pio.to_html(
                    section.spec,
                    # The spec is already in the validated form (tests check it against
                    # go.Figure): validating it again would cost most of a team page's time.
                    validate=False,
                    full_html=False,
                    include_plotlyjs=bundle if loads_plotly else False,
                    config=PLOTLY_CONFIG,
                    div_id=f"figure-{section.anchor}",
                    post_script=OPEN_TEAM_PAGE_ON_CLICK if section.opens_team_pages else None,
                )
            )
            loads_plotly = False
        rendered.append((section, figure_html))
    return rendered


def _featured_indicator(tables: PublishedTables) -> str:
    """The trend chart shows secondary traumatic stress when it is measured."""
    published = tables.published_indicators()
    candidates = [
        mean.indicator for mean in tables.mean_indicators() if mean.indicator in published
    ]
    if not candidates:
        raise ValueError("no mean indicator is published")
    if figures.DEFAULT_TREND_INDICATOR in candidates:
        return figures.DEFAULT_TREND_INDICATOR
    return candidates[0]


def _has_rows(frame: pd.DataFrame | None) -> bool:
    return frame is not None and not frame.empty


def _has_organization_means(frame: pd.DataFrame | None, tables: PublishedTables) -> bool:
    if frame is None:
        return False
    means = {mean.indicator for mean in tables.mean_indicators()}
    organization = frame[frame["group_type"] == ORGANIZATION_GROUP]
    return bool(organization["indicator"].isin(means).any())


def _method(
    tables: PublishedTables, warnings: list[dict[str, str]], *, severity_rule: bool = False
) -> dict[str, object]:
    """What the method section says: credits, bands, and the thresholds behind the marks (the
    rules of the page's `warnings`)."""
    instruments = _credited_instruments(tables)
    return {
        "instruments": instruments,
        "caveat_cbi": any(instrument["id"] == "cbi" for instrument in instruments),
        "scales": _scale_rows(tables),
        "warning_rules": sorted({row["rule"] for row in warnings}),
        "with_reliability": tables.instrument_reliability is not None,
        "severity_rule": severity_rule,
    }


def _credited_instruments(tables: PublishedTables) -> list[dict[str, str]]:
    """The instruments behind any published indicator: each one shown must be credited."""
    published = tables.published_indicators()
    definitions = tables.indicator_definitions
    shown_ids = set(definitions.loc[definitions["indicator"].isin(published), "instrument_id"])
    rows = tables.instruments[tables.instruments["instrument_id"].isin(shown_ids)]
    credited = []
    for row in records(rows):
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


def _team_rows(
    tables: PublishedTables, wave: str, min_group_size: int, team_pages: dict[str, str]
) -> list[dict[str, str]]:
    latest = tables.team_indicators[tables.team_indicators["wave"] == wave]
    shown_team_ids = set(latest.loc[shown_rows(latest), "team_id"].astype(str))
    names = tables.team_display_names()
    details = {str(row["team_id"]): row for row in records(tables.teams)}
    rates = _latest_response_rates(tables, wave)
    rows = []
    for team_id in names:
        detail = details.get(team_id)
        rows.append(
            {
                "name": names[team_id],
                "page": team_pages.get(team_id, ""),
                "service_line": _text(detail["service_line"]) if detail else "",
                "parent_unit": _text(detail["parent_unit"]) if detail else "",
                "response_rate": rates.get(team_id, ""),
                # One wording for "suppressed" and "no rows": telling them apart would say
                # whether anyone in a small team answered.
                "status": "shown"
                if team_id in shown_team_ids
                else f"fewer than {min_group_size} respondents",
            }
        )
    return sorted(rows, key=lambda row: (row["service_line"].casefold(), row["name"].casefold()))


def _latest_response_rates(tables: PublishedTables, wave: str) -> dict[str, str]:
    if tables.response_rates is None:
        return {}
    rates = tables.response_rates
    latest = rates[(rates["wave"] == wave) & (rates["group_type"] == TEAM_GROUP)]
    return {
        str(row["group_id"]): f"{row['response_rate']:.0%}"
        + (" (low)" if flag(row["low_response_rate"]) else "")
        for row in records(latest[shown_rows(latest, "response_rate")])
    }


def _warning_rows(tables: PublishedTables, team_pages: dict[str, str]) -> list[dict[str, str]]:
    """The warnings of the latest wave: earlier waves' warnings are history, not news."""
    if tables.early_warnings is None:
        return []
    warnings = tables.early_warnings[tables.early_warnings["wave"] == tables.latest_wave()]
    names = tables.team_display_names()
    scale_names = tables.indicator_names()
    rows = [
        {
            "team": names.get(str(row["team_id"]), str(row["team_id"])),
            "page": team_pages.get(str(row["team_id"]), ""),
            "indicator": scale_names.get(str(row["indicator"]), str(row["indicator"])),
            "rule": _rule_name(row["rule"]),
            "evidence": _text(row["evidence"]),
        }
        for row in records(warnings)
    ]
    return sorted(rows, key=lambda row: (row["team"].casefold(), row["indicator"]))


def _action_rows(tables: PublishedTables) -> list[dict[str, str]]:
    """Each action with who took it and which scores changed beyond chance around it."""
    if tables.actions is None:
        return []
    names = tables.team_display_names()
    scale_names = tables.indicator_names()
    rows = []
    for _, action in tables.actions.groupby("action_id", sort=False):
        first = action.iloc[0]
        if pd.isna(first["wave_after"]):
            outcome = "No survey wave since."
        else:
            changed = [
                f"{scale_names.get(str(row['indicator']), str(row['indicator']))}"
                f" {row['value_before']:.1f} to {row['value_after']:.1f}"
                for row in records(action)
                if flag(row["change_significant"])
            ]
            before = _text(first["wave_before"]) or "the start"
            between = f"between {before} and {first['wave_after']}"
            outcome = (
                f"Changed beyond chance {between}: {'; '.join(changed)}."
                if changed
                else f"No score changed beyond chance {between}."
            )
        rows.append(
            {
                "day": iso_day(first["action_date"]),
                "who": "Whole organization"
                if pd.isna(first["team_id"])
                else names.get(str(first["team_id"]), str(first["team_id"])),
                "action": _text(first["action"]),
                "outcome": outcome,
            }
        )
    return sorted(rows, key=lambda row: row["day"])


def _participation_rows(tables: PublishedTables) -> list[dict[str, object]]:
    """The team's response rate per wave beside the organization's (a team page's tables hold
    no other group)."""
    if tables.response_rates is None:
        return []
    rates = tables.response_rates
    shown = shown_rows(rates, "response_rate")
    organization = {
        row["wave"]: rate_text(row)
        for row in records(rates[shown & (rates["group_type"] == ORGANIZATION_GROUP)])
    }
    rows = []
    for row, is_shown in zip(records(rates), shown, strict=True):
        if row["group_type"] != TEAM_GROUP:
            continue
        rows.append(
            {
                "wave": _text(row["wave"]),
                "rate": rate_text(row) if is_shown else "not shown: too few invited or responding",
                "low": bool(is_shown) and flag(row["low_response_rate"]),
                "organization": organization.get(row["wave"], ""),
            }
        )
    return sorted(rows, key=lambda row: row["wave"])


def _rule_name(rule: object) -> str:
    return WARNING_RULE_NAMES.get(str(rule), str(rule).replace("_", " "))


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
