"""Corrected re-exports: a survey tool's export of the same name again, with answers changed, rows
removed and rows added. The newest export wins: the warehouse and every published table end as a
clean run on the final export alone would leave them, with the changes counted; `keep-first`
keeps the first version and says so."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import duckdb

from resilience.instruments import Registry
from resilience.settings import Settings, load_settings
from tests.conftest import run_stages
from tests.worlds import LONG_AGO, copy_inputs, make_small_world, published_tables

HEADER_ROWS = 3  # Qualtrics: ids, question text, import ids
EXPORT_NAME = "staff_survey_all.csv"


def export_rows(path: Path) -> tuple[list[list[str]], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[:HEADER_ROWS], rows[HEADER_ROWS:]


def write_export(path: Path, header: list[list[str]], rows: list[list[str]], age: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows([*header, *rows])
    os.utime(path, (LONG_AGO + age, LONG_AGO + age))


def raw_responses(settings: Settings) -> int:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute("select count(*) from raw_responses").fetchall()[0][0]


def test_a_corrected_re_export_replaces_changed_answers_and_removes_dropped_responses(
    tmp_path: Path, registry: Registry
) -> None:
    settings = make_small_world(tmp_path / "site")
    waves = sorted(settings.paths.exports.iterdir())
    header, _ = export_rows(waves[0])
    earlier = [row for path in waves[:2] for row in export_rows(path)[1]]
    latest = export_rows(waves[2])[1]
    for path in waves:
        path.unlink()
    export = settings.paths.exports / EXPORT_NAME
    write_export(export, header, earlier, age=0)
    run_stages(settings, registry)
    keep_first = tmp_path / "keep-first"
    shutil.copytree(tmp_path / "site", keep_first, symlinks=True)

    # The survey tool exports the same survey again: some answers corrected, some responses
    # deleted at the source, and the latest wave added.
    status, response_id, first_item = (header[0].index(c) for c in ("Status", "ResponseId", "Q1_1"))
    genuine = [n for n, row in enumerate(earlier) if row[status] == "0" and row[response_id]]
    corrected_rows, removed_rows = set(genuine[5::40]), set(genuine[7::40])
    corrected = [list(row) for row in earlier]
    for n in corrected_rows:
        answer = corrected[n][first_item]
        corrected[n][first_item] = "1" if answer != "1" else "5"
    removed_ids = {earlier[n][response_id] for n in removed_rows}
    kept = [row for row in corrected if row[response_id] not in removed_ids]
    write_export(export, header, [*kept, *latest], age=60)
    report = run_stages(settings, registry)

    [file_report] = report.with_status("loaded")
    assert file_report.rows_corrected >= len(corrected_rows) - 2  # bar a planted duplicate or two
    assert file_report.rows_deleted == len(removed_ids)
    clean = copy_inputs(settings, tmp_path / "clean")
    run_stages(clean, registry)
    assert raw_responses(settings) == raw_responses(clean)
    assert published_tables(settings) == published_tables(clean)
    report_page = (settings.dashboards_dir / "validation.html").read_text(encoding="utf-8")
    assert "The newest export of a survey wins" in report_page
    assert f"Replaces {EXPORT_NAME}." in report_page

    # keep-first: the version loaded first stays, the removed responses stay, and it says so.
    shutil.copy2(export, keep_first / "inputs" / "exports" / EXPORT_NAME)
    config = keep_first / "resilience.toml"
    config.write_text(
        config.read_text(encoding="utf-8") + '[quality]\nreexports = "keep-first"\n',
        encoding="utf-8",
    )
    first_wins = load_settings(config)
    loaded_before = raw_responses(first_wins)
    [file_report] = run_stages(first_wins, registry).with_status("loaded")
    assert (file_report.rows_corrected, file_report.rows_deleted) == (0, 0)
    assert raw_responses(first_wins) == loaded_before + file_report.rows_loaded
    assert raw_responses(first_wins) == raw_responses(clean) + len(removed_ids)
    report_page = (first_wins.dashboards_dir / "validation.html").read_text(encoding="utf-8")
    assert "Corrected re-exports are not applied" in report_page
