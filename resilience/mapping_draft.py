"""`resilience map`: propose a mapping for an export whose columns are not canonical ids.

The export's item columns come in blocks (a Qualtrics matrix `Q5_1..Q5_30`, SurveyMonkey
"question - statement" columns, LimeSurvey and Google Forms "question [row]" columns, REDCap
variables `pq1..pq30`, one Microsoft Forms column per statement). A block is placed on an
instrument when its size is the instrument's item count and every answer in it is one of the
instrument's answer labels or codes (or a missing answer); the items are taken in order. Where
the answers are bare numbers, several instruments can fit the same columns: the block is placed
only where the columns' own grouping (the shared question of their names) has exactly the
instrument's size. Anything else is not guessed: it is listed, with why, for a person to decide.

The team column is the one whose values name roster teams (ids, names or aliases); the date that
places responses in waves is the tool's recorded or submission date. The draft is a commented
TOML file saying, per block, what it matched, how sure the match is, and what to check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from resilience.formats import ColumnHeader, UnreadableExport, column_role
from resilience.instruments import DEFAULT_MISSING_ANSWERS, Instrument, Registry
from resilience.readers import Layout, detect_layout, read_data_rows
from resilience.site import match_key

ROWS_READ = 5000
# Names of the columns of a block share their question: `Q5_1`, `pq12`, `Question - Statement`,
# `Question [Row]`, `Question.Row` all belong to the block of their question.
STEM_PATTERNS = (
    re.compile(r"^(?P<stem>.*\S)\s*\[[^\]]*\]$"),
    re.compile(r"^(?P<stem>.*\S) - .*$"),
    re.compile(r"^(?P<stem>.*?[A-Za-z][A-Za-z0-9]*?)[_. ]?\d+$"),
)
TEAM_NAME = re.compile(r"team|unit|department|service|program|site|ward|location", re.I)
# Tool metadata that records when a response was submitted, though the reader does not keep it
# by default (legacy Qualtrics' EndDate, REDCap's survey timestamp, Microsoft Forms' completion).
SUBMITTED = re.compile(
    r"end ?date|(survey )?timestamp|[a-z0-9_]+_timestamp|completion time|date submitted", re.I
)
AMBIGUOUS = "ambiguous"
MISSING_KEYS = frozenset(match_key(answer) for answer in DEFAULT_MISSING_ANSWERS)


@dataclass(frozen=True)
class Column:
    header: ColumnHeader
    values: frozenset[str]
    """Every answer given, as compared (`match_key`), blanks and missing answers left out."""
    stem: str

    @property
    def label(self) -> str:
        return self.header.column_id


@dataclass(frozen=True)
class PlacedBlock:
    instrument: Instrument
    columns: tuple[Column, ...]
    answers: str
    """"labels" (the instrument's own answer labels), "codes" (bare numbers among its codes) or
    "recodes" (bare numbers of the tool's own, such as Qualtrics' 10 .. 14)."""

    @property
    def confidence(self) -> str:
        return {"labels": "high", "codes": "medium"}.get(self.answers, "low")

    def recodes(self) -> dict[str, int]:
        """The export's numbers -> answer codes, in order from the lowest number written."""
        if self.answers != "recodes":
            return {}
        answers = frozenset().union(*(column.values for column in self.columns))
        start = min(int(answer) for answer in answers)
        options = self.instrument.items[0].options
        return {str(start + n): option.code for n, option in enumerate(options)}


@dataclass(frozen=True)
class UnplacedBlock:
    columns: tuple[Column, ...]
    reason: str


@dataclass(frozen=True)
class TeamColumn:
    column: Column
    matched: int
    unmatched: tuple[str, ...]
    confidence: str


@dataclass(frozen=True)
class MappingDraft:
    path: Path
    layout: Layout
    source: str
    match: str
    placed: tuple[PlacedBlock, ...]
    unplaced: tuple[UnplacedBlock, ...]
    team: TeamColumn | None
    recorded_date: str | None
    """The column whose date places responses in waves, if the tool writes one."""
    recorded_date_to_map: str | None = None
    """A submission time the mapping must name as `recorded_date` for waves to be placed."""
    wave_column: str | None = None
    notes: list[str] = field(default_factory=list)


def column_stem(name: str) -> str:
    for pattern in STEM_PATTERNS:
        found = pattern.match(name)
        if found:
            return found.group("stem")
    return name


def block_instruments(registry: Registry) -> list[Instrument]:
    """Instruments asked as a block of numbered items sharing an answer scale, largest first."""
    return sorted(
        (
            instrument
            for instrument in registry.instruments
            if instrument.items
            and all(item.id == f"{instrument.id}_{n}" for n, item in enumerate(instrument.items, 1))
        ),
        key=lambda instrument: -len(instrument.items),
    )


def _instrument_keys(instrument: Instrument) -> tuple[frozenset[str], frozenset[str]]:
    labels = {
        match_key(spelling)
        for item in instrument.items
        for option in item.options
        for spelling in option.spellings
    }
    codes = {str(code) for item in instrument.items for code in item.codes}
    return frozenset(labels), frozenset(codes)


def _fit(columns: Sequence[Column], instrument: Instrument) -> str | None:
    """How the answers of `columns` fit the instrument: "labels" or "codes" when every one is
    its own, "recodes" when they are whole numbers spanning no more than its answer options, or
    None."""
    labels, codes = _instrument_keys(instrument)
    answers = frozenset().union(*(column.values for column in columns))
    if not answers:
        return None
    if answers <= labels | codes:
        return "labels" if answers & labels else "codes"
    if all(re.fullmatch(r"-?\d+", answer) for answer in answers):
        numbers = [int(answer) for answer in answers]
        if max(numbers) - min(numbers) < len(instrument.items[0].options):
            return "recodes"
    return None


def _whole_question(columns: Sequence[Column], start: int, size: int) -> bool:
    """Whether columns start..start+size-1 are exactly the columns of one question of several
    columns (a question of one column confirms nothing)."""
    block = columns[start : start + size]
    if size < 2:
        return False
    if len({column.stem for column in block}) != 1:
        return False
    before = columns[start - 1].stem if start > 0 else None
    after = columns[start + size].stem if start + size < len(columns) else None
    return block[0].stem not in (before, after)


def place_blocks(
    columns: Sequence[Column], instruments: Sequence[Instrument]
) -> tuple[list[PlacedBlock], list[UnplacedBlock]]:
    """Place consecutive runs of `columns` on instruments, in order; list the rest."""
    placed: list[PlacedBlock] = []
    unplaced: list[tuple[Column, str]] = []
    start = 0
    while start < len(columns):
        fitting = []
        for instrument in instruments:
            size = len(instrument.items)
            block = columns[start : start + size]
            if len(block) == size and (answers := _fit(block, instrument)):
                fitting.append((instrument, answers, _whole_question(columns, start, size)))
        by_labels = [f for f in fitting if f[1] == "labels"]
        whole = [f for f in fitting if f[2]]
        chosen = (
            by_labels if len(by_labels) == 1 else whole if len(whole) == 1 and not by_labels else []
        )
        if chosen:
            instrument, answers, _ = chosen[0]
            size = len(instrument.items)
            placed.append(PlacedBlock(instrument, tuple(columns[start : start + size]), answers))
            start += size
            continue
        if fitting:
            names = ", ".join(
                f"{f[0].name} ({len(f[0].items)} item{'s' if len(f[0].items) > 1 else ''})"
                for f in fitting
            )
            reason = (
                f"{AMBIGUOUS}: the answers fit {names}, but the columns' grouping does not "
                "confirm it; map these columns by hand"
            )
        elif not columns[start].values:
            reason = "no answers to judge by"
        else:
            reason = "its answers fit no instrument's answer labels or codes, at this size"
        unplaced.append((columns[start], reason))
        start += 1
    return placed, _grouped(unplaced)


def _grouped(unplaced: list[tuple[Column, str]]) -> list[UnplacedBlock]:
    """Unplaced columns as runs of one question and one reason; a run of ambiguous columns is one
    block, with the reason its first column gives."""
    blocks: list[UnplacedBlock] = []
    for column, reason in unplaced:
        last = blocks[-1] if blocks else None
        same_question = last and last.reason == reason and last.columns[-1].stem == column.stem
        both_ambiguous = last and AMBIGUOUS in last.reason and AMBIGUOUS in reason
        if last and (same_question or both_ambiguous):
            blocks[-1] = UnplacedBlock((*last.columns, column), last.reason)
        else:
            blocks.append(UnplacedBlock((column,), reason))
    return blocks


def _team_column(columns: Sequence[Column], team_keys: Mapping[str, str]) -> TeamColumn | None:
    best: TeamColumn | None = None
    for column in columns:
        if not column.values:
            continue
        matched = [value for value in column.values if value in team_keys]
        unmatched = tuple(sorted(column.values - set(matched)))
        if team_keys and matched and (best is None or len(matched) > best.matched):
            confidence = "high" if not unmatched else "medium"
            best = TeamColumn(column, len(matched), unmatched, confidence)
        elif not team_keys and best is None and TEAM_NAME.search(column.header.name):
            best = TeamColumn(column, 0, (), "low")
    return best


def match_pattern(file_name: str) -> str:
    """A file-name glob for the exports of the same survey: numbers (dates, counters) as `*`."""
    stem, dot, suffix = file_name.rpartition(".")
    if not dot:
        stem, suffix = file_name, ""
    globbed = re.sub(r"\*+", "*", re.sub(r"\d[\d_\-. ]*\d|\d", "*", stem))
    return globbed + (f".{suffix}" if dot else "")


def source_name(text: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return name or "survey"


def draft_mapping(
    path: Path, registry: Registry, team_keys: Mapping[str, str], name: str | None = None
) -> MappingDraft:
    """Propose a mapping for the export at `path`. Raises UnreadableExport."""
    layout = detect_layout(path)
    if not layout.export_format.is_export:
        raise UnreadableExport(
            f"{path.name}: a {layout.export_format.tool} codebook, not an export"
        )
    canonical_ids = frozenset((*registry.item_ids, "team", "wave"))
    roles = {
        header.position: column_role(header, layout.export_format, None, None, canonical_ids)
        for header in layout.columns
    }
    rows = read_data_rows(path, layout, ROWS_READ)
    columns = []
    for header in layout.columns:
        cells = (row[header.position] if header.position < len(row) else "" for row in rows)
        values = frozenset(match_key(cell) for cell in cells) - MISSING_KEYS
        columns.append(Column(header, values, column_stem(header.name)))
    candidates = [c for c in columns if roles[c.header.position].role == "unmapped"]
    placed, unplaced = place_blocks(candidates, block_instruments(registry))
    in_blocks = {column.header.position for block in placed for column in block.columns}
    # A team column may look like personal data by its name ("Team name"): its values decide.
    team_candidates = [
        column
        for column in columns
        if column.header.position not in in_blocks
        and (
            roles[column.header.position].role in ("unmapped", "team")
            or roles[column.header.position].reason == "name suggests personal data"
        )
    ]
    team = _team_column(team_candidates, team_keys)
    if team:
        unplaced = [
            UnplacedBlock(tuple(c for c in block.columns if c != team.column), block.reason)
            for block in unplaced
        ]
        unplaced = [block for block in unplaced if block.columns]
    recorded = next(
        (c.header.column_id for c in columns if roles[c.header.position].role == "recorded_at"),
        None,
    )
    wave = next(
        (c.header.column_id for c in columns if roles[c.header.position].role == "wave"), None
    )
    to_map = None
    if recorded is None and wave is None:
        to_map = next(
            (
                c.header.column_id
                for c in columns
                if roles[c.header.position].role == "identifying"
                and SUBMITTED.fullmatch(c.header.name)
            ),
            None,
        )
    return MappingDraft(
        path=path,
        layout=layout,
        source=source_name(name or Path(path).stem),
        match=match_pattern(path.name),
        placed=tuple(placed),
        unplaced=tuple(unplaced),
        team=team,
        recorded_date=recorded or to_map,
        recorded_date_to_map=to_map,
        wave_column=wave,
    )


def _key(text: str) -> str:
    """A TOML key or string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def _span(columns: Sequence[Column]) -> str:
    first, last = columns[0].label, columns[-1].label
    return _key(first) if len(columns) == 1 else f"{_key(first)} .. {_key(last)}"


def draft_toml(draft: MappingDraft) -> str:
    """The draft as a commented mapping file."""
    tool = draft.layout.export_format
    lines = [
        f"# Draft mapping for {draft.path.name} ({tool.tool}, {tool.name}), written by",
        "# 'resilience map'. Read every CHECK line, then run 'resilience inspect' on the export",
        "# with this mapping to see how it will be read.",
        f"source = {_key(draft.source)}",
        f"match = {_key(draft.match)}  # CHECK: every export of this survey, and only those",
        "",
    ]
    if draft.wave_column:
        lines.append(f"# wave: the column {_key(draft.wave_column)} holds each response's wave.")
    elif draft.recorded_date:
        lines += [
            "# wave: the export has no wave column. Each response is placed in the fieldwork",
            f"# window (waves.csv) holding its recorded date, column {_key(draft.recorded_date)}.",
            "# Or give every file of this survey one wave:",
            '# wave = "YYYY-MM"',
        ]
        if draft.recorded_date_to_map:
            lines += [
                "# The tool's submission time is read as that date (never its time of day):",
                f"recorded_date = {_key(draft.recorded_date_to_map)}",
            ]
    else:
        lines += [
            "# wave: CHECK: the export has neither a wave column nor a recorded date. Until you",
            "# give every file one wave, or take it from the file name with a regular expression",
            "# (its first group), the file is not loaded:",
            '# wave = "YYYY-MM"',
            '# wave_from_file = "_(\\\\d{4}-\\\\d{2})"',
        ]
    lines += ["", "[columns]"]
    for block in draft.placed:
        instrument = block.instrument
        answers = {
            "labels": f"{instrument.name}'s own answer labels",
            "codes": "bare numbers, taken as the instrument's answer codes",
            "recodes": "the tool's own numbers, recoded in [answers] below",
        }[block.answers]
        lines += [
            "",
            f"# {instrument.name} ({len(instrument.items)} items): columns {_span(block.columns)}",
            f"# Answers: {answers}. Sure: {block.confidence}.",
            "# CHECK: the columns hold the items in the instrument's order (item 1 first).",
        ]
        if block.answers == "codes":
            codes = ", ".join(
                f"{option.code} = {option.label}" for option in instrument.items[0].options
            )
            lines += [
                f"# CHECK: in the survey tool, {codes};",
                f"# if not, add an [answers.{instrument.id}] table (export value = code).",
            ]
        lines += [
            f"{_key(column.label)} = {_key(item.id)}"
            for column, item in zip(block.columns, instrument.items, strict=True)
        ]
    lines.append("")
    if draft.team:
        team = draft.team
        if team.confidence == "low":
            why = "its name suggests teams, but no roster was given to check its values"
        else:
            why = f"{team.matched} of its values name roster teams"
            if team.unmatched:
                shown = ", ".join(_key(value) for value in team.unmatched[:5])
                why += f"; CHECK: these name none: {shown} (add them as aliases in the roster)"
        lines += [
            f"# team: column {_key(team.column.label)}: {why}. Sure: {team.confidence}.",
            # Without a roster a name alone is too weak to map on: a person confirms it.
            ("# " if team.confidence == "low" else "") + f'{_key(team.column.label)} = "team"',
        ]
    else:
        lines += [
            "# team: CHECK: no column's values name roster teams. Map the column that holds each",
            '# response\'s team here, as "<column>" = "team".',
        ]
    for block in draft.placed:
        if block.answers != "recodes":
            continue
        options = block.instrument.items[0].options
        lines += [
            "",
            f"# CHECK: the lowest number written ({next(iter(block.recodes()))}) is taken to mean "
            f"{options[0].label!r}, the next {options[1].label!r}, and so on.",
            f"[answers.{block.instrument.id}]",
            *(f"{_key(value)} = {code}" for value, code in block.recodes().items()),
        ]
    if draft.unplaced:
        lines += ["", "# Not placed (not read; a person must decide):"]
        for block in draft.unplaced:
            count = len(block.columns)
            lines.append(
                f"# - {_span(block.columns)} ({count} column{'s' if count > 1 else ''}): "
                f"{block.reason}"
            )
    return "\n".join(lines) + "\n"


def draft_summary(draft: MappingDraft) -> list[str]:
    """One line per finding, for the console."""
    lines = [
        f"{block.instrument.name}: {len(block.columns)} columns from {block.columns[0].label!r} "
        f"(sure: {block.confidence})"
        for block in draft.placed
    ]
    lines.append(
        f"team: {draft.team.column.label!r} (sure: {draft.team.confidence})"
        if draft.team
        else "team: not found (CHECK the draft)"
    )
    lines.append(
        f"wave: column {draft.wave_column!r}"
        if draft.wave_column
        else f"wave: from the fieldwork window holding {draft.recorded_date!r}"
        if draft.recorded_date
        else "wave: not found (CHECK the draft)"
    )
    lines += [f"not placed: {_span(block.columns)}: {block.reason}" for block in draft.unplaced]
    return lines
