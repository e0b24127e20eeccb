"""The dashboards of a run on the committed sample, as a leader and a manager first see them in
Chromium (1400 x 900), and on paper (Chromium's own PDF). axe-core's accessibility rules run on
every page in tests/test_dashboard_browser.py, which opens them all."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pypdfium2
import pytest
from playwright.sync_api import Browser, Page

from dashboards.pages import LEADERSHIP_PAGE, team_page_path
from tests.browsing import PageVisitor
from tests.conftest import SAMPLE_DIR, SampleRun

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

VIEWPORT = (1400, 900)
# Every hover text of every figure on the page, as plotly holds it.
HOVER_TEXTS = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(plot =>
    plot.data.flatMap(trace => [trace.customdata ?? []].flat(3)))
    .filter(text => typeof text === 'string' && text.includes('<br>'))"""
NUMBER = re.compile(r"\d+(?:\.\d+)?")


@pytest.fixture(scope="module")
def dashboards(sample_run: SampleRun) -> Path:
    return sample_run.settings.dashboards_dir


@pytest.fixture(scope="module")
def truth(sample_run: SampleRun) -> dict[str, str]:
    """The sample's planted worsening and improving teams, with their names and whether each
    reported team has a warning in the latest wave."""
    planted = json.loads((SAMPLE_DIR / "sample.json").read_text(encoding="utf-8"))
    with duckdb.connect(str(sample_run.settings.analytics_path), read_only=True) as con:
        names = dict(con.execute("select team_id, team_name from teams").fetchall())
        warned = {
            team_id
            for (team_id,) in con.execute(
                "select distinct team_id from early_warnings"
                " where wave = (select max(wave) from team_indicators)"
            ).fetchall()
        }
    return {
        "worsening": planted["worsening_team"],
        "worsening_name": names[planted["worsening_team"]],
        "improving": planted["improving_team"],
        "warned": warned,
    }


@pytest.fixture
def open_first_screen(browser: Browser, dashboards: Path) -> Iterator:
    with PageVisitor(browser, viewport=VIEWPORT) as visitor:
        yield lambda page: visitor.visit(dashboards / page).page


def _in_first_screen(page: Page, selector: str) -> list[str]:
    """The text of every element matching `selector` that lies wholly in the first viewport."""
    return page.eval_on_selector_all(
        selector,
        """(elements, height) => elements
            .filter(element => { const box = element.getBoundingClientRect();
                return box.height > 0 && box.top >= 0 && box.bottom <= height; })
            .map(element => element.innerText)""",
        VIEWPORT[1],
    )


def test_the_leaders_first_screen_names_the_deteriorating_team_first(open_first_screen, truth):
    page = open_first_screen(LEADERSHIP_PAGE)

    rows = _in_first_screen(page, "table.where-to-act tbody tr")
    warned_rows = _in_first_screen(page, "table.where-to-act tbody tr.warned")
    position = next(i for i, row in enumerate(rows) if truth["worsening_name"] in row)
    # No team without a warning above it: every row before it is a warned one.
    assert rows[: position + 1] == warned_rows[: position + 1]
    assert "What may help" in page.inner_text("table.where-to-act thead")


def test_a_warned_team_sees_its_warnings_and_a_strategy_first(open_first_screen, truth):
    page = open_first_screen(team_page_path(truth["worsening"]))

    assert _in_first_screen(page, "#warnings ul.concerns li")
    assert _in_first_screen(page, "#meaning article.strategy h3")


def test_a_team_without_warnings_says_so_first(open_first_screen, truth):
    assert truth["improving"] not in truth["warned"]
    page = open_first_screen(team_page_path(truth["improving"]))

    assert _in_first_screen(page, "#warnings p.no-warnings") == ["No warnings this wave (2026-01)."]


@pytest.mark.parametrize("page", ["leadership", "team"])
def test_a_printed_page_holds_every_number_shown_on_hover(open_first_screen, truth, page):
    tab = open_first_screen(
        LEADERSHIP_PAGE if page == "leadership" else team_page_path(truth["worsening"])
    )
    hovered = {
        number
        for text in tab.evaluate(HOVER_TEXTS)
        for number in NUMBER.findall(re.sub(r"<[^>]+>", " ", text))
    }

    pdf = pypdfium2.PdfDocument(tab.pdf(format="A4", landscape=True))
    printed = set(NUMBER.findall(" ".join(sheet.get_textpage().get_text_range() for sheet in pdf)))

    assert len(hovered) > 20
    assert hovered - printed == set()
