"""Dashboard figures and pages from small hand-made published tables (no browser)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboards.figures import (
    band_distribution,
    organization_headline,
    team_heatmap,
    team_trends,
)
from dashboards.model import PublishedTables, RunFacts
from dashboards.pages import write_dashboards

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


def make_published_tables() -> PublishedTables:
    """Five teams over three waves; Night shelter is suppressed in the latest wave."""
    team_rows = _team_rows()
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


def _cell(figure: go.Figure, team_label: str, column_label: str) -> dict[str, object]:
    heatmap = figure.data[0]
    row = list(heatmap.y).index(team_label)
    column = [label.replace("<br>", " ") for label in heatmap.x].index(column_label)
    return {
        "z": heatmap.z[row][column],
        "text": heatmap.text[row][column],
        "hover": heatmap.customdata[row][column],
    }


def _title(figure: go.Figure) -> str:
    """The title as one line: long titles are broken into lines with <br>."""
    return figure.layout.title.text.replace("<br>", " ")


def _numbers_in(figure: go.Figure) -> str:
    text = figure.to_json()
    # Base64-packed arrays would hide numbers from every check below.
    assert "bdata" not in text
    return text


# --- the heatmap ------------------------------------------------------------------------------


def test_heatmap_has_teams_by_mean_indicators_in_the_latest_wave(tables):
    figure = team_heatmap(tables, MIN_GROUP_SIZE)

    assert len(figure.data) == 1
    heatmap = figure.data[0]
    assert isinstance(heatmap, go.Heatmap)
    assert [label.replace("<br>", " ") for label in heatmap.x] == [
        f"{name} ({INSTRUMENT_NAMES[instrument]})" for _, instrument, _, name, *_ in MEANS
    ]
    # Alphabetical, ignoring case; "<" sorts before letters.
    assert list(heatmap.y) == [
        ESCAPED_SCRIPT_TEAM,
        "Drop-in centre",
        "Housing support",
        "Mobile outreach East",
        "Night shelter",
    ]
    assert figure.layout.xaxis.type == "category"
    assert figure.layout.yaxis.type == "category"
    assert "2025-05" in figure.layout.title.subtitle.text


@pytest.mark.parametrize(
    ("team", "column", "level", "text"),
    [
        # High STS is the least favourable band of a risk-when-high scale.
        ("Mobile outreach East", "Secondary traumatic stress (ProQOL 5)", 2, "43.5<br>high"),
        # Low compassion satisfaction is the least favourable band of a risk-when-low scale ...
        ("Mobile outreach East", "Resilience (BRS)", 2, "2.80<br>low"),
        # ... and its high band the most favourable: colour follows risk, not the number.
        ("Housing support", "Compassion satisfaction (ProQOL 5)", 0, "44.0<br>high"),
        ("Housing support", "Resilience (BRS)", 0, "4.50<br>high"),
        ("Drop-in centre", "Burnout (ProQOL 5)", 1, "26.0<br>moderate"),
        ("Drop-in centre", "Burnout (single item) (Mini-Z burnout item)", 0, "2.20<br>none"),
    ],
)
def test_heatmap_colours_cells_by_band_oriented_by_risk(tables, team, column, level, text):
    cell = _cell(team_heatmap(tables, MIN_GROUP_SIZE), team, column)

    assert cell["z"] == level
    assert cell["text"] == text


def test_heatmap_hover_names_team_indicator_value_interval_and_n(tables):
    cell = _cell(
        team_heatmap(tables, MIN_GROUP_SIZE),
        "Mobile outreach East",
        "Secondary traumatic stress (ProQOL 5)",
    )

    assert cell["hover"] == (
        "<b>Mobile outreach East</b><br>Secondary traumatic stress (ProQOL 5)<br>"
        "Score 43.5 (high band)<br>95% interval 41.0–46.0<br>n = 12"
    )


def test_suppressed_heatmap_cells_carry_no_number(tables):
    figure = team_heatmap(tables, MIN_GROUP_SIZE)

    for column_label in figure.data[0].x:
        column = column_label.replace("<br>", " ")
        cell = _cell(figure, "Night shelter", column)
        assert cell["z"] is None
        assert cell["text"] == "fewer than 5"
        assert cell["hover"] == (
            f"<b>Night shelter</b><br>{column}<br>fewer than 5 respondents: not shown"
        )
    serialised = _numbers_in(figure)
    assert str(LEAKED_VALUE) not in serialised
    assert f"n = {SUPPRESSED_N}" not in serialised
    assert str(LEAKED_VALUE) not in str(figure.to_dict())


def test_heatmap_title_names_the_team_with_most_unfavourable_scores(tables):
    figure = team_heatmap(tables, MIN_GROUP_SIZE)

    assert _title(figure) == (
        "Mobile outreach East has the most scores in the least favourable band (6 of 8)"
    )


def test_heatmap_keeps_two_teams_with_one_name_apart(tables):
    teams = tables.teams.copy()
    teams.loc[teams["team_id"] == "dropin", "team_name"] = "Housing support"
    tables = PublishedTables(**{**tables.__dict__, "teams": teams})

    labels = list(team_heatmap(tables, MIN_GROUP_SIZE).data[0].y)

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
    tables = PublishedTables(**{**tables.__dict__, "team_indicators": team_indicators})

    cell = _cell(
        team_heatmap(tables, MIN_GROUP_SIZE),
        "Mobile outreach East",
        "Secondary traumatic stress (ProQOL 5)",
    )

    assert cell["z"] is None
    assert cell["text"] == "fewer than 5"


# --- trends ---------------------------------------------------------------------------------


def test_trends_draw_the_organization_and_every_team_across_waves(tables):
    figure = team_trends(tables, MIN_GROUP_SIZE)

    assert [trace.name for trace in figure.data] == [
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


def test_trends_leave_suppressed_points_out(tables):
    figure = team_trends(tables, MIN_GROUP_SIZE)
    night_shelter = next(trace for trace in figure.data if trace.name == "Night shelter")

    assert list(night_shelter.y) == [20.0, 20.0, None]
    assert night_shelter.customdata[-1] is None
    assert night_shelter.error_y.array[-1] is None
    assert night_shelter.connectgaps is False
    assert str(LEAKED_VALUE) not in _numbers_in(figure)


def test_trend_title_names_the_worst_team_in_the_latest_wave(tables):
    figure = team_trends(tables, MIN_GROUP_SIZE)

    assert _title(figure) == (
        "Secondary traumatic stress (ProQOL 5) is highest in Mobile outreach East (43.5 in 2025-05)"
    )
    assert "Organization 33.0 in 2025-05, up 4.0 since 2025-03" in figure.layout.title.subtitle.text


def test_trend_title_looks_for_the_lowest_score_when_low_is_the_risk(tables):
    figure = team_trends(tables, MIN_GROUP_SIZE, indicator="brs_resilience")

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
    tables = PublishedTables(**{**tables.__dict__, "team_indicators": team_indicators})

    figure = team_trends(tables, MIN_GROUP_SIZE)

    drawn = [trace.name for trace in figure.data if trace.visible is True]
    assert drawn == [
        "Whole organization",
        "Mobile outreach East",
        "extra41.0",
        ESCAPED_SCRIPT_TEAM,
        "Drop-in centre",
        "Housing support",
    ]
    in_legend_only = [trace.name for trace in figure.data if trace.visible == "legendonly"]
    assert in_legend_only == ["extra21.0", "extra20.0", "Night shelter"]
    assert "Shown: the 5 teams with the highest latest scores" in figure.layout.title.subtitle.text


def test_trend_hover_gives_wave_value_interval_and_n(tables):
    figure = team_trends(tables, MIN_GROUP_SIZE)
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
    figure = organization_headline(tables, MIN_GROUP_SIZE)

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
    cards = _cards(organization_headline(tables, MIN_GROUP_SIZE))

    # STS rose beyond the intervals and more STS is worse: orange for up.
    assert cards["Secondary traumatic stress (ProQOL 5)"].delta.increasing.color == "#D55E00"
    # CS rose beyond the intervals and more CS is better: blue for up.
    assert cards["Compassion satisfaction (ProQOL 5)"].delta.increasing.color == "#0072B2"
    # BRS fell, but the intervals touch: grey, and said to be possibly chance.
    brs = cards["Resilience (BRS)"]
    assert brs.delta.decreasing.color == "#6b6b6b"
    assert _card_lines(brs)[-1] == "vs 2025-03: may be chance"


def test_headline_title_states_clear_changes(tables):
    figure = organization_headline(tables, MIN_GROUP_SIZE)

    assert _title(figure) == (
        "Since 2025-03, Secondary traumatic stress (ProQOL 5) clearly worsened and Compassion"
        " satisfaction (ProQOL 5) clearly improved"
    )


def test_headline_of_a_first_wave_has_no_change(tables):
    first_wave_only = tables.org_indicators[tables.org_indicators["wave"] == WAVES[0]]
    tables = PublishedTables(**{**tables.__dict__, "org_indicators": first_wave_only})

    figure = organization_headline(tables, MIN_GROUP_SIZE)

    assert all(trace.mode == "number" for trace in figure.data)
    assert "first wave" in _title(figure)


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
    return PublishedTables(**{**tables.__dict__, "org_indicators": org})


def test_headline_shows_a_suppressed_organization_score_as_fewer_than(tables):
    tables = _with_org_rows_suppressed(tables, "2025-05", ["proqol_sts"])

    figure = organization_headline(tables, MIN_GROUP_SIZE)

    assert "Secondary traumatic stress (ProQOL 5)" not in _cards(figure)
    assert len(figure.data) == len(MEANS) - 1
    [note] = figure.layout.annotations
    assert note.text.endswith("fewer than 5 respondents")
    assert "Secondary traumatic" in note.text
    assert str(LEAKED_VALUE) not in _numbers_in(figure)
    # The suppressed score cannot count as a clear change either.
    assert "Secondary traumatic stress" not in _title(figure)


# --- band distribution ------------------------------------------------------------------------


def test_band_distribution_stacks_the_shares_of_each_band_per_wave(tables):
    figure = band_distribution(tables, MIN_GROUP_SIZE)

    assert figure.layout.barmode == "stack"
    assert [trace.name for trace in figure.data] == [
        "low (up to 22)",
        "moderate (above 22, below 42)",
        "high (42 or more)",
    ]
    assert [list(trace.y) for trace in figure.data] == [
        [share[band] for share in STS_SHARES.values()] for band in range(3)
    ]
    assert list(figure.data[2].x) == list(WAVES)
    assert list(figure.layout.yaxis.range) == [0, 1]
    assert "not published" not in figure.layout.title.subtitle.text
    # The least favourable band is the darkest.
    assert figure.data[2].marker.color == "#8c2981"
    assert _title(figure) == (
        "18% of respondents were in the high band of Secondary traumatic stress (ProQOL 5) in"
        " 2025-05, against 12% in 2025-03"
    )


def test_band_distribution_marks_a_suppressed_wave(tables):
    shares = [f"proqol_sts_share_{band}" for band in ("low", "moderate", "high")]
    tables = _with_org_rows_suppressed(tables, "2025-01", shares)

    figure = band_distribution(tables, MIN_GROUP_SIZE)

    assert [trace.y[0] for trace in figure.data] == [None, None, None]
    assert [trace.text[0] for trace in figure.data] == [None, None, None]
    [note] = figure.layout.annotations
    assert (note.x, note.text) == ("2025-01", "fewer than 5<br>respondents")
    assert str(LEAKED_VALUE) not in _numbers_in(figure)


def test_band_distribution_names_bands_that_are_not_published(tables):
    definitions = tables.indicator_definitions
    only_high = definitions[
        ~definitions["indicator"].isin(["proqol_sts_share_low", "proqol_sts_share_moderate"])
    ]
    tables = PublishedTables(**{**tables.__dict__, "indicator_definitions": only_high})

    figure = band_distribution(tables, MIN_GROUP_SIZE)

    assert [trace.name for trace in figure.data] == ["high (42 or more)"]
    assert "Bands not published: low, moderate." in figure.layout.title.subtitle.text


def test_band_distribution_needs_published_shares(tables):
    with pytest.raises(ValueError, match="no band shares"):
        band_distribution(tables, MIN_GROUP_SIZE, indicator="cbi_client")


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


def test_published_tables_name_missing_columns(tables):
    with pytest.raises(ValueError, match="teams lacks service_line, parent_unit"):
        PublishedTables(**{**tables.__dict__, "teams": tables.teams[["team_id", "team_name"]]})


def test_published_tables_reject_an_unknown_risk_direction(tables):
    definitions = tables.indicator_definitions.copy()
    definitions.loc[definitions["indicator"] == "proqol_sts", "risk_when"] = "hgih"

    with pytest.raises(ValueError, match="risk_when 'high'\\|'low': proqol_sts"):
        PublishedTables(**{**tables.__dict__, "indicator_definitions": definitions})


# --- the written pages ------------------------------------------------------------------------


@pytest.fixture
def written(tables, tmp_path) -> dict[str, Path]:
    paths = write_dashboards(tmp_path, tables, make_run_facts(), MIN_GROUP_SIZE)
    return {path.name: path for path in paths}


def test_pages_and_one_shared_plotly_bundle_are_written(written, tmp_path):
    assert list(written) == ["index.html", "leadership.html", "plotly.min.js"]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(written)
    leadership = written["leadership.html"].read_text(encoding="utf-8")
    assert leadership.count('<script charset="utf-8" src="plotly.min.js"></script>') == 1
    assert leadership.count('class="plotly-graph-div"') == 4
    assert written["plotly.min.js"].stat().st_size > 1_000_000


@pytest.mark.parametrize("page", ["index.html", "leadership.html"])
def test_pages_request_nothing_from_the_network(written, page):
    text = written[page].read_text(encoding="utf-8")

    # Links to credits are fine (followed only when clicked); loaded resources are not.
    assert not re.search(r"""src=["']?(https?:)?//""", text)
    assert "<link" not in text
    assert "@import" not in text
    assert "url(" not in text


def test_team_names_are_text_in_the_page(written):
    leadership = written["leadership.html"].read_text(encoding="utf-8")

    # In the HTML around the figures the name is escaped text ...
    assert f"<td>{ESCAPED_SCRIPT_TEAM}</td>" in leadership
    # ... inside plotly's JSON it is data, escaped for plotly's own markup (and "/" by plotly) ...
    assert r"&lt;script&gt;alert(1)&lt;\u002fscript&gt;" in leadership
    # ... and nowhere is it a tag the browser would run.
    assert SCRIPT_TEAM not in leadership


def test_leadership_page_credits_the_instruments_and_explains_the_method(written):
    leadership = written["leadership.html"].read_text(encoding="utf-8")

    assert '<a href="https://proqol.org">proqol.org</a>' in leadership
    assert "Center for Victims of Torture" in leadership
    # A link from the data that is not a web address stays unlinked.
    assert "javascript:" not in leadership
    # Only instruments behind a published indicator are credited.
    assert "Stimulant-work context" not in leadership
    assert "No number on this page describes fewer than 5 respondents" in leadership
    assert "95% interval" in leadership
    assert "42 or more" in leadership
    assert "rather than a validated cut-off" in leadership
    assert "<td>Night shelter</td><td>Housing</td><td>Residential services</td>" in leadership
    assert "<td>fewer than 5 respondents</td>" in leadership


def test_index_page_says_what_ran_and_links_every_page(written):
    index = written["index.html"].read_text(encoding="utf-8")

    assert '<a href="leadership.html">' in index
    assert "nightly-2025-05-20" in index
    assert "2025-05-20 02:00 UTC" in index
    assert "4 min 12 s" in index
    for count in ("310", "301", "9"):
        assert f"<td>{count}</td>" in index
