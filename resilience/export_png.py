"""Static PNG copies of the leadership charts for board packs (`resilience export-png`).

The figures are the leadership page's own (`dashboards.pages.board_pack_sections`), built from
the published analytics file only. kaleido draws them in a headless Chromium it finds through
choreographer: the `BROWSER_PATH` environment variable, else a Chromium or Chrome on the PATH. It
loads plotly.js from the installed plotly package and no MathJax, so nothing is fetched from the
network.
"""

from __future__ import annotations

from pathlib import Path

from dashboards.model import read_published_tables
from dashboards.pages import board_pack_sections

PNG_WIDTH = 1200
# Twice the pixels of the page's layout: sharp when a board pack is printed.
PNG_SCALE = 2
RENDER_TIMEOUT_SECONDS = 120


class PngExportUnavailable(RuntimeError):
    """kaleido or a Chromium it can drive is missing."""


def export_leadership_pngs(analytics_file: Path, out_dir: Path, min_group_size: int) -> list[Path]:
    """Write one PNG per leadership chart into `out_dir`, named by its place on the page
    (01-organization.png, 02-teams.png ...). Returns the paths written, in page order."""
    if not analytics_file.is_file():
        raise FileNotFoundError(f"no published analytics file at {analytics_file}: run first")
    tables = read_published_tables(analytics_file)
    sections = [section for section in board_pack_sections(tables, min_group_size) if section.spec]
    out_dir.mkdir(parents=True, exist_ok=True)
    renders = [
        {
            "fig": section.spec,
            "path": out_dir / f"{position:02d}-{section.anchor}.png",
            "opts": {
                "format": "png",
                "width": PNG_WIDTH,
                "height": section.spec["layout"]["height"],
                "scale": PNG_SCALE,
            },
        }
        for position, section in enumerate(sections, start=1)
    ]
    _render(renders)
    return [render["path"] for render in renders]


def _render(renders: list[dict[str, object]]) -> None:
    try:
        import kaleido
        from choreographer.errors import ChromeNotFoundError
    except ImportError as error:
        raise PngExportUnavailable(
            "PNG export needs kaleido 1.x (pip install 'kaleido>=1,<2')"
        ) from error
    try:
        # kaleido's own thread and event loop: the caller may already be running one.
        kaleido.write_fig_from_object_sync(
            renders,
            # No MathJax: the charts use no formulas, and it would come from a CDN.
            kopts={"mathjax": False, "timeout": RENDER_TIMEOUT_SECONDS},
            cancel_on_error=True,
        )
    except ChromeNotFoundError as error:
        raise PngExportUnavailable(
            "PNG export needs Chromium: install it or set BROWSER_PATH to its executable"
        ) from error
