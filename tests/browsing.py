"""Opening written pages in headless Chromium and recording everything they do while loading."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")
# Keep Chromium from phoning home on its own, so any request seen comes from the page.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


SCREENSHOT_WIDTH = 1400


@dataclass
class Visit:
    """An opened page and everything it did while loading."""

    page: Page
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


class PageVisitor:
    """Opens pages from disk, each in a fresh context, or several in turn in one tab; closes
    them all on exit."""

    def __init__(self, browser: Browser, viewport: tuple[int, int] = (1280, 900)) -> None:
        self.browser = browser
        self.viewport = {"width": viewport[0], "height": viewport[1]}
        self.contexts: list[BrowserContext] = []

    def __enter__(self) -> PageVisitor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for context in self.contexts:
            context.close()

    def visit(self, path: Path) -> Visit:
        visit = Visit(self._new_tab())
        _record(visit.page, lambda: visit)
        _open(visit, path)
        return visit

    def visits_in_one_tab(self, paths: Iterable[Path]) -> Iterator[Visit]:
        """Each page in turn in one tab, as a reader following links: the tab keeps plotly.js
        compiled from one page to the next, so each opens in half the time of a fresh one. Each
        visit records only what happened while its page was open."""
        tab = self._new_tab()
        visits: list[Visit] = []
        _record(tab, lambda: visits[-1])
        for path in paths:
            visits.append(Visit(tab))
            _open(visits[-1], path)
            yield visits[-1]

    def _new_tab(self) -> Page:
        context = self.browser.new_context(viewport=self.viewport)
        self.contexts.append(context)
        return context.new_page()


def _record(page: Page, current: Callable[[], Visit]) -> None:
    """Record the page's requests, errors and dialogs in the visit `current` returns."""
    page.on("request", lambda request: current().requests.append(request.url))
    page.on(
        "console",
        lambda message: (
            current().console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: current().page_errors.append(str(error)))
    page.on("dialog", lambda dialog: (current().dialogs.append(dialog.message), dialog.dismiss()))


def _open(visit: Visit, path: Path) -> None:
    visit.page.goto(path.as_uri(), wait_until="load")
    figure_count = path.read_text(encoding="utf-8").count('class="plotly-graph-div"')
    # plotly draws asynchronously after load: wait until every figure has its SVG.
    visit.page.wait_for_function(
        """count => {
            const plots = [...document.querySelectorAll('.js-plotly-plot')];
            const drawn = plots.filter(plot => plot.querySelector('.main-svg'));
            return plots.length === count && drawn.length === count;
        }""",
        arg=figure_count,
        timeout=30_000,
    )


def save_screenshots(dashboards: Path, images: Path, team_id: str, height: int) -> list[Path]:
    """The first `height` pixels of the leadership page and of one team's page, 1400 wide (the
    first screen a leader sees at 1400 x 900), as drawn in headless Chromium from disk: the
    README's screenshots."""
    from playwright.sync_api import sync_playwright

    from dashboards.pages import LEADERSHIP_PAGE, team_page_path

    images.mkdir(parents=True, exist_ok=True)
    shots = {"leadership.png": LEADERSHIP_PAGE, "team.png": team_page_path(team_id)}
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            with PageVisitor(browser, viewport=(SCREENSHOT_WIDTH, height)) as visitor:
                for image, page in shots.items():
                    visit = visitor.visit(dashboards / page)
                    path = images / image
                    visit.page.screenshot(
                        path=path,
                        full_page=True,
                        clip={"x": 0, "y": 0, "width": SCREENSHOT_WIDTH, "height": height},
                    )
                    written.append(path)
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tests.browsing",
        description="Screenshot the leadership page and a team page of a run's dashboards.",
    )
    parser.add_argument("dashboards", type=Path, help="a run's dashboards folder")
    parser.add_argument("images", type=Path, help="folder for leadership.png and team.png")
    parser.add_argument("--team", default="T002", help="the team whose page to show")
    parser.add_argument(
        "--height", type=int, default=900, help="pixels from the top to keep (default: 900)"
    )
    arguments = parser.parse_args(argv)
    for path in save_screenshots(
        arguments.dashboards, arguments.images, arguments.team, arguments.height
    ):
        print(path, f"{path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
