"""Dashboard figures from small hand-made published tables (no browser), and the fixture tables
the page and browser tests share."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime

import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboards.figures import (
    band_shares,
    exposure_effects,
    group_heatmap,
    instrument_reliability,
    organization_headline,
    response_rates,
    team_heatmap,
    team_trend_panels,
    team_trends,
    team_versus_organization,
)
from dashboards.model import PublishedTables, RunFacts
from dashboards.plotting import ORGANIZATION, FigureSpec

MIN_GROUP_SIZE = 5
WAVES = ("2025-01", "2025-03", "2025-05")
SCRIPT_TEAM = "<script>alert(1)</script>"
ESCAPED_SCRIPT_TEAM = "&lt;script&gt;alert(1)&lt;/script&gt;"
# A value an upstream bug left in a suppressed row: it must never reach a figure or page.
LEAKED_VALUE = 99.87
SUPPRESSED_N = 3

TEAMS = [
    ("east", "Mobile outreach East", "Outreach", "Community services"),
    ("dropin", "Drop-in centre", "Harm reduction", "Community services"),
    ("housing", "Housing support", "Housing", "Residential services"),
    ("script", SCRIPT_TEAM, "Harm reduction", "Community services"),
    ("night", "Night shelter", "Housing", "Residential services"),
]

# indicator, instrument, scale, scale name, risk_when, bands (id, lower, lower_inclusive)
PROQOL_BANDS = [("low", 10, True), ("moderate", 22, False), ("high", 42, True)]
CBI_BANDS = [("low", 0, True), ("high", 50, True)]
MEANS = [
    ("proqol_cs", "proqol", "cs", "Compassion satisfaction", "low", PROQOL_BANDS),
    ("proqol_bo", "proqol", "bo", "Burnout", "high", PROQOL_BANDS),
    ("proqol_sts", "proqol", "sts", "Secondary traumatic stress", "high", PROQOL_BANDS),
    ("cbi_personal", "cbi", "personal", "Personal burnout", "high", CBI_BANDS),
    ("cbi_work", "cbi", "work", "Work-related burnout", "high", CBI_BANDS),
    ("cbi_client", "cbi", "client", "Client-related burnout", "high", CBI_BANDS),
    (
        "brs_resilience",
        "brs",
        "resilience",
        "Resilience",
        "low",
        [("low", 1, True), ("normal", 3.0, True), ("high", 4.3, False)],
    ),
    (
        "miniz_burnout",
        "miniz",
        "burnout",
        "Burnout (single item)",
        "high",
        [("none", 1, True), ("burnout", 3, True)],
    ),
]
INSTRUMENT_NAMES = {
    "proqol": "ProQOL 5",
    "cbi": "CBI",
    "brs": "BRS",
    "miniz": "Mini-Z burnout item",
    "ctx": "Stimulant-work context",
}
HALF_WIDTH = {"proqol": 2.5, "cbi": 6.0, "brs": 0.3, "miniz": 0.4}

# Latest-wave team means, in the order of MEANS. East has 6 scores in the least favourable band.
LATEST_TEAM_MEANS = {
    "east": [30.0, 30.5, 43.5, 55.0, 52.0, 58.0, 2.8, 3.1],
    "dropin": [38.0, 26.0, 30.2, 40.0, 45.0, 48.0, 3.4, 2.2],
    "housing": [44.0, 21.0, 24.0, 35.0, 38.0, 30.0, 4.5, 1.8],
    "script": [36.0, 25.0, 33.3, 51.0, 47.0, 44.0, 3.6, 2.4],
}
# Organization means per wave; STS clearly worsened and CS clearly improved since 2025-03.
ORG_MEANS = {
    "2025-01": [34.0, 25.0, 28.0, 44.0, 45.0, 44.0, 3.70, 2.30],
    "2025-03": [33.0, 25.5, 29.0, 45.0, 45.5, 44.5, 3.75, 2.35],
    "2025-05": [36.5, 26.0, 33.0, 45.5, 46.0, 45.0, 3.55, 2.40],
}
ORG_HALF_WIDTH = {"proqol": 1.5, "cbi": 3.0, "brs": 0.1, "miniz": 0.15}
# Organization shares of the STS bands (low, moderate, high) per wave.
STS_SHARES = {
    "2025-01": (0.20, 0.70, 0.10),
    "2025-03": (0.15, 0.73, 0.12),
    "2025-05": (0.10, 0.72, 0.18),
}


def _team_rows() -> list[dict]:
    rows = []
    for wave_index, wave in enumerate(WAVES):
        # Earlier waves sit a little lower, so the trend has a direction.
        drift = (len(WAVES) - 1 - wave_index) * 0.05
        for team_id, latest in LATEST_TEAM_MEANS.items():
            for (indicator, instrument, *_), value in zip(MEANS, latest, strict=True):
                value = round(value * (1 - drift), 2)
                half = HALF_WIDTH[instrument]
                rows.append(_shown(wave, indicator, value, half, n=12, team_id=team_id))
        for indicator, instrument, *_ in MEANS:
            if wave == WAVES[-1]:
                rows.append(_suppressed(wave, indicator, team_id="night"))
            else:
                rows.append(_shown(wave, indicator, 20.0, HALF_WIDTH[instrument], 6, "night"))
    return rows


def _shown(wave: str, indicator: str, value: float, half: float, n: int, team_id: str) -> dict:
    return {
        "wave": wave,
        "team_id": team_id,
        "indicator": indicator,
        "n": n,
        "value": value,
        "ci_low": round(value - half, 2),
        "ci_high": round(value + half, 2),
        "suppressed": False,
    }


def _suppressed(wave: str, indicator: str, team_id: str) -> dict:
    return {
        "wave": wave,
        "team_id": team_id,
        "indicator": indicator,
        "n": SUPPRESSED_N,
        "value": None,
        "ci_low": None,
        "ci_high": None,
        "suppressed": True,
    }


# Team shares of the STS bands (low, moderate, high) in the latest wave.
TEAM_STS_SHARES = {
    "east": (0.08, 0.42, 0.50),
    "dropin": (0.25, 0.67, 0.08),
    "housing": (0.58, 0.42, 0.0),
    "script": (0.17, 0.75, 0.08),
}
# invited, respondents per team in the latest wave; Night shelter's rate is suppressed.
PARTICIPATION = {"east": (20, 12), "dropin": (25, 12), "housing": (15, 12), "script": (30, 12)}
ORGANIZATION_PARTICIPATION = (104, 54)
# Cronbach's alpha per scale, the same in every wave except ProQOL burnout, low in the latest.
ALPHAS = {
    "proqol_cs": 0.88,
    "proqol_bo": 0.74,
    "proqol_sts": 0.81,
    "cbi_personal": 0.87,
    "cbi_work": 0.86,
    "cbi_client": 0.85,
    "brs_resilience": 0.83,
}
LOW_BURNOUT_ALPHA = 0.55
# Organization STS by exposure band (band, label, value, half-width of its interval), latest
# wave; the most exposed stimulant-caseload band is suppressed.
EXPOSURES = {
    ("ctx_client_aggression", "Client aggression or threats, past month"): [
        ("never", "Never", 26.0, 1.5),
        ("one_to_three", "Once to three times", 30.0, 1.5),
        ("weekly", "Weekly or more", 36.2, 2.0),
    ],
    ("ctx_stimulant_share", "Share of caseload who use stimulants"): [
        ("under_half", "Under half of caseload", 29.0, 3.0),
        ("half", "Half to three quarters", 30.0, 3.0),
        ("most", "Three quarters or more", None, None),
    ],
}
# action id, team (None: the whole organization), date, text, wave before, wave after
ACTIONS = [
    ("a1", "east", "2025-02-10", "Weekly reflective supervision started", WAVES[0], WAVES[1]),
    ("a2", "dropin", "2025-04-01", "Debrief after every critical incident", WAVES[1], WAVES[2]),
    ("a3", None, "2025-03-15", "Peer support line opened", WAVES[1], WAVES[2]),
]
# Drop-in centre's STS rose beyond chance after its action.
DROPIN_STS_AFTER_ACTION = (28.7, 30.2, 0.012)


def _optional_tables() -> dict[str, pd.DataFrame]:
    latest = WAVES[-1]
    rates = [
        {
            "wave": latest,
            "group_type": "team",
            "group_id": team_id,
            "invited": invited,
            "respondents": respondents,
            "response_rate": respondents / invited,
            "low_response_rate": respondents / invited < 0.6,
            "suppressed": False,
        }
        for team_id, (invited, respondents) in PARTICIPATION.items()
    ]
    rates += [
        {
            "wave": latest,
            "group_type": "team",
            "group_id": "night",
            "invited": 4,
            "respondents": None,
            "response_rate": None,
            "low_response_rate": None,
            "suppressed": True,
        },
        {
            "wave": latest,
            "group_type": "organization",
            "group_id": "all",
            "invited": ORGANIZATION_PARTICIPATION[0],
            "respondents": ORGANIZATION_PARTICIPATION[1],
            "response_rate": ORGANIZATION_PARTICIPATION[1] / ORGANIZATION_PARTICIPATION[0],
            "low_response_rate": False,
            "suppressed": False,
        },
    ]
    reliability = [
        {
            "wave": wave,
            "indicator": indicator,
            "n": 54,
            "alpha": LOW_BURNOUT_ALPHA if (wave, indicator) == (latest, "proqol_bo") else alpha,
            "below_threshold": (wave, indicator) == (latest, "proqol_bo"),
            "suppressed": False,
        }
        for wave in WAVES
        for indicator, alpha in ALPHAS.items()
    ]
    warnings = [
        {
            "wave": latest,
            "team_id": "east",
            "indicator": "proqol_sts",
            "rule": "crossed_band",
            "evidence": "Secondary traumatic stress mean moved from the moderate band (41.3 in"
            " 2025-03) to the high band (43.5 in 2025-05)",
        },
        {
            "wave": WAVES[0],
            "team_id": "dropin",
            "indicator": "proqol_bo",
            "rule": "far_worse_than_organization",
            "evidence": "an earlier wave's warning, not shown for the latest wave",
        },
    ]
    exposure_rows = []
    for (exposure, label), bands in EXPOSURES.items():
        for order, (band, band_label, value, half) in enumerate(bands, start=1):
            row = {
                "wave": latest,
                "group_type": "organization",
                "group_id": "all",
                "exposure_item": exposure,
                "exposure_label": label,
                "exposure_band": band,
                "exposure_band_label": band_label,
                "exposure_band_order": order,
                "indicator": "proqol_sts",
            }
            if value is None:
                numbers = {"n": None, "value": None, "ci_low": None, "ci_high": None}
                exposure_rows.append(row | numbers | {"suppressed": True})
            else:
                numbers = {"n": 18, "value": value, "ci_low": value - half, "ci_high": value + half}
                exposure_rows.append(row | numbers | {"suppressed": False})
    actions = [
        {
            "action_id": action_id,
            "team_id": team_id,
            "action_date": date.fromisoformat(day),
            "action": text,
            "indicator": indicator,
            "wave_before": before,
            "wave_after": after,
            "value_before": None,
            "value_after": None,
            "change_p_value": None,
            "change_significant": None,
        }
        for action_id, team_id, day, text, before, after in ACTIONS
        for indicator, *_ in MEANS
    ]
    for action in actions:
        if (action["action_id"], action["indicator"]) == ("a2", "proqol_sts"):
            before, after, p_value = DROPIN_STS_AFTER_ACTION
            action |= {
                "value_before": before,
                "value_after": after,
                "change_p_value": p_value,
                "change_significant": True,
            }
    return {
        "response_rates": pd.DataFrame(rates),
        "instrument_reliability": pd.DataFrame(reliability),
        "early_warnings": pd.DataFrame(warnings),
        "exposure_effects": pd.DataFrame(exposure_rows),
        "actions": pd.DataFrame(actions),
        "group_indicators": pd.DataFrame(_group_rows()),
    }


# Service-line means in the latest wave (Outreach is one team: too few on its own).
SERVICE_LINE_MEANS = {"Harm reduction": 34.0, "Housing": 24.5}


def _group_rows() -> list[dict]:
    rows = []
    for service_line, value in SERVICE_LINE_MEANS.items():
        row = _shown(WAVES[-1], "proqol_sts", value, 2.0, 24, team_id="")
        del row["team_id"]
        rows.append(row | {"group_type": "service_line", "group_id": service_line})
    outreach = _suppressed(WAVES[-1], "proqol_sts", team_id="")
    del outreach["team_id"]
    rows.append(outreach | {"group_type": "service_line", "group_id": "Outreach"})
    return rows


def make_published_tables(*, optional: bool = True) -> PublishedTables:
    """Five teams over three waves; Night shelter is suppressed in the latest wave. With
    `optional`, also the tables a published file may lack."""
    team_rows = _team_rows()
    for team_id, shares in TEAM_STS_SHARES.items():
        for band, share in zip(("low", "moderate", "high"), shares, strict=True):
            row = _shown(WAVES[-1], f"proqol_sts_share_{band}", share, 0.1, 12, team_id)
            team_rows.append(row)
    team_rows += [
        _suppressed(WAVES[-1], f"proqol_sts_share_{band}", "night")
        for band in ("low", "moderate", "high")
    ]
    # The upstream bug the dashboards must survive: a suppressed row that still holds numbers.
    leaked = next(
        row
        for row in team_rows
        if row["team_id"] == "night"
        and row["wave"] == WAVES[-1]
        and row["indicator"] == "proqol_sts"
    )
    leaked.update(value=LEAKED_VALUE, ci_low=LEAKED_VALUE - 1, ci_high=LEAKED_VALUE + 1)

    org_rows = []
    for wave, values in ORG_MEANS.items():
        for (indicator, instrument, *_), value in zip(MEANS, values, strict=True):
            half = ORG_HALF_WIDTH[instrument]
            row = _shown(wave, indicator, value, half, n=54, team_id="")
            del row["team_id"]
            org_rows.append(row)
        for band, share in zip(("low", "moderate", "high"), STS_SHARES[wave], strict=True):
            row = _shown(wave, f"proqol_sts_share_{band}", share, 0.05, n=54, team_id="")
            del row["team_id"]
            org_rows.append(row)

    definitions = [
        {
            "indicator": indicator,
            "instrument_id": instrument,
            "scale_id": scale,
            "scale_name": name,
            "kind": "mean",
            "band_id": None,
            "risk_when": risk,
            # Charts name a scale by scale_name and instrument; label is not what they show.
            "label": f"{name} (mean score)",
        }
        for indicator, instrument, scale, name, risk, _ in MEANS
    ] + [
        {
            "indicator": f"proqol_sts_share_{band}",
            "instrument_id": "proqol",
            "scale_id": "sts",
            "scale_name": "Secondary traumatic stress",
            "kind": "share",
            "band_id": band,
            "risk_when": "high",
            "label": f"Share in the {band} secondary traumatic stress band",
        }
        for band in ("low", "moderate", "high")
    ]
    bands = [
        {
            "indicator": indicator,
            "band_id": band_id,
            "band_order": order,
            "lower": float(lower),
            "lower_inclusive": inclusive,
        }
        for indicator, *_, scale_bands in MEANS
        for order, (band_id, lower, inclusive) in enumerate(scale_bands, start=1)
    ]
    instruments = [
        {
            "instrument_id": "proqol",
            "name": INSTRUMENT_NAMES["proqol"],
            "title": "Professional Quality of Life Scale, version 5",
            "credit": "ProQOL 5, B. Hudnall Stamm. Credit: the Center for Victims of Torture.",
            "licence": "Free to copy and use with credit and a link to ProQOL.org.",
            "url": "https://proqol.org",
        },
        {
            "instrument_id": "cbi",
            "name": INSTRUMENT_NAMES["cbi"],
            "title": "Copenhagen Burnout Inventory",
            "credit": "Kristensen et al. (2005).",
            "licence": "Free to use.",
            "url": "https://nfa.dk",
        },
        {
            "instrument_id": "brs",
            "name": INSTRUMENT_NAMES["brs"],
            "title": "Brief Resilience Scale",
            "credit": "Smith et al. (2008).",
            "licence": "Free for research and education with citation.",
            "url": "javascript:alert(2)",
        },
        {
            "instrument_id": "miniz",
            "name": INSTRUMENT_NAMES["miniz"],
            "title": "Mini-Z single-item burnout measure",
            "credit": "Linzer et al.",
            "licence": "Free for non-commercial use.",
            "url": "https://www.professionalworklife.com",
        },
        {
            "instrument_id": "ctx",
            "name": INSTRUMENT_NAMES["ctx"],
            "title": "Context items",
            "credit": "Not a validated instrument.",
            "licence": "Free to use and adapt.",
            "url": "",
        },
    ]
    return PublishedTables(
        team_indicators=pd.DataFrame(team_rows),
        org_indicators=pd.DataFrame(org_rows),
        teams=pd.DataFrame(TEAMS, columns=["team_id", "team_name", "service_line", "parent_unit"]),
        indicator_definitions=pd.DataFrame(definitions),
        scale_bands=pd.DataFrame(bands),
        instruments=pd.DataFrame(instruments),
        **(_optional_tables() if optional else {}),
    )


def make_run_facts() -> RunFacts:
    return RunFacts(
        run_id="nightly-2025-05-20",
        started_at=datetime(2025, 5, 20, 2, 0, tzinfo=UTC),
        finished_at=datetime(2025, 5, 20, 2, 4, 12, tzinfo=UTC),
        responses_read=310,
        responses_loaded=301,
        responses_quarantined=9,
        teams_reported=4,
        teams_suppressed=1,
    )


@pytest.fixture
def tables() -> PublishedTables:
    return make_published_tables()


def built(spec: FigureSpec) -> go.Figure:
    """The spec as a plotly Figure: validated, so that a property plotly does not know fails the
    test (pages write specs without validating them)."""
    return go.Figure(spec)


def _cell(figure: go.Figure, team_label: str, column_label: str) -> dict[str, object]:
    heatmap = figure.data[0]
    row = list(heatmap.y[1]).index(team_label)
    column = [_column_name(label) for label in heatmap.x].index(column_label)
    return {
        "z": heatmap.z[row][column],
        "text": heatmap.text[row][column],
        "hover": heatmap.customdata[row][column][0],
        "page": heatmap.customdata[row][column][1],
    }


def _one_line(label: str) -> str:
    """A label as one line: wrapped at spaces, and after hyphens."""
    return label.replace("-<br>", "-").replace("<br>", " ")


def _column_name(heading: str) -> str:
    """A heatmap column's scale as the other charts name it, from its short heading: the
    scale's name, then its instrument's first word in small type."""
    scale, instrument = re.fullmatch(r"(.*)<br><span[^>]*>(.*)</span>", heading).groups()
    scale = _one_line(scale)
    return next(
        f"{name} ({INSTRUMENT_NAMES[instrument_id]})"
        for _, instrument_id, _, name, *_ in MEANS
        if name == scale and INSTRUMENT_NAMES[instrument_id].startswith(instrument)
    )


def _title(figure: go.Figure) -> str:
    """The title as one line: long titles are broken into lines with <br>."""
    return figure.layout.title.text.replace("<br>", " ")


def _subtitle(figure: go.Figure) -> str:
    return figure.layout.title.subtitle.text.replace("<br>", " ")


def _numbers_in(figure: go.Figure) -> str:
    text = figure.to_json()
    # Base64-packed arrays would hide numbers from every check below.
    assert "bdata" not in text
    return text


def _lines(figure: go.Figure) -> list[go.Scatter]:
    return [trace for trace in figure.data if trace.mode == "lines+markers"]


def _with(tables: PublishedTables, **frames: pd.DataFrame | None) -> PublishedTables:
    return dataclasses.replace(tables, **frames)


def _with_published_change(
    frame: pd.DataFrame, indicator: str, *, significant: bool, p_value: float, **where: str
) -> pd.DataFrame:
    """`frame` with the published test of the latest wave's change for one row filled in."""
    frame = frame.copy()
    for column in ("previous_wave", "change", "change_p_value", "change_significant"):
        if column not in frame:
            frame[column] = None
    row = (frame["wave"] == WAVES[-1]) & (frame["indicator"] == indicator)
    for column, value in where.items():
        row &= frame[column] == value
    frame.loc[row, ["previous_wave", "change_p_value", "change_significant"]] = [
        WAVES[-2],
        p_value,
        significant,
    ]
    return frame


# --- the team heatmap -------------------------------------------------------------------------


def test_heatmap_groups_teams_by_service_line_in_the_latest_wave(tables):
    figure = built(team_heatmap(tables, MIN_GROUP_SIZE))

    assert len(figure.data) == 1
    heatmap = figure.data[0]
    assert isinstance(heatmap, go.Heatmap)
    assert [_column_name(label) for label in heatmap.x] == [
        f"{name} ({INSTRUMENT_NAMES[instrument]})" for _, instrument, _, name, *_ in MEANS
    ]
    # Short headings: the scale, then its instrument in small type.
    assert heatmap.x[1] == "Burnout<br><span style='font-size:10px'>ProQOL</span>"
    # Service lines alphabetically, teams alphabetically within them; "<" sorts before letters.
    assert [list(level) for level in heatmap.y] == [
        ["Harm reduction", "Harm reduction", "Housing", "Housing", "Outreach"],
        [
            ESCAPED_SCRIPT_TEAM,
            "Drop-in centre",
            "Housing support",
            "Night shelter",
            "Mobile outreach East",
        ],
    ]
    assert figure.layout.xaxis.type == "category"
    assert figure.layout.yaxis.type == "multicategory"
    assert "Wave 2025-05, teams grouped by service line" in _subtitle(figure)


@pytest.mark.parametrize(
    ("team", "column", "step", "text"),
    [
        # Steps 0 (much better) to 6 (much worse); a fifth of the span of a scale's bands or more
        # takes an end step. STS 43.5 against 33.0: much worse (risk when high), its interval
        # clear of the organization's value, and warned.
        ("Mobile outreach East", "Secondary traumatic stress (ProQOL 5)", 6, "43.5 ● ⚠"),
        # Low resilience is worse on a risk-when-low scale: 2.80 against 3.55.
        ("Mobile outreach East", "Resilience (BRS)", 6, "2.80 ●"),
        # High compassion satisfaction and resilience are better: colour follows risk.
        ("Housing support", "Compassion satisfaction (ProQOL 5)", 0, "44.0 ●"),
        ("Housing support", "Resilience (BRS)", 0, "4.50 ●"),
        # As the organization (26.0 against 26.0): the middle step, nothing marked.
        ("Drop-in centre", "Burnout (ProQOL 5)", 3, "26.0"),
        # Work-related burnout 52.0 against 46.0: 6 points worse, 0.6 of a fifth of the 0-50
        # span of its bands (3 + 1.8 steps); the interval reaches the organization's value.
        ("Mobile outreach East", "Work-related burnout (CBI)", 5, "52.0"),
    ],
)
def test_heatmap_colours_cells_by_difference_from_the_organization(
    tables, team, column, step, text
):
    cell = _cell(built(team_heatmap(tables, MIN_GROUP_SIZE)), team, column)

    assert cell["z"] == step
    assert cell["text"] == text


def test_heatmap_hover_names_team_indicator_value_interval_and_n(tables):
    cell = _cell(
        built(team_heatmap(tables, MIN_GROUP_SIZE)),
        "Mobile outreach East",
        "Secondary traumatic stress (ProQOL 5)",
    )

    assert cell["hover"] == (
        "<b>Mobile outreach East</b><br>Secondary traumatic stress (ProQOL 5)<br>"
        "Score 43.5 (high band)<br>95% interval 41.0–46.0<br>n = 12<br>"
        "Organization 33.0: clearly different"
    )


def test_heatmap_hover_adds_the_shrunk_estimate_and_tested_change_where_published(tables):
    team_indicators = _with_published_change(
        tables.team_indicators, "proqol_sts", significant=True, p_value=0.0123, team_id="east"
    )
    east_sts = (team_indicators["team_id"] == "east") & (
        team_indicators["indicator"] == "proqol_sts"
    )
    team_indicators.loc[east_sts & (team_indicators["wave"] == WAVES[-1]), "change"] = 2.17
    team_indicators["shrunk_value"] = None
    team_indicators.loc[east_sts, "shrunk_value"] = 41.86

    cell = _cell(
        built(team_heatmap(_with(tables, team_indicators=team_indicators), MIN_GROUP_SIZE)),
        "Mobile outreach East",
        "Secondary traumatic stress (ProQOL 5)",
    )

    assert cell["hover"].endswith(
        "clearly different<br>Pulled toward the organization: 41.9<br>"
        "Change since 2025-03: +2.2 (clear change)"
    )


def test_heatmap_cells_carry_the_page_a_click_opens(tables):
    figure = built(team_heatmap(tables, MIN_GROUP_SIZE, {"east": "teams/east.html"}))

    assert _cell(figure, "Mobile outreach East", "Resilience (BRS)")["page"] == "teams/east.html"
    assert _cell(figure, "Night shelter", "Resilience (BRS)")["page"] == ""
    assert "Click a team's row to open its page." in _subtitle(figure)


def test_suppressed_heatmap_cells_carry_no_number(tables):
    figure = built(team_heatmap(tables, MIN_GROUP_SIZE))

    for column_label in figure.data[0].x:
        column = _column_name(column_label)
        cell = _cell(figure, "Night shelter", column)
        assert cell["z"] is None
        assert cell["text"] == "fewer<br>than 5"
        assert cell["hover"] == (
            f"<b>Night shelter</b><br>{column}<br>fewer than 5 respondents: not shown"
        )
    serialised = _numbers_in(figure)
    assert str(LEAKED_VALUE) not in serialised
    assert f"n = {SUPPRESSED_N}" not in serialised


def test_heatmap_title_names_the_team_clearly_worse_on_most_scales(tables):
    figure = built(team_heatmap(tables, MIN_GROUP_SIZE))

    assert _title(figure) == (
        "Mobile outreach East is clearly worse than the organization on the most scales (7 of 8)"
    )


def test_heatmap_keeps_two_teams_with_one_name_apart(tables):
    teams = tables.teams.copy()
    teams.loc[teams["team_id"] == "dropin", "team_name"] = "Housing support"

    labels = list(built(team_heatmap(_with(tables, teams=teams), MIN_GROUP_SIZE)).data[0].y[1])

    assert "Housing support (dropin)" in labels
    assert "Housing support (housing)" in labels


def test_a_missing_suppression_flag_counts_as_suppressed(tables):
    team_indicators = tables.team_indicators.copy()
    team_indicators["suppressed"] = team_indicators["suppressed"].astype("boolean")
    is_east_sts = (
        (team_indicators["team_id"] == "east")
        & (team_indicators["indicator"] == "proqol_sts")
        & (team_indicators["wave"] == "2025-05")
    )
    team_indicators.loc[is_east_sts, "suppressed"] = pd.NA

    cell = _cell(
        built(team_heatmap(_with(tables, team_indicators=team_indicators), MIN_GROUP_SIZE)),
        "Mobile outreach East",
        "Secondary traumatic stress (ProQOL 5)",
    )

    assert cell["z"] is None
    assert cell["text"] == "fewer<br>than 5"


def test_many_teams_get_a_compact_heatmap(tables):
    extra = pd.DataFrame(
        [
            _shown(WAVES[-1], "proqol_sts", 30.0 + index / 10, 2.5, 8, f"extra{index:02d}")
            for index in range(41)
        ]
    )
    team_indicators = pd.concat([tables.team_indicators, extra], ignore_index=True)

    figure = built(team_heatmap(_with(tables, team_indicators=team_indicators), MIN_GROUP_SIZE))

    heatmap = figure.data[0]
    assert len(heatmap.y[1]) == 46
    # Hundreds of labelled, separated cells are slow to draw: colour and hover carry the scores,
    # and a cell not shown still says so.
    assert (heatmap.xgap, heatmap.ygap) == (0, 0)
    extra = _cell(figure, "extra00", "Secondary traumatic stress (ProQOL 5)")
    # 30.0 against 33.0 on STS: better by 3 of a fifth of its bands' span (10-42), 1.4 steps
    # below the middle, and clear of the organization's value.
    assert (extra["z"], extra["text"]) == (2, "●")
    assert "Score 30.0 (moderate band)" in extra["hover"]
    assert _cell(figure, "Night shelter", "Resilience (BRS)")["text"] == "fewer than 5"
    assert "Hover over a cell for its score." in _subtitle(figure)


# --- service lines and units ------------------------------------------------------------------


def test_group_heatmap_shows_each_cut_on_its_own_with_small_ones_marked(tables):
    figure = built(group_heatmap(tables, MIN_GROUP_SIZE))
    heatmap = figure.data[0]

    assert [list(level) for level in heatmap.y] == [
        ["Service line"] * 3,
        ["Harm reduction", "Housing", "Outreach"],
    ]
    assert [_column_name(label) for label in heatmap.x] == ["Secondary traumatic stress (ProQOL 5)"]
    # Against the organization's 33.0: a little worse (unclear), clearly better, not shown.
    assert [list(row) for row in heatmap.text] == [["34.0"], ["24.5 ●"], ["fewer<br>than 5"]]
    assert [list(row) for row in heatmap.z] == [[3], [0], [None]]
    assert _title(figure) == (
        "No group is clearly worse than the organization on any scale in 2025-05"
    )


def test_group_heatmap_needs_the_table(tables):
    with pytest.raises(ValueError, match="no group_indicators"):
        group_heatmap(_with(tables, group_indicators=None), MIN_GROUP_SIZE)


# --- trends -----------------------------------------------------------------------------------


def test_trends_draw_the_organization_and_every_team_across_waves(tables):
    figure = built(team_trends(tables, MIN_GROUP_SIZE))

    assert [trace.name for trace in _lines(figure)] == [
        "Whole organization",
        # Least favourable latest score first; Night shelter has none in the latest wave.
        "Mobile outreach East",
        ESCAPED_SCRIPT_TEAM,
        "Drop-in centre",
        "Housing support",
        "Night shelter",
    ]
    assert all(trace.visible is True for trace in figure.data)
    assert list(figure.layout.xaxis.ticktext) == list(WAVES)
    organization = figure.data[0]
    assert list(organization.y) == [28.0, 29.0, 33.0]
    assert list(organization.error_y.array) == pytest.approx([1.5, 1.5, 1.5])
    assert list(organization.error_y.arrayminus) == pytest.approx([1.5, 1.5, 1.5])
    assert organization.line.dash == "dash"


def test_trends_mark_actions_between_the_waves_on_their_team_line(tables):
    figure = built(team_trends(tables, MIN_GROUP_SIZE))
    stars = {trace.name: trace for trace in figure.data if trace.mode == "markers"}
    east_line = next(trace for trace in figure.data if trace.name == "Mobile outreach East")

    east = stars["Mobile outreach East: actions"]
    # After 2025-01, before 2025-03; halfway between East's scores then (39.15 and 41.32).
    assert list(east.x) == [0.5]
    assert list(east.y) == [pytest.approx(40.235)]
    assert east.customdata == (
        "<b>Mobile outreach East</b><br>Action on 2025-02-10:<br>Weekly reflective supervision"
        " started",
    )
    # The star hides and shows with its team's line.
    assert east.legendgroup == east_line.legendgroup
    assert east.showlegend is False
    # The organization-wide action sits on the organization's line between 2025-03 and 2025-05.
    organization = stars["Whole organization: actions"]
    assert (list(organization.x), list(organization.y)) == ([1.5], [31.0])
    assert "Stars: actions from the action log." in _subtitle(figure)


def test_trends_without_an_action_log_draw_no_stars(tables):
    figure = built(team_trends(_with(tables, actions=None), MIN_GROUP_SIZE))

    assert [trace for trace in figure.data if trace.mode == "markers"] == []
    assert "Stars" not in _subtitle(figure)


def test_trends_leave_suppressed_points_out(tables):
    figure = built(team_trends(tables, MIN_GROUP_SIZE))
    night_shelter = next(trace for trace in figure.data if trace.name == "Night shelter")

    assert list(night_shelter.y) == [20.0, 20.0, None]
    assert night_shelter.customdata[-1] is None
    assert night_shelter.error_y.array[-1] is None
    assert night_shelter.connectgaps is False
    assert str(LEAKED_VALUE) not in _numbers_in(figure)


def test_trend_title_names_the_worst_team_in_the_latest_wave(tables):
    figure = built(team_trends(tables, MIN_GROUP_SIZE))

    assert _title(figure) == (
        "Secondary traumatic stress (ProQOL 5) is highest in Mobile outreach East (43.5 in 2025-05)"
    )
    assert "Organization 33.0 in 2025-05, up 4.0 since 2025-03" in _subtitle(figure)


def test_trend_title_looks_for_the_lowest_score_when_low_is_the_risk(tables):
    figure = built(team_trends(tables, MIN_GROUP_SIZE, indicator="brs_resilience"))

    assert _title(figure) == (
        "Resilience (BRS) is lowest in Mobile outreach East (2.80 in 2025-05)"
    )
    assert figure.layout.yaxis.title.text == "Mean score"


def test_trends_of_many_teams_draw_the_least_favourable_five(tables):
    extra = pd.DataFrame(
        [
            _shown("2025-05", "proqol_sts", score, 2.5, n=8, team_id=f"extra{score}")
            for score in (20.0, 21.0, 41.0)
        ]
    )
    team_indicators = pd.concat([tables.team_indicators, extra], ignore_index=True)

    figure = built(team_trends(_with(tables, team_indicators=team_indicators), MIN_GROUP_SIZE))

    drawn = [trace.name for trace in _lines(figure) if trace.visible is True]
    assert drawn == [
        "Whole organization",
        "Mobile outreach East",
        "extra41.0",
        ESCAPED_SCRIPT_TEAM,
        "Drop-in centre",
        "Housing support",
    ]
    in_legend_only = [trace.name for trace in _lines(figure) if trace.visible == "legendonly"]
    assert in_legend_only == ["extra21.0", "extra20.0", "Night shelter"]
    assert "Shown: the 5 teams with the highest latest scores" in _subtitle(figure)


def test_trend_hover_gives_wave_value_interval_and_n(tables):
    figure = built(team_trends(tables, MIN_GROUP_SIZE))
    east = next(trace for trace in figure.data if trace.name == "Mobile outreach East")

    assert east.customdata[-1] == (
        "<b>Mobile outreach East</b><br>2025-05: 43.5<br>95% interval 41.0–46.0<br>n = 12"
    )


# --- organization headline -------------------------------------------------------------------


def _cards(figure: go.Figure) -> dict[str, go.Indicator]:
    """Headline cards by label; a card's title is its label in bold, then one fact a line."""
    cards = {}
    for trace in figure.data:
        label = re.match(r"<b>(.*?)</b>", trace.title.text).group(1).replace("<br>", " ")
        cards[label] = trace
    return cards


def _card_lines(card: go.Indicator) -> list[str]:
    return card.title.text.split("</b><br>")[1].split("<br>")


def test_headline_shows_each_mean_with_band_interval_and_change(tables):
    figure = built(organization_headline(tables, MIN_GROUP_SIZE))

    assert len(figure.data) == len(MEANS)
    assert all(isinstance(trace, go.Indicator) for trace in figure.data)
    sts = _cards(figure)["Secondary traumatic stress (ProQOL 5)"]
    assert sts.value == 33.0
    assert sts.mode == "number+delta"
    assert sts.delta.reference == 29.0
    assert _card_lines(sts) == [
        "moderate band · n = 54",
        "95% interval 31.5–34.5",
        "vs 2025-03: clear change",
    ]


def test_headline_colours_only_changes_beyond_the_uncertainty(tables):
    cards = _cards(built(organization_headline(tables, MIN_GROUP_SIZE)))

    # STS rose beyond the intervals and more STS is worse: orange for up.
    assert cards["Secondary traumatic stress (ProQOL 5)"].delta.increasing.color == "#D55E00"
    # CS rose beyond the intervals and more CS is better: blue for up.
    assert cards["Compassion satisfaction (ProQOL 5)"].delta.increasing.color == "#0072B2"
    # BRS fell, but the intervals touch: grey, and said to be possibly chance.
    brs = cards["Resilience (BRS)"]
    assert brs.delta.decreasing.color == "#6b6b6b"
    assert _card_lines(brs)[-1] == "vs 2025-03: may be chance"


def test_headline_lets_the_published_test_decide_a_change(tables):
    org = _with_published_change(
        tables.org_indicators, "brs_resilience", significant=True, p_value=0.03
    )
    org = _with_published_change(org, "proqol_sts", significant=False, p_value=0.0612)

    cards = _cards(built(organization_headline(_with(tables, org_indicators=org), MIN_GROUP_SIZE)))

    # The intervals of BRS touch, but the test finds the fall beyond chance: less favourable.
    brs = cards["Resilience (BRS)"]
    assert brs.delta.decreasing.color == "#D55E00"
    # Plain words: the p-value stays in the analyst tables.
    assert _card_lines(brs)[-1] == "vs 2025-03: clear change"
    # STS's intervals do not overlap, but the test says it may be chance.
    sts = cards["Secondary traumatic stress (ProQOL 5)"]
    assert sts.delta.increasing.color == "#6b6b6b"
    assert _card_lines(sts)[-1] == "vs 2025-03: may be chance"


def test_headline_title_states_clear_changes(tables):
    figure = built(organization_headline(tables, MIN_GROUP_SIZE))

    assert _title(figure) == (
        "Since 2025-03, Secondary traumatic stress (ProQOL 5) clearly worsened and Compassion"
        " satisfaction (ProQOL 5) clearly improved"
    )


def test_headline_of_a_first_wave_has_no_change(tables):
    first_wave_only = tables.org_indicators[tables.org_indicators["wave"] == WAVES[0]]

    figure = built(
        organization_headline(_with(tables, org_indicators=first_wave_only), MIN_GROUP_SIZE)
    )

    assert all(trace.mode == "number" for trace in figure.data)
    assert _title(figure) == (
        "Scores of the organization for 2025-01, the first wave: no change to show"
    )


def _with_org_rows_suppressed(tables: PublishedTables, wave: str, indicators: list[str]):
    org = tables.org_indicators.copy()
    hidden = (org["wave"] == wave) & org["indicator"].isin(indicators)
    # Suppressed, but with the numbers an upstream bug might leave behind.
    org.loc[hidden, ["value", "ci_low", "ci_high", "n", "suppressed"]] = [
        LEAKED_VALUE,
        LEAKED_VALUE,
        LEAKED_VALUE,
        SUPPRESSED_N,
        True,
    ]
    return _with(tables, org_indicators=org)


def test_headline_shows_a_suppressed_organization_score_as_fewer_than(tables):
    tables = _with_org_rows_suppressed(tables, "2025-05", ["proqol_sts"])

    figure = built(organization_headline(tables, MIN_GROUP_SIZE))

    assert "Secondary traumatic stress (ProQOL 5)" not in _cards(figure)
    assert len(figure.data) == len(MEANS) - 1
    [note] = figure.layout.annotations
    assert note.text.endswith("fewer than 5 respondents")
    assert "Secondary traumatic" in note.text
    assert str(LEAKED_VALUE) not in _numbers_in(figure)
    # The suppressed score cannot count as a clear change either.
    assert "Secondary traumatic stress" not in _title(figure)


# --- bands ------------------------------------------------------------------------------------


def _bars(figure: go.Figure) -> dict[str, list[object]]:
    """Per row label (scale, group): the values of the band slots, then the not-shown bar."""
    rows: dict[str, list[object]] = {}
    for trace in figure.data:
        for scale, group, value in zip(trace.y[0], trace.y[1], trace.x, strict=True):
            rows.setdefault(f"{scale.replace('<br>', ' ')} | {group}", []).append(value)
    return rows


def test_band_shares_show_the_organization_in_the_latest_two_waves(tables):
    figure = built(band_shares(tables, MIN_GROUP_SIZE))

    # Only STS publishes band shares in the fixture: one row per wave, bands in scale order.
    assert _bars(figure) == {
        "Secondary traumatic stress (ProQOL 5) | 2025-03": [0.15, 0.73, 0.12],
        "Secondary traumatic stress (ProQOL 5) | 2025-05": [0.10, 0.72, 0.18],
    }
    assert figure.layout.barmode == "stack"
    assert list(figure.data[2].text) == ["high 12%", "high 18%"]
    # The least favourable band is the darkest.
    assert list(figure.data[2].marker.color) == ["#6a51a3", "#6a51a3"]
    assert list(figure.data[0].marker.color) == ["#efedf5", "#efedf5"]
    assert _title(figure) == (
        "18% of respondents were in the high band of Secondary traumatic stress (ProQOL 5) in"
        " 2025-05, against 12% in 2025-03"
    )
    assert figure.data[2].customdata[1] == (
        "<b>2025-05, Secondary traumatic stress (ProQOL 5)</b><br>high band (42 or more): 18%"
        "<br>95% interval 13%–23%<br>n = 54"
    )


def test_band_shares_put_a_team_beside_the_organization(tables):
    figure = built(band_shares(tables, MIN_GROUP_SIZE, team_id="east"))

    assert _bars(figure) == {
        "Secondary traumatic stress (ProQOL 5) | Mobile outreach East": [0.08, 0.42, 0.50],
        "Secondary traumatic stress (ProQOL 5) | Whole organization": [0.10, 0.72, 0.18],
    }
    assert _title(figure) == (
        "50% of respondents in Mobile outreach East were in the high band of Secondary"
        " traumatic stress (ProQOL 5), against 18% across the organization"
    )


def test_band_shares_of_a_suppressed_team_say_fewer_than(tables):
    figure = built(band_shares(tables, MIN_GROUP_SIZE, team_id="night"))

    rows = _bars(figure)
    assert rows["Secondary traumatic stress (ProQOL 5) | Night shelter"] == [None, None, None, 1.0]
    not_shown = figure.data[-1]
    assert list(not_shown.text) == ["fewer than 5 respondents", None]
    assert str(LEAKED_VALUE) not in _numbers_in(figure)


def test_band_shares_of_a_suppressed_wave_say_fewer_than(tables):
    shares = [f"proqol_sts_share_{band}" for band in ("low", "moderate", "high")]
    tables = _with_org_rows_suppressed(tables, "2025-03", shares)

    figure = built(band_shares(tables, MIN_GROUP_SIZE))

    assert _bars(figure)["Secondary traumatic stress (ProQOL 5) | 2025-03"] == [
        None,
        None,
        None,
        1.0,
    ]
    assert str(LEAKED_VALUE) not in _numbers_in(figure)
    # Nothing to compare with: the title states the latest wave alone.
    assert _title(figure).endswith("(ProQOL 5) in 2025-05")


# --- exposure ---------------------------------------------------------------------------------


def test_exposure_panels_show_scores_by_exposure_band(tables):
    figure = built(exposure_effects(tables, MIN_GROUP_SIZE))

    aggression, caseload = figure.data
    assert list(aggression.y) == [26.0, 30.0, 36.2]
    assert list(aggression.error_y.array) == pytest.approx([1.5, 1.5, 2.0])
    assert list(figure.layout.xaxis.ticktext) == [
        "Never",
        "Once to<br>three times",
        "Weekly or<br>more",
    ]
    assert list(caseload.y) == [29.0, 30.0, None]
    # The suppressed band is named on its axis, with no number anywhere.
    assert figure.layout.xaxis2.ticktext[-1] == "Three<br>quarters or<br>more<br>(fewer than 5)"
    assert caseload.customdata[-1] is None
    assert aggression.customdata[2] == (
        "<b>Client aggression or threats, past month: Weekly or more</b><br>Secondary"
        " traumatic stress (ProQOL 5): 36.2<br>95% interval 34.2–38.2<br>n = 18"
    )
    assert [annotation.text for annotation in figure.layout.annotations] == [
        "Client aggression or threats, past<br>month",
        "Share of caseload who use<br>stimulants",
    ]


def test_exposure_title_states_the_clearest_difference(tables):
    figure = built(exposure_effects(tables, MIN_GROUP_SIZE))

    # Stimulant caseload: 29.0 and 30.0 overlap, and its third band is not shown.
    assert _title(figure) == (
        "Secondary traumatic stress (ProQOL 5) is clearly higher among staff answering “Weekly"
        " or more” than “Never” to client aggression or threats, past month (36.2 vs 26.0)"
    )


def test_exposure_title_says_when_no_difference_is_clear(tables):
    effects = tables.exposure_effects.copy()
    effects.loc[effects["exposure_item"] == "ctx_client_aggression", ["ci_low", "ci_high"]] = [
        20.0,
        40.0,
    ]

    figure = built(exposure_effects(_with(tables, exposure_effects=effects), MIN_GROUP_SIZE))

    assert _title(figure) == "No score differs clearly between exposure bands in 2025-05"


# --- participation and reliability ------------------------------------------------------------


def test_response_rates_list_teams_lowest_first_and_flag_low_participation(tables):
    figure = built(response_rates(tables))
    [bars] = figure.data

    assert list(bars.y) == [
        ESCAPED_SCRIPT_TEAM,
        "Drop-in centre",
        "Mobile outreach East",
        "Housing support",
    ]
    assert list(bars.x) == [0.4, 0.48, 0.6, 0.8]
    assert list(bars.text) == [
        "40% (12 of 30)",
        "48% (12 of 25)",
        "60% (12 of 20)",
        "80% (12 of 15)",
    ]
    # Low participation is a flag, not "worse": dark grey, never the orange of worse.
    assert list(bars.marker.color) == ["#4d4d4d", "#4d4d4d", "#b3b3b3", "#b3b3b3"]
    assert bars.customdata[0].endswith("<br>low participation")
    assert _title(figure) == (
        f"2 of 4 teams had low participation in 2025-05 (lowest: {ESCAPED_SCRIPT_TEAM}, 40%)"
    )
    subtitle = _subtitle(figure)
    assert "Organization: 52% (54 of 104)." in subtitle
    assert "1 team is not shown" in subtitle


def test_reliability_marks_the_flagged_scale_of_the_latest_wave(tables):
    figure = built(instrument_reliability(tables))

    assert [trace.name for trace in figure.data] == list(WAVES)
    latest = figure.data[-1]
    burnout = list(latest.y).index("Burnout (ProQOL 5)")
    assert latest.x[burnout] == LOW_BURNOUT_ALPHA
    assert latest.marker.color[burnout] == "#4d4d4d"
    assert latest.marker.color.count("#4d4d4d") == 1
    assert figure.data[0].marker.color.count("#4d4d4d") == 0
    assert _title(figure) == "Low internal consistency in 2025-05: Burnout (ProQOL 5) (alpha 0.55)"


# --- one team ---------------------------------------------------------------------------------


def test_team_versus_organization_puts_both_on_every_scale_over_its_bands(tables):
    figure = built(team_versus_organization(tables, MIN_GROUP_SIZE, "east"))

    sts_row = 3
    team = next(
        trace
        for trace in figure.data
        if trace.yaxis == f"y{sts_row}" and trace.name == "Mobile outreach East"
    )
    organization = next(
        trace
        for trace in figure.data
        if trace.yaxis == f"y{sts_row}" and trace.name == ORGANIZATION
    )
    assert (list(team.x), list(organization.x)) == ([43.5], [33.0])
    assert list(team.error_x.array) == pytest.approx([2.5])
    assert team.customdata[0] == (
        "<b>Mobile outreach East</b><br>Secondary traumatic stress (ProQOL 5) (high band): 43.5"
        "<br>95% interval 41.0–46.0<br>n = 12"
    )
    # One background band per band of every scale: 3 ProQOL x 3, 3 CBI x 2, BRS 3, Mini-Z 2.
    assert len(figure.layout.shapes) == 20
    assert _title(figure) == (
        "In 2025-05, Mobile outreach East is clearly less favourable than the organization on"
        " Compassion satisfaction (ProQOL 5), Burnout (ProQOL 5) and 5 more"
    )


def test_team_versus_organization_names_clearly_better_scales(tables):
    figure = built(team_versus_organization(tables, MIN_GROUP_SIZE, "housing"))

    # Work-related burnout, 38.0 (32.0–44.0) against 46.0 (43.0–49.0), may be chance.
    assert _title(figure) == (
        "In 2025-05, Housing support is clearly more favourable than the organization on"
        " Compassion satisfaction (ProQOL 5), Burnout (ProQOL 5) and 5 more"
    )


def test_team_trend_panels_draw_team_and_organization_on_every_scale(tables):
    figure = built(team_trend_panels(tables, MIN_GROUP_SIZE, "dropin"))

    lines = _lines(figure)
    assert len(lines) == 2 * len(MEANS)
    assert {trace.name for trace in lines} == {ORGANIZATION, "Drop-in centre"}
    sts = [trace for trace in lines if trace.xaxis == "x3"]
    assert [list(trace.y) for trace in sts] == [[28.0, 29.0, 33.0], [27.18, 28.69, 30.2]]
    stars = [trace for trace in figure.data if trace.mode == "markers" and trace.xaxis == "x3"]
    # Its own action after 2025-03, and the organization-wide one on the organization's line.
    assert sorted((trace.name, list(trace.x)) for trace in stars) == [
        ("Drop-in centre: action from the action log", [1.5]),
        ("Whole organization: action from the action log", [1.5]),
    ]
    # No other team's action is drawn.
    assert "Weekly reflective supervision" not in _numbers_in(figure)


def test_team_trend_panel_title_states_the_tested_changes(tables):
    team_indicators = _with_published_change(
        tables.team_indicators, "proqol_sts", significant=True, p_value=0.01, team_id="dropin"
    )

    figure = built(
        team_trend_panels(_with(tables, team_indicators=team_indicators), MIN_GROUP_SIZE, "dropin")
    )

    assert _title(figure) == (
        "Since 2025-03, in Drop-in centre, Secondary traumatic stress (ProQOL 5) clearly worsened"
    )


# --- figure specs as pages write them ---------------------------------------------------------


def _first_wave_only(tables: PublishedTables) -> PublishedTables:
    return _with(tables, org_indicators=tables.org_indicators.query(f"wave == '{WAVES[0]}'"))


FIGURE_KINDS = {
    "organization headline": lambda tables: organization_headline(tables, MIN_GROUP_SIZE),
    # No change to show: cards without a delta.
    "organization headline of a first wave": lambda tables: organization_headline(
        _first_wave_only(tables), MIN_GROUP_SIZE
    ),
    # A suppressed score: a card replaced by an annotation.
    "organization headline with a score not shown": lambda tables: organization_headline(
        _with_org_rows_suppressed(tables, WAVES[-1], ["proqol_sts"]), MIN_GROUP_SIZE
    ),
    "team heatmap": lambda tables: team_heatmap(tables, MIN_GROUP_SIZE, {"east": "east.html"}),
    "group heatmap": lambda tables: group_heatmap(tables, MIN_GROUP_SIZE),
    "team trends": lambda tables: team_trends(tables, MIN_GROUP_SIZE),
    "band shares": lambda tables: band_shares(tables, MIN_GROUP_SIZE),
    "exposure effects": lambda tables: exposure_effects(tables, MIN_GROUP_SIZE),
    "response rates": response_rates,
    "instrument reliability": instrument_reliability,
    "team versus organization": lambda tables: team_versus_organization(
        tables.for_team("east"), MIN_GROUP_SIZE, "east"
    ),
    "team trend panels": lambda tables: team_trend_panels(
        tables.for_team("dropin"), MIN_GROUP_SIZE, "dropin"
    ),
    "team band shares": lambda tables: band_shares(tables.for_team("east"), MIN_GROUP_SIZE, "east"),
    "band shares of a team not shown": lambda tables: band_shares(
        tables.for_team("night"), MIN_GROUP_SIZE, "night"
    ),
}


@pytest.mark.parametrize("kind", FIGURE_KINDS)
def test_a_figure_spec_is_what_its_validated_figure_gives(tables, kind):
    spec = FIGURE_KINDS[kind](tables)

    validated = go.Figure(spec).to_plotly_json()

    # Pages write the spec without validating it: it must already be in the validated form ...
    assert spec.keys() == {"data", "layout"}
    assert spec["data"] == validated["data"]
    assert spec["layout"] == validated["layout"]
    # ... with the template a plotly Figure is given by default.
    assert spec["layout"]["template"] == go.Figure().to_plotly_json()["layout"]["template"]


# --- bands and containers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("indicator", "score", "band"),
    [
        ("proqol_sts", 22.0, "low"),
        ("proqol_sts", 22.01, "moderate"),
        ("proqol_sts", 41.99, "moderate"),
        ("proqol_sts", 42.0, "high"),
        ("brs_resilience", 2.99, "low"),
        ("brs_resilience", 3.0, "normal"),
        ("brs_resilience", 4.3, "normal"),
        ("brs_resilience", 4.31, "high"),
        ("cbi_client", 49.99, "low"),
        ("cbi_client", 50.0, "high"),
    ],
)
def test_a_score_is_in_the_highest_band_it_reaches(tables, indicator, score, band):
    mean = tables.mean_indicator(indicator)

    assert mean.band_of(score).id == band


@pytest.mark.parametrize(
    ("indicator", "ranges"),
    [
        ("proqol_sts", ["up to 22", "above 22, below 42", "42 or more"]),
        ("brs_resilience", ["below 3", "3 or more, up to 4.3", "above 4.3"]),
        ("cbi_work", ["below 50", "50 or more"]),
    ],
)
def test_band_ranges_are_described_in_words(tables, indicator, ranges):
    mean = tables.mean_indicator(indicator)

    assert [mean.band_range(band) for band in mean.bands] == ranges


def test_scales_keep_their_display_order_whatever_order_the_table_has(tables):
    shuffled = tables.indicator_definitions.sample(frac=1, random_state=7)

    means = _with(tables, indicator_definitions=shuffled).mean_indicators()

    assert [mean.indicator for mean in means] == [indicator for indicator, *_ in MEANS]


def test_published_tables_name_missing_columns(tables):
    with pytest.raises(ValueError, match="teams lacks service_line, parent_unit"):
        _with(tables, teams=tables.teams[["team_id", "team_name"]])


def test_optional_tables_are_checked_too(tables):
    rates = tables.response_rates.drop(columns=["low_response_rate"])

    with pytest.raises(ValueError, match="response_rates lacks low_response_rate"):
        _with(tables, response_rates=rates)


def test_published_tables_reject_an_unknown_risk_direction(tables):
    definitions = tables.indicator_definitions.copy()
    definitions.loc[definitions["indicator"] == "proqol_sts", "risk_when"] = "hgih"

    with pytest.raises(ValueError, match="risk_when 'high'\\|'low': proqol_sts"):
        _with(tables, indicator_definitions=definitions)


def test_reported_teams_have_a_shown_score_in_the_latest_wave(tables):
    assert tables.reported_team_ids() == ["dropin", "east", "housing", "script"]


def test_a_team_sees_only_its_own_rows_and_the_organization(tables):
    east = tables.for_team("east")

    assert set(east.team_indicators["team_id"]) == {"east"}
    assert list(east.teams["team_id"]) == ["east"]
    assert set(east.early_warnings["team_id"]) == {"east"}
    assert sorted(east.actions["action_id"].unique()) == ["a1", "a3"]
    rates = east.response_rates
    assert sorted(zip(rates["group_type"], rates["group_id"], strict=True)) == [
        ("organization", "all"),
        ("team", "east"),
    ]
    # Service lines and units hold other teams: a team's page gets none of them.
    assert east.group_indicators.empty
    assert set(east.exposure_effects["group_type"]) == {"organization"}
    assert east.org_indicators is tables.org_indicators


def test_a_team_works_out_what_names_teams_from_its_own_rows(tables):
    # The whole tables have worked these out already; a team's tables must not take them over.
    assert len(tables.team_display_names()) == len(TEAMS)
    assert tables.latest_wave() == WAVES[-1]

    east = tables.for_team("east")

    assert east.team_display_names() == {"east": "Mobile outreach East"}
    assert east.reported_team_ids() == ["east"]
    # What describes no team is shared.
    assert east.mean_indicators() == tables.mean_indicators()
