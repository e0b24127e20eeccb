"""`resilience export-png`: the leadership charts as PNG files, drawn by kaleido in Chromium."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from dashboards.pages import board_pack_sections
from resilience.cli import EXIT_FAILED, EXIT_OK, main
from resilience.export_png import PNG_SCALE, PNG_WIDTH
from resilience.settings import load_settings
from tests.test_dashboard_figures import MIN_GROUP_SIZE, make_published_tables
from tests.test_dashboard_pages import write_analytics

pytestmark = pytest.mark.browser

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _config(directory: Path) -> Path:
    config = directory / "resilience.toml"
    config.write_text(
        f'[paths]\nout = "build"\nstate = "state"\n[privacy]\nmin_group_size = {MIN_GROUP_SIZE}\n',
        encoding="utf-8",
    )
    return config


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == PNG_SIGNATURE
    # The IHDR chunk comes first: width and height as big-endian 32-bit integers.
    return struct.unpack(">II", header[16:24])


def test_export_png_writes_every_leadership_chart(tmp_path, capsys):
    pytest.importorskip("kaleido", reason="PNG export needs kaleido 1.x")
    config = _config(tmp_path)
    settings = load_settings(config)
    tables = make_published_tables()
    settings.analytics_path.parent.mkdir(parents=True)
    write_analytics(settings.analytics_path, tables)
    out_dir = tmp_path / "board-pack"

    exit_code = main(["export-png", "--config", str(config), "--out", str(out_dir)])

    assert exit_code == EXIT_OK, capsys.readouterr().err
    sections = [section for section in board_pack_sections(tables, MIN_GROUP_SIZE) if section.spec]
    written = sorted(out_dir.iterdir())
    assert [path.name for path in written] == [
        "01-organization.png",
        "02-teams.png",
        "03-groups.png",
        "04-trend.png",
        "05-bands.png",
        "06-exposure.png",
        "07-participation.png",
        "08-reliability.png",
    ]
    assert capsys.readouterr().out.split() == [str(path) for path in written]
    for path, section in zip(written, sections, strict=True):
        assert _png_size(path) == (
            PNG_WIDTH * PNG_SCALE,
            section.spec["layout"]["height"] * PNG_SCALE,
        )
        # A drawn chart, not an empty canvas.
        assert path.stat().st_size > 30_000


def test_export_png_without_a_published_file_says_to_run_first(tmp_path, capsys):
    exit_code = main(["export-png", "--config", str(_config(tmp_path))])

    assert exit_code == EXIT_FAILED
    assert "no published analytics file" in capsys.readouterr().err
    assert not (tmp_path / "build" / "board-pack").exists()
