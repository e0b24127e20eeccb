"""The written dashboards in real headless Chromium, opened from disk with no network."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from playwright.sync_api import Browser

from dashboards.pages import write_dashboards
from tests.browsing import PageVisitor, Visit
from tests.conftest import SampleRun
from tests.test_dashboard_figures import (
    MIN_GROUP_SIZE,
    SCRIPT_TEAM,
    make_published_tables,
    make_run_facts,
)

pytestmark = pytest.mark.browser

# axe-core, installed from the npm registry by `make test` (npm ci in tests/axe).
AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
NO_AXE = f"axe-core is not installed at {AXE}: make test runs npm ci in tests/axe"

PAGES = [
    "index.html",
    "leadership.html",
    "teams/dropin.html",
    "teams/east.html",
    "teams/housing.html",
    "teams/script.html",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = tmp_path_factory.mktemp("dashboards")
    write_dashboards(out_dir, make_published_tables(), make_run_facts(), MIN_GROUP_SIZE)
    return out_dir


@pytest.fixture
def open_page(browser: Browser, site: Path) -> Iterator[Callable[[str], Visit]]:
    with PageVisitor(browser) as visitor:
        yield lambda name: visitor.visit(site / name)


def assert_loaded_offline_and_drawn(visit: Visit, path: Path, bundle: Path) -> None:
    """Only local files were requested, nothing went wrong, and every figure written is drawn."""
    assert visit.requests
    assert [url for url in visit.requests if not url.startswith("file://")] == []
    assert visit.console_errors == []
    assert visit.page_errors == []
    assert visit.dialogs == []
    written = path.read_text(encoding="utf-8").count('class="plotly-graph-div"')
    plots = visit.page.locator(".js-plotly-plot")
    assert plots.count() == written
    for index in range(written):
        assert plots.nth(index).locator(".main-svg").count() > 0
        assert plots.nth(index).is_visible()
    if written:
        # The one shared plotly.js, from beside the index whichever folder the page is in.
        assert bundle.as_uri() in visit.requests


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_only_local_files_without_errors_and_draws_every_figure(open_page, site, page):
    visit = open_page(page)

    assert_loaded_offline_and_drawn(visit, site / page, site / "plotly.min.js")


def test_leadership_and_team_pages_draw_their_figures(open_page):
    assert open_page("leadership.html").page.locator(".js-plotly-plot").count() == 7
    assert open_page("teams/east.html").page.locator(".js-plotly-plot").count() == 3


def test_suppressed_team_shows_fewer_than_five_in_the_heatmap(open_page):
    heatmap = open_page("leadership.html").page.locator("#figure-teams")

    marker = heatmap.locator(".heatmaplayer text").filter(has_text="than 5")
    # One per scale in Night shelter's row, and nothing else.
    assert marker.count() == 8
    assert marker.first.is_visible()
    assert "fewer" in marker.first.text_content()
    assert "Night shelter" in heatmap.locator(".ytick text").all_text_contents()


def test_script_tag_team_name_is_shown_as_text_and_never_runs(open_page):
    visit = open_page("leadership.html")
    page = visit.page

    assert page.locator("table.teams td", has_text=SCRIPT_TEAM).is_visible()
    assert SCRIPT_TEAM in page.locator("#figure-teams .ytick text").all_text_contents()
    assert SCRIPT_TEAM in page.locator("#figure-trend .legendtext").all_text_contents()
    injected_scripts = page.evaluate(
        "[...document.scripts].filter(script => script.textContent.trim() === 'alert(1)').length"
    )
    assert injected_scripts == 0
    team_visit = open_page("teams/script.html")
    assert team_visit.page.get_by_role("heading", name=SCRIPT_TEAM, level=1).is_visible()
    assert visit.dialogs == team_visit.dialogs == []


def _point_at(page, figure: str, cell_text: str) -> tuple[float, float]:
    """The middle of the heatmap cell showing `cell_text`, in page coordinates."""
    cell = page.locator(f"{figure} text", has_text=cell_text).first
    cell.scroll_into_view_if_needed()
    box = cell.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def _hover_text(page, figure: str, cell_text: str) -> str:
    page.mouse.move(*_point_at(page, figure, cell_text))
    hover = page.locator(f"{figure} .hoverlayer")
    hover.locator("text").first.wait_for()
    return " ".join(hover.locator("text").all_text_contents())


def test_heatmap_hover_shows_interval_and_n(open_page):
    hover_text = _hover_text(open_page("leadership.html").page, "#figure-teams", "43.5")

    assert "Mobile outreach East" in hover_text
    assert "95% interval 41.0–46.0" in hover_text
    assert "n = 12" in hover_text


def test_clicking_a_team_in_the_heatmap_opens_its_page(open_page, site):
    page = open_page("leadership.html").page

    # Cells draw their text under plotly's drag layer, which takes the click, as for a reader.
    page.mouse.click(*_point_at(page, "#figure-teams", "43.5"))

    page.wait_for_url((site / "teams" / "east.html").as_uri())
    assert page.get_by_role("heading", name="Mobile outreach East", level=1).is_visible()


def test_team_table_sorts_by_the_column_clicked(open_page):
    page = open_page("leadership.html").page
    rate_heading = page.locator("table.teams th", has_text="Response rate")

    rate_heading.locator("button").click()
    ascending = page.locator("table.teams tbody td:nth-child(4)").all_text_contents()
    rate_heading.locator("button").click()
    descending = page.locator("table.teams tbody td:nth-child(4)").all_text_contents()

    # Night shelter has no rate: empty text sorts first.
    assert ascending == ["", "40% (low)", "48% (low)", "60%", "80%"]
    assert descending == list(reversed(ascending))
    assert rate_heading.get_attribute("aria-sort") == "descending"


def test_index_links_to_the_leadership_page_and_each_team_page(open_page, site):
    page = open_page("index.html").page

    page.get_by_role("link", name="Housing support").click()
    page.wait_for_url((site / "teams" / "housing.html").as_uri())
    page.get_by_role("link", name="Leadership summary").click()

    page.wait_for_url((site / "leadership.html").as_uri())
    assert page.get_by_role("heading", name="Leadership summary", level=1).is_visible()


@pytest.mark.e2e
def test_every_page_of_a_run_on_the_sample_loads_offline(browser: Browser, sample_run: SampleRun):
    """Every page the nightly job writes from data/sample (team pages and any validation report
    included) opens from disk with no request leaving the machine, draws every figure, and
    passes axe-core's WCAG 2.1 A and AA rules with no serious or critical violation."""
    dashboards = sample_run.settings.dashboards_dir
    pages = sorted(dashboards.rglob("*.html"))
    assert AXE.is_file(), NO_AXE
    axe = AXE.read_text(encoding="utf-8")

    assert len(list((dashboards / "teams").glob("*.html"))) >= 30
    violations = {}
    with PageVisitor(browser) as visitor:
        for path, visit in zip(pages, visitor.visits_in_one_tab(pages), strict=True):
            assert_loaded_offline_and_drawn(visit, path, dashboards / "plotly.min.js")
            assert_links_go_somewhere(visit, path)
            if found := serious_accessibility_violations(visit, axe):
                violations[str(path.relative_to(dashboards))] = found
    assert violations == {}


def serious_accessibility_violations(visit: Visit, axe: str) -> list[str]:
    """axe-core's serious and critical WCAG 2.1 A/AA violations on the page, rule and first
    elements. Evaluated rather than added as a script tag, which the pages' content security
    policy forbids. Plotly's drawing (SVG) is left out: each chart's data table, which is
    checked, is its text alternative, and walking thousands of SVG nodes cost seconds a page."""
    visit.page.evaluate(axe)
    return visit.page.evaluate(
        """async () => (await axe.run(
                {exclude: [['.js-plotly-plot .main-svg']]},
                {resultTypes: ['violations'],
                 runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}}))
            .violations.filter(rule => ['serious', 'critical'].includes(rule.impact))
            .map(rule => rule.id + ': ' + rule.nodes.slice(0, 3)
                .map(node => node.target.join(' ')).join(', '))"""
    )


def assert_links_go_somewhere(visit: Visit, path: Path) -> None:
    """Every link leads to another written page, to a part of this one that exists, or out to a
    source the page credits (opened only by a reader's click)."""
    links = visit.page.eval_on_selector_all("a[href]", "links => links.map(link => link.href)")
    for link in links:
        if link.startswith("https://"):
            continue
        target, _, anchor = link.partition("#")
        if target == path.as_uri():
            assert anchor and visit.page.locator(f"[id='{anchor}']").count() == 1, link
        else:
            assert (
                target.startswith("file://")
                and Path(unquote(target.removeprefix("file://"))).is_file()
            ), f"{path.name} links to {link}"


def test_the_keyboard_reaches_where_to_act_first(open_page):
    page = open_page("leadership.html").page

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    page.keyboard.press("Enter")
    focused = []
    for _ in range(3):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.getAttribute('href')"))
    # Past the section links: the severity rule, then the first team to act on.
    assert focused[:2] == ["#severity-rule", "teams/east.html"]
