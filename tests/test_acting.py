"""From numbers to action, on the hand-made published tables of the figure tests: the order of
"Where to act" and its reasons, the organization's scores in words, warnings and strategies on
the pages, and every hovered number also in a table."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pandas as pd
import pytest

from dashboards import figures
from dashboards.acting import organization_scores, where_to_act
from dashboards.pages import WARNING_RULE_NAMES, Section, hover_rows, write_dashboards
from resilience.strategies import ExpectedMove, MatchRule, Strategy
from tests.test_dashboard_figures import MIN_GROUP_SIZE, make_published_tables, make_run_facts

STS_STRATEGY = Strategy(
    id="sts_strategy",
    title="A response to secondary traumatic stress",
    meaning="What raised secondary traumatic stress may mean.",
    what_to_do="What to try.",
    source="A guide, by its title",
    cost="An hour a month.",
    moves=ExpectedMove(indicator="proqol_sts", direction="down", when="by the next wave"),
    match=MatchRule(indicators=("proqol_sts",)),
)


@pytest.fixture(scope="module")
def tables():
    return make_published_tables()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, tables) -> Path:
    out_dir = tmp_path_factory.mktemp("acting")
    write_dashboards(out_dir, tables, make_run_facts(), MIN_GROUP_SIZE, strategies=[STS_STRATEGY])
    return out_dir


def _html(site: Path, page: str) -> str:
    return (site / page).read_text(encoding="utf-8")


def test_where_to_act_puts_warned_teams_first_with_their_reasons(tables):
    rows = where_to_act(tables, [STS_STRATEGY], {"east": "teams/east.html"}, WARNING_RULE_NAMES)

    # Mobile outreach East has the only warning of the latest wave; Housing support is better
    # than the organization on every scale and is not listed.
    assert rows[0].name == "Mobile outreach East"
    assert (rows[0].warning_count, rows[0].page) == (1, "teams/east.html")
    assert rows[0].reasons[0] == (
        "Secondary traumatic stress (ProQOL 5): 43.5 against 33.0 for the organization;"
        " 50% in the high band"
    )
    assert [strategy.id for strategy in rows[0].strategies] == ["sts_strategy"]
    assert all(row.warning_count == 0 for row in rows[1:])
    assert "Housing support" not in [row.name for row in rows]
    assert [row.severity for row in rows[1:]] == sorted(
        (row.severity for row in rows[1:]), reverse=True
    )


def test_the_organization_scores_say_in_words_what_changed(tables):
    scores = {score["name"]: score for score in organization_scores(tables, MIN_GROUP_SIZE)}

    sts = scores["Secondary traumatic stress (ProQOL 5)"]
    assert (sts["words"], sts["tone"]) == ("clearly worse than in 2025-03", "worse")
    satisfaction = scores["Compassion satisfaction (ProQOL 5)"]
    assert (satisfaction["words"], satisfaction["tone"]) == (
        "clearly better than in 2025-03",
        "better",
    )
    assert sts["interval"] == "31.5 to 34.5"


def test_leadership_opens_on_where_to_act_and_keeps_statistics_one_click_away(site):
    leadership = _html(site, "leadership.html")
    main = leadership[leadership.index("<main") :]

    assert main.index('id="where-to-act"') < main.index('id="organization"')
    assert main.index('id="organization"') < main.index('id="warnings"')
    assert '<a href="teams/east.html">Mobile outreach East</a>' in main[: main.index("</table>")]
    assert "<details><summary>Statistics</summary>" in leadership
    # Plain words for leaders: no p-values or standard deviations.
    assert not re.search(r"p = 0\.\d", leadership)
    assert "standard deviations" not in leadership.replace("organization's standard", "")
    assert 'id="severity-rule"' in leadership


def test_team_pages_open_on_warnings_and_what_they_may_mean(site):
    east = _html(site, "teams/east.html")
    main = east[east.index("<main") :]

    assert main.index('id="warnings"') < main.index('id="meaning"') < main.index('id="comparison"')
    assert "<h3>A response to secondary traumatic stress</h3>" in main
    assert (
        "Should move:</strong> Secondary traumatic stress (ProQOL 5) down, by the next wave" in main
    )
    dropin = _html(site, "teams/dropin.html")
    # Its only warning is an earlier wave's: none this wave, and it says so.
    assert '<p class="no-warnings">No warnings this wave (2025-05).</p>' in dropin
    assert "Nothing in this wave calls for a new response." in dropin


def test_a_wave_without_warnings_says_so(tmp_path, tables):
    quiet = dataclasses.replace(tables, early_warnings=tables.early_warnings.iloc[0:0])
    write_dashboards(tmp_path, quiet, make_run_facts(), MIN_GROUP_SIZE, strategies=[])

    assert '<p class="no-warnings">No warnings this wave (2025-05).</p>' in _html(
        tmp_path, "leadership.html"
    )


def test_every_number_shown_on_hover_is_in_the_figure_table(tables):
    spec = figures.team_heatmap(tables, MIN_GROUP_SIZE)
    rows = hover_rows(spec)

    hovers = [cell[0] for row in spec["data"][0]["customdata"] for cell in row]
    table_text = " ".join(f"{what} {values}" for what, values in rows)
    for hover in hovers:
        for number in re.findall(r"\d+(?:\.\d+)?", re.sub(r"<[^>]+>", " ", hover)):
            assert number in table_text
    assert (
        "Mobile outreach East",
        "Secondary traumatic stress (ProQOL 5) · Score 43.5 (high band) · 95% interval"
        " 41.0–46.0 · n = 12 · Organization 33.0: clearly different",
    ) in rows
    assert Section("teams", "Teams", "", spec).numbers() == rows


def test_suppressed_cells_add_no_number_to_the_tables(tables):
    rows = hover_rows(figures.team_heatmap(tables, MIN_GROUP_SIZE))

    night = [values for what, values in rows if what == "Night shelter"]
    assert night and all(
        re.search(r"\d", values) is None or "fewer than 5" in values for values in night
    )
    assert not pd.isna(night[0])
