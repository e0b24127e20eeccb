"""`resilience inspect`: how an export would be read, without loading or keeping anything."""

from __future__ import annotations

import re
import secrets
import tempfile
import textwrap
from pathlib import Path

import duckdb

from resilience.formats import SourceMapping, UnreadableExport
from resilience.ingest import archive_export, count_statuses, plan_export, stage_batch
from resilience.instruments import Registry
from resilience.site import ReadingRules
from resilience.sqlfiles import read_sql, set_variables
from resilience.warehouse import ensure_schema


def inspect_export(
    path: Path,
    mappings: list[SourceMapping],
    registry: Registry,
    rules: ReadingRules | None = None,
) -> dict:
    """The file's format, responses, and what happens to each column, as a JSON-ready dict.

    `rows` counts the data rows read; `responses` leaves out previews, tests and spam. With the
    site's `rules`, the responses are also staged as a run stages them: `waves` counts them per
    wave (responses in no fieldwork window by their dates), `unmatched_teams` counts the team
    values that name no roster team (when a roster is known).
    """
    rules = rules or ReadingRules()
    try:
        plan = plan_export(path, mappings, registry, rules)
    except UnreadableExport as error:
        return {
            "file": str(path),
            "format": None,
            "tool": None,
            "rows": 0,
            "responses": 0,
            "mapped_columns": {},
            "identifying_columns": [],
            "unmapped_columns": [],
            "waves": {},
            "unmatched_teams": {},
            "problems": [str(error)],
        }
    problems = [*plan.blocking_problems, *plan.problems]
    read = dropped = 0
    waves: dict[str, int] = {}
    unmatched: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as scratch, duckdb.connect() as con:
        # A throwaway salt and a scratch archive: nothing read here is kept.
        set_variables(con, {"response_key_salt": secrets.token_hex(16)})
        archive = Path(scratch) / "inspect.parquet"
        try:
            archive_export(con, plan, archive)
            read, dropped = count_statuses(con, plan, archive)
            if not plan.blocking_problems:
                ensure_schema(con, registry)
                stage_batch(con, plan, archive, registry, rules=rules)
                waves = dict(con.execute(read_sql("quality/batch_waves.sql")).fetchall())
                if rules.team_keys:
                    unmatched = dict(
                        con.execute(
                            read_sql("quality/batch_unmatched_teams.sql"),
                            {"team_ids": sorted(set(rules.team_keys.values()))},
                        ).fetchall()
                    )
        except (UnreadableExport, duckdb.Error) as error:
            problems.append(str(error))
    return {
        "file": str(path),
        "format": plan.layout.format,
        "tool": plan.layout.export_format.tool,
        "source": plan.source,
        "encoding": plan.layout.encoding_label,
        "header_rows": plan.layout.header_rows,
        "rows": read,
        "responses": read - dropped,
        "dropped_previews_tests_spam": dropped,
        "mapped_columns": plan.mapped_columns,
        "identifying_columns": plan.identifying_columns,
        "why_not_kept": {
            column.column_id: column.reason
            for column in plan.with_role("identifying", "response_id", "dropped")
        },
        "dropped_columns": [column.column_id for column in plan.with_role("dropped")],
        "unmapped_columns": plan.unmapped_columns,
        "data_dictionary": str(plan.dictionary) if plan.dictionary else None,
        "waves": waves,
        "unmatched_teams": unmatched,
        "problems": problems,
    }


NUMBERED = re.compile(r"^(.*?)(\d+)$")


def column_runs(mapped: dict[str, str]) -> list[tuple[str, str]]:
    """Mapped columns, with each run of numbered columns mapped to numbered ids in step
    (Q1_1 .. Q1_30 -> proqol_1 .. proqol_30) as one pair of ranges."""
    runs: list[list[str]] = []  # first source, last source, first target, last target
    for source, target in mapped.items():
        if runs and _continues(runs[-1], source, target):
            runs[-1][1], runs[-1][3] = source, target
        else:
            runs.append([source, source, target, target])
    return [
        (source, target)
        if source == last_source
        else (f"{source} .. {last_source}", f"{target} .. {last_target}")
        for source, last_source, target, last_target in runs
    ]


def _continues(run: list[str], source: str, target: str) -> bool:
    previous = [NUMBERED.match(run[1]), NUMBERED.match(run[3])]
    current = [NUMBERED.match(source), NUMBERED.match(target)]
    if not all(previous + current):
        return False
    return all(
        before.group(1) == now.group(1) and int(now.group(2)) == int(before.group(2)) + 1
        for before, now in zip(previous, current, strict=True)
    )


def inspection_text(result: dict) -> str:
    """`inspect_export`'s result as a person reads it: the file, then one section per question
    (what is kept and as what, what is not kept and why, what is left unmapped, what is wrong)."""
    lines = [result["file"]]
    if result["format"] is not None:
        lines.append(
            f"  read as   {result['tool']} ({result['format']}), {result['encoding']}, "
            f"{_count(result['header_rows'], 'header row')}"
        )
        lines.append(f"  mapping   {result['source'] or 'none: columns read as canonical ids'}")
        lines.append(
            f"  rows      {result['rows']} read: {_count(result['responses'], 'response')}, "
            f"{result['dropped_previews_tests_spam']} previews, tests or spam left out"
        )
        if result["data_dictionary"]:
            lines.append(f"  codebook  {result['data_dictionary']}")
    mapped = column_runs(result["mapped_columns"])
    width = max((len(source) for source, _ in mapped), default=0)
    lines += ["", f"Mapped to canonical ids ({_count(len(result['mapped_columns']), 'column')})"]
    lines += [f"  {source:<{width}}  {target}" for source, target in mapped] or ["  none"]
    not_kept: dict[str, list[str]] = {}
    for column, reason in result.get("why_not_kept", {}).items():
        not_kept.setdefault(reason, []).append(column)
    count = sum(len(columns) for columns in not_kept.values())
    lines += ["", f"Not kept ({_count(count, 'column')})"]
    for reason, columns in not_kept.items():
        lines += [
            f"  {reason}:",
            *textwrap.wrap(", ".join(columns), 96, initial_indent="    ", subsequent_indent="    "),
        ]
    if not not_kept:
        lines.append("  none")
    if result.get("waves"):
        lines += ["", "Waves (responses)"]
        lines += [f"  {wave}  {count}" for wave, count in result["waves"].items()]
    if result.get("unmatched_teams"):
        lines += ["", "Team values that match no roster team (id, name or alias), with responses"]
        lines += [f"  {team!r}  {count}" for team, count in result["unmatched_teams"].items()]
    lines += ["", "Unmapped columns (not kept)"]
    lines += [f"  {column}" for column in result["unmapped_columns"]] or ["  none"]
    lines += ["", "Problems"]
    lines += [f"  {problem}" for problem in result["problems"]] or ["  none"]
    return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
