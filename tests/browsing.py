"""Opening written pages in headless Chromium and recording everything they do while loading."""

from __future__ import annotations

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


@dataclass
class Visit:
    """An opened page and everything it did while loading."""

    page: Page
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


class PageVisitor:
    """Opens pages from disk, each in a fresh context; closes them all on exit."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []

    def __enter__(self) -> PageVisitor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for context in self.contexts:
            context.close()

    def visit(self, path: Path) -> Visit:
        context = self.browser.new_context(viewport={"width": 1280, "height": 900})
        self.contexts.append(context)
        visit = Visit(context.new_page())
        visit.page.on("request", lambda request: visit.requests.append(request.url))
        visit.page.on(
            "console",
            lambda message: (
                visit.console_errors.append(message.text) if message.type == "error" else None
            ),
        )
        visit.page.on("pageerror", lambda error: visit.page_errors.append(str(error)))
        visit.page.on(
            "dialog", lambda dialog: (visit.dialogs.append(dialog.message), dialog.dismiss())
        )
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
        return visit
