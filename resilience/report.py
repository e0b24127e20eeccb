"""The run summary, as the operator reads it on the console and in the Prefect run."""

from __future__ import annotations

from resilience.pipeline import RunReport
from resilience.rules import ATTENTION_STATUSES, attention_fix
from resilience.settings import display_path


def summary_lines(report: RunReport) -> list[tuple[str, str]]:
    """What the run did, then what it published: the files it wrote, or the release it kept."""
    if report.release is None:
        published = [("published release", "none yet: no responses are loaded")]
    elif report.release_unchanged:
        published = [
            ("published release", f"{report.release} (kept: nothing changed since it was built)")
        ]
    else:
        published = [
            ("published release", str(report.release)),
            *((f"written: {name}", display_path(path)) for name, path in report.outputs.items()),
        ]
    return [
        ("run", report.run_id),
        ("files", f"{len(report.files)} seen, " + _file_statuses(report)),
        ("responses read", str(report.total("rows_read"))),
        ("previews, tests, spam dropped", str(report.total("rows_dropped_status"))),
        ("responses loaded (new)", str(report.total("rows_loaded"))),
        ("responses already loaded", str(report.total("rows_already_loaded"))),
        ("responses repeated (counted once)", str(report.total("rows_repeated"))),
        ("responses quarantined", str(report.total("rows_quarantined"))),
        ("teams reported (latest wave)", str(report.teams_reported)),
        ("teams suppressed (latest wave)", str(report.teams_suppressed)),
        *_needing_attention(report),
        *_off_roster_actions(report),
        *published,
    ]


def _needing_attention(report: RunReport) -> list[tuple[str, str]]:
    """Each file a person must act on, with the one-line fix."""
    return [
        (f"needs attention: {f.file_name}", f"fix: {attention_fix(f.reason)}")
        for f in report.files
        if f.status in ATTENTION_STATUSES or f.status == "needs_attention"
    ]


def _off_roster_actions(report: RunReport) -> list[tuple[str, str]]:
    if not report.actions_off_roster:
        return []
    teams = ", ".join(report.actions_off_roster)
    count = sum(report.actions_off_roster.values())
    return [("actions not published", f"{count}: their teams are not on the roster ({teams})")]


def _file_statuses(report: RunReport) -> str:
    statuses: dict[str, int] = {}
    for file_report in report.files:
        statuses[file_report.status] = statuses.get(file_report.status, 0) + 1
    return ", ".join(f"{count} {status}" for status, count in sorted(statuses.items())) or "none"


def run_summary_markdown(report: RunReport) -> str:
    rows = "\n".join(f"| {name} | {value} |" for name, value in summary_lines(report))
    files = "\n".join(
        f"| {f.file_name} | {f.status} | {f.rows_read} | {f.rows_loaded} | {f.rows_quarantined} "
        f"| {f.reason or ''} |"
        for f in report.files
    )
    return (
        f"# Nightly run {report.run_id}\n\n| | |\n|---|---|\n{rows}\n\n"
        "## Files\n\n| file | status | read | loaded | quarantined | reason |\n"
        f"|---|---|---|---|---|---|\n{files}\n"
    )
