"""The written dashboards in real headless Chromium, opened from disk with no network."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from dashboards.pages import write_dashboards
from tests.browsing import PageVisitor, Visit
from tests.test_dashboard_figures import (
    MIN_GROUP_SIZE,
    SCRIPT_TEAM,
    make_published_tables,
    make_run_facts,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out_dir = tmp_path_factory.mktemp("dashboards")
    paths = write_dashboards(out_dir, make_published_tables(), make_run_facts(), MIN_GROUP_SIZE)
    return {path.name: path for path in paths}


@pytest.fixture
def open_page(browser: Browser, site: dict[str, Path]) -> Iterator[Callable[[str], Visit]]:
    with PageVisitor(browser) as visitor:
        yield lambda name: visitor.visit(site[name])


@pytest.mark.parametrize("name", ["index.html", "leadership.html"])
def test_page_loads_only_local_files_without_errors(open_page, site, name):
    visit = open_page(name)

    assert visit.requests
    assert [url for url in visit.requests if not url.startswith("file://")] == []
    assert visit.console_errors == []
    assert visit.page_errors == []
    assert visit.dialogs == []


def test_leadership_page_draws_every_figure_written(open_page, site):
    written = site["leadership.html"].read_text(encoding="utf-8").count('class="plotly-graph-div"')
    visit = open_page("leadership.html")

    plots = visit.page.locator(".js-plotly-plot")
    assert written == 4
    assert plots.count() == written
    for index in range(written):
        assert plots.nth(index).locator(".main-svg").count() > 0
        assert plots.nth(index).is_visible()
    # The one shared plotly.js came from beside the page.
    assert site["plotly.min.js"].as_uri() in visit.requests


def test_suppressed_team_shows_fewer_than_five_in_the_heatmap(open_page):
    visit = open_page("leadership.html")
    heatmap = visit.page.locator("#figure-teams")

    cells = heatmap.locator(".heatmaplayer text")
    marker = cells.filter(has_text=f"fewer than {MIN_GROUP_SIZE}")
    # One per scale in Night shelter's row.
    assert marker.count() == 8
    assert marker.first.is_visible()
    assert "Night shelter" in heatmap.locator(".ytick text").all_text_contents()


def test_script_tag_team_name_is_shown_as_text_and_never_runs(open_page):
    visit = open_page("leadership.html")
    page = visit.page

    assert visit.dialogs == []
    assert page.locator("table.teams td", has_text=SCRIPT_TEAM).is_visible()
    assert SCRIPT_TEAM in page.locator("#figure-teams .ytick text").all_text_contents()
    assert SCRIPT_TEAM in page.locator("#figure-trend .legendtext").all_text_contents()
    injected_scripts = page.evaluate(
        "[...document.scripts].filter(script => script.textContent.trim() === 'alert(1)').length"
    )
    assert injected_scripts == 0


def test_heatmap_hover_shows_interval_and_n(open_page):
    page = open_page("leadership.html").page
    cell = page.locator("#figure-teams text", has_text="43.5").first
    cell.scroll_into_view_if_needed()
    box = cell.bounding_box()

    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    hover = page.locator("#figure-teams .hoverlayer")
    hover.locator("text").first.wait_for()
    hover_text = " ".join(hover.locator("text").all_text_contents())
    assert "Mobile outreach East" in hover_text
    assert "95% interval 41.0–46.0" in hover_text
    assert "n = 12" in hover_text


def test_index_links_to_the_leadership_page(open_page, site):
    page = open_page("index.html").page

    page.get_by_role("link", name="Leadership summary").click()

    page.wait_for_url(site["leadership.html"].as_uri())
    assert page.get_by_role("heading", name="Leadership summary", level=1).is_visible()
