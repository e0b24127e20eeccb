"""The validation report: what validation, the quarantine and the careless-responding rules did
with every export, as an offline page beside the dashboards and as markdown for the Prefect run.

The page describes the warehouse as it stands (every file in the manifest as it was last read),
not one run: a run that finds nothing new leaves it, and the published release, as they were.
Quarantined cells carry a file's row number, column, rule and the failing value; the identifying
columns were dropped before validation, so none of them can appear here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import duckdb
from jinja2 import Environment, PackageLoader, StrictUndefined

from resilience.rules import ATTENTION_STATUSES, BATCH_RULES, RULE_DESCRIPTIONS, attention_fix
from resilience.settings import CarelessFlag, QualitySettings
from resilience.sqlfiles import read_sql

if TYPE_CHECKING:
    # Annotations only: the pipeline imports this module to render the page.
    from resilience.pipeline import RunReport
    from resilience.validation import Relation

VALIDATION_PAGE = "validation.html"
# A held-back file can have thousands of failing cells: the page lists this many per file, and
# says where the rest are (the warehouse's quarantine table keeps every one).
CELLS_SHOWN_PER_FILE = 500
STATUS_WORDS = {
    "loaded": "loaded",
    "held_back": "held back",
    "quarantined": "not loaded",
}


@dataclass(frozen=True)
class QuarantinedCell:
    source_row: int | None
    column: str | None
    rule: str
    value: str | None


@dataclass(frozen=True)
class RuleCount:
    column: str | None
    rule: str
    cells: int


@dataclass(frozen=True)
class UnansweredItem:
    """How often an item of a file was left unanswered, and the answers that said so."""

    item_id: str
    answers: int
    answers_given: str
    """Each answer that meant "not answered" with its count, such as "n/a 3, blank 2"."""


@dataclass(frozen=True)
class FileOutcome:
    """One export as it was last read: its counts, and why rows or the file were set aside."""

    file_name: str
    file_sha256: str
    status: str
    reason: str | None
    rows_read: int
    rows_dropped_status: int
    rows_already_loaded: int
    rows_repeated: int
    rows_quarantined: int
    rows_loaded: int
    rows_excluded: int
    rule_counts: tuple[RuleCount, ...]
    cells: tuple[QuarantinedCell, ...]
    """The first CELLS_SHOWN_PER_FILE quarantined cells."""
    cells_total: int
    # Of rows_loaded, those that replaced a stored version with other answers; and the responses
    # removed because this newer export of their survey no longer holds them.
    rows_corrected: int = 0
    rows_deleted: int = 0
    replaces: tuple[str, ...] = ()
    """The names of the earlier versions of its survey that this export replaced."""
    unanswered: tuple[UnansweredItem, ...] = ()

    @property
    def balances(self) -> bool:
        """Every row read is loaded, quarantined, dropped as a preview/test/spam, already loaded
        or repeated."""
        return self.rows_read == (
            self.rows_loaded
            + self.rows_quarantined
            + self.rows_dropped_status
            + self.rows_already_loaded
            + self.rows_repeated
        )


@dataclass(frozen=True)
class FlagCount:
    flag: str
    responses: int
    excluded: int
    """Responses this flag excludes (it is one of their exclusion reasons)."""


@dataclass(frozen=True)
class ValidationState:
    files: tuple[FileOutcome, ...]
    flags: tuple[FlagCount, ...]

    def fingerprint(self) -> str:
        """Changes whenever the page's content from the warehouse would."""
        text = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def read_validation_state(con: duckdb.DuckDBPyConnection) -> ValidationState:
    """The manifest, the quarantine and the careless-responding flags, after transform."""
    cells: dict[str, list[QuarantinedCell]] = {}
    cells_total: dict[str, int] = {}
    for sha, row, column, rule, value, _, total in con.execute(
        read_sql("quality/quarantined_cells.sql"), {"cells_per_file": CELLS_SHOWN_PER_FILE}
    ).fetchall():
        cells.setdefault(sha, []).append(QuarantinedCell(row, column, rule, value))
        cells_total[sha] = total
    rule_counts: dict[str, list[RuleCount]] = {}
    for sha, column, rule, count in con.execute(
        read_sql("quality/quarantine_rules.sql")
    ).fetchall():
        rule_counts.setdefault(sha, []).append(RuleCount(column, rule, count))
    unanswered: dict[str, list[UnansweredItem]] = {}
    for sha, item_id, answers, answers_given in con.execute(
        read_sql("quality/unanswered_items.sql")
    ).fetchall():
        unanswered.setdefault(sha, []).append(UnansweredItem(item_id, int(answers), answers_given))
    outcomes = con.execute(read_sql("quality/file_outcomes.sql"))
    names = [column[0] for column in outcomes.description]
    files = []
    for values in outcomes.fetchall():
        row = dict(zip(names, values, strict=True))
        sha = row["file_sha256"]
        row["replaces"] = tuple(row["replaces"])
        files.append(
            FileOutcome(
                **row,
                rule_counts=tuple(rule_counts.get(sha, ())),
                cells=tuple(cells.get(sha, ())),
                cells_total=cells_total.get(sha, 0),
                unanswered=tuple(unanswered.get(sha, ())),
            )
        )
    raised = {
        flag: FlagCount(flag, responses, excluded)
        for flag, responses, excluded in con.execute(read_sql("quality/flag_counts.sql")).fetchall()
    }
    return ValidationState(
        files=tuple(files),
        flags=tuple(raised.get(flag, FlagCount(flag, 0, 0)) for flag in get_args(CarelessFlag)),
    )


def flag_meanings(quality: QualitySettings) -> dict[str, str]:
    """What each careless-responding flag means, with the thresholds in force."""
    return {
        "too_fast": f"under {quality.min_seconds_per_item:g} seconds per answered item",
        "straight_lined": (
            "one answer to every item of an instrument of at least "
            f"{quality.straight_line_min_items} items"
        ),
        "long_identical_run": f"{quality.long_run_items} or more identical answers in a row",
        "inconsistent_reversed": (
            "the same extreme answer to a scale's reversed and plain items, which contradict"
            " each other"
        ),
        "duplicate_answers": (
            "exactly the same answers as another response of the team in the wave (both with at"
            f" least {quality.duplicate_min_answers} answers)"
        ),
    }


def write_validation_report(
    out_dir: Path,
    state: ValidationState,
    quality: QualitySettings,
    published_checks: list[Relation],
    run_id: str,
    finished_at: datetime,
) -> Path:
    """Write validation.html into `out_dir` (the dashboards folder being staged)."""
    environment = Environment(
        loader=PackageLoader("resilience", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    statuses: dict[str, int] = {}
    for outcome in state.files:
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
    html = environment.get_template("validation.html.j2").render(
        state=state,
        statuses=statuses,
        status_words=STATUS_WORDS,
        rule_descriptions=RULE_DESCRIPTIONS,
        batch_rules=BATCH_RULES,
        flag_meanings=flag_meanings(quality),
        attention_statuses=ATTENTION_STATUSES,
        attention_fix=attention_fix,
        quality=quality,
        checks=_published_check_rows(published_checks),
        cells_shown=CELLS_SHOWN_PER_FILE,
        run_id=run_id,
        finished_at=finished_at.strftime("%Y-%m-%d %H:%M %Z").strip(),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / VALIDATION_PAGE
    path.write_text(html, encoding="utf-8")
    return path


def _published_check_rows(relations: list[Relation]) -> list[dict[str, object]]:
    """Each rule the published tables passed, with the tables it was checked on."""
    tables: dict[str, list[str]] = {}
    for relation in relations:
        for expectation in relation.suite.expectations:
            rule = expectation.meta["rule"]
            if relation.name not in tables.setdefault(rule, []):
                tables[rule].append(relation.name)
    return [
        {"rule": rule, "description": RULE_DESCRIPTIONS[rule], "tables": names}
        for rule, names in tables.items()
    ]


def validation_summary(state: ValidationState) -> str:
    """One line for the dashboards' index page."""
    statuses = [
        f"{sum(1 for f in state.files if f.status == status)} {words}"
        for status, words in STATUS_WORDS.items()
        if any(f.status == status for f in state.files)
    ]
    quarantined = sum(f.rows_quarantined for f in state.files)
    excluded = sum(f.rows_excluded for f in state.files)
    return (
        f"{len(state.files)} export files ({', '.join(statuses) or 'none'}), "
        f"{quarantined} responses quarantined, {excluded} marked excluded as careless responding, "
        "and the rules behind them"
    )


def validation_markdown(report: RunReport) -> str:
    """This run's files for the Prefect run's summary: what each file's rows became, and why."""
    rows = "\n".join(
        f"| {f.file_name} | {f.status} | {f.rows_read} | {f.rows_dropped_status} "
        f"| {f.rows_already_loaded} | {f.rows_repeated} | {f.rows_quarantined} | {f.rows_loaded} "
        f"| {f.rows_excluded} | {f.rows_corrected} | {f.rows_deleted} "
        f"| {(f.reason or '').replace('|', '/')} |"
        for f in report.files
    )
    balanced = all(
        f.rows_read
        == f.rows_loaded
        + f.rows_quarantined
        + f.rows_dropped_status
        + f.rows_already_loaded
        + f.rows_repeated
        for f in report.files
    )
    return (
        "## Validation\n\n"
        "| file | status | read | previews, tests, spam | already loaded | repeated | quarantined "
        "| loaded | of which excluded | of which corrected | removed | why |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        f"{rows}\n\n"
        + (
            "Every row read is accounted for: read = loaded + quarantined + previews, tests and "
            "spam + already loaded + repeated.\n"
            if balanced
            else "**The counts do not balance**: some rows read are not accounted for.\n"
        )
        + f"\nThe full report, with every quarantined cell, is `{VALIDATION_PAGE}` beside the "
        "dashboards.\n"
    )
