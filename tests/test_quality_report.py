"""The validation report in headless Chromium, and published with the dashboards by a real run."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from resilience.instruments import Registry
from resilience.quality_report import (
    CELLS_SHOWN_PER_FILE,
    VALIDATION_PAGE,
    FileOutcome,
    FlagCount,
    QuarantinedCell,
    RuleCount,
    ValidationState,
    write_validation_report,
)
from resilience.settings import QualitySettings, load_settings
from resilience.validation import MartShape, Relation, build_mart_suite
from tests.browsing import PageVisitor
from tests.conftest import make_project, run_stages
from tests.test_quality_pipeline import HELD_BACK, HELD_BACK_REASON, make_problem_project

SCRIPT_VALUE = "<script>alert(1)</script>"
QUALITY = QualitySettings(waves={"2025-05": {"start": "2025-05-01", "end": "2025-05-31"}})


def outcome(name: str, **fields: object) -> FileOutcome:
    counts = {
        "status": "loaded",
        "reason": None,
        "rows_read": 12,
        "rows_dropped_status": 1,
        "rows_already_loaded": 1,
        "rows_repeated": 0,
        "rows_quarantined": 0,
        "rows_loaded": 10,
        "rows_excluded": 2,
        "rule_counts": (),
        "cells": (),
        "cells_total": 0,
    }
    return FileOutcome(file_name=name, file_sha256=name, **{**counts, **fields})


STATE = ValidationState(
    files=(
        outcome(
            "staff_survey_2025-05.csv",
            rows_quarantined=2,
            rows_loaded=8,
            rule_counts=(
                RuleCount("proqol_1", "answer_in_allowed_codes", 1),
                RuleCount("team", "team_in_roster", 1),
            ),
            cells=(
                QuarantinedCell(4, "proqol_1", "answer_in_allowed_codes", SCRIPT_VALUE),
                QuarantinedCell(9, "team", "team_in_roster", "T999"),
            ),
            cells_total=2,
        ),
        outcome(
            "late.csv",
            status="held_back",
            reason="late.csv: 9 of 12 rows (75%) failed validation",
            rows_quarantined=10,
            rows_loaded=0,
            rows_excluded=0,
            rule_counts=(RuleCount(None, "file_held_back", 1),),
            cells=tuple(
                QuarantinedCell(row, "brs_1", "answer_in_allowed_codes", "9")
                for row in range(1, CELLS_SHOWN_PER_FILE + 1)
            ),
            cells_total=CELLS_SHOWN_PER_FILE + 7,
        ),
    ),
    flags=(FlagCount("too_fast", 3, 2), FlagCount("duplicate_answers", 1, 0)),
)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    checks = [
        Relation("teams", build_mart_suite(MartShape("teams", ("team_id",), ("team_id",)), [], 5))
    ]
    return write_validation_report(
        tmp_path_factory.mktemp("report"),
        STATE,
        QUALITY,
        checks,
        "nightly-2025-05-20",
        dt.datetime(2025, 5, 20, 2, 4, tzinfo=dt.UTC),
    )


@pytest.mark.browser
def test_the_report_opens_offline_and_shows_every_file_and_cell(
    browser: Browser, page: Path
) -> None:
    with PageVisitor(browser) as visitor:
        visit = visitor.visit(page)
        files = visit.page.locator("table.files tbody tr")
        assert files.count() == 2
        assert "held back" in files.nth(1).inner_text()
        totals = visit.page.locator("table.files tfoot td.count").all_inner_texts()
        assert totals == ["24", "2", "2", "0", "12", "8", "2"]
        cells = visit.page.locator("table.quarantined").first.locator("tbody tr")
        assert cells.count() == 2
        # A failing value is shown as text, never run.
        assert visit.page.get_by_role("cell", name=SCRIPT_VALUE).is_visible()
        assert visit.page.locator(f"text=first {CELLS_SHOWN_PER_FILE} of 507 cells").is_visible()
        assert visit.page.get_by_role("heading", name="Careless responding").is_visible()

    assert visit.requests == [page.as_uri()]
    assert visit.console_errors == [] and visit.page_errors == [] and visit.dialogs == []


def test_a_failing_value_is_escaped_in_the_html(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    assert SCRIPT_VALUE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- published by a run -----------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.browser
def test_a_run_publishes_the_report_beside_the_dashboards_and_a_new_held_back_file_updates_it(
    tmp_path: Path, registry: Registry, browser: Browser
) -> None:
    settings = load_settings(make_project(tmp_path))
    first = run_stages(settings, registry)
    page = settings.dashboards_dir / VALIDATION_PAGE
    assert first.outputs["validation"] == str(page)
    assert HELD_BACK not in page.read_text(encoding="utf-8")

    # The next export is a bad one: nothing new is loaded, yet the published report must say so.
    problems = tmp_path / "problems"
    make_problem_project(problems)
    shutil.copy(problems / "inputs" / "exports" / HELD_BACK, settings.paths.exports)
    second = run_stages(settings, registry)

    assert not second.release_unchanged
    assert HELD_BACK_REASON in page.read_text(encoding="utf-8")
    with PageVisitor(browser) as visitor:
        visit = visitor.visit(settings.dashboards_dir / "index.html")
        visit.page.get_by_role("link", name="Validation report").click()
        visit.page.wait_for_url(page.as_uri())
        assert visit.page.get_by_role("heading", name="Validation report", level=1).is_visible()
        assert visit.page.get_by_role("rowheader", name=HELD_BACK).is_visible()
    assert [url for url in visit.requests if not url.startswith("file://")] == []
    assert visit.console_errors == [] and visit.page_errors == []
