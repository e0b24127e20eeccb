"""Survey export layouts: how to recognise a file and what each metadata column means.

Every column of an export gets a role. Only `item`, `team`, `wave` and the kept metadata roles
ever leave the reader; `identifying`, `dropped` and `unmapped` columns are never stored.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Role = Literal[
    "response_id",
    "status",
    "progress",
    "duration_seconds",
    "finished",
    "recorded_at",
    "team",
    "wave",
    "item",
    "identifying",
    "dropped",
    "unmapped",
]
KEPT_METADATA_ROLES: tuple[Role, ...] = (
    "status",
    "progress",
    "duration_seconds",
    "finished",
    "recorded_at",
)

QUALTRICS_METADATA: dict[str, Role] = {
    "StartDate": "dropped",
    "EndDate": "dropped",
    "Status": "status",
    "IPAddress": "identifying",
    "Progress": "progress",
    "Duration (in seconds)": "duration_seconds",
    "Finished": "finished",
    "RecordedDate": "recorded_at",
    "ResponseId": "response_id",
    "RecipientLastName": "identifying",
    "RecipientFirstName": "identifying",
    "RecipientEmail": "identifying",
    "ExternalReference": "identifying",
    "LocationLatitude": "identifying",
    "LocationLongitude": "identifying",
    "DistributionChannel": "dropped",
    "UserLanguage": "dropped",
}

# Exports whose columns already carry canonical ids may also carry these.
PLAIN_METADATA: dict[str, Role] = {
    "response_id": "response_id",
    "recorded_date": "recorded_at",
    "status": "status",
    "progress": "progress",
    "duration_seconds": "duration_seconds",
    "finished": "finished",
}

# Qualtrics response types that are not real responses: previews, tests and spam.
DROPPED_STATUSES = ("1", "17", "2", "8", "9", "survey preview", "survey test", "spam")

# Column names that identify a person in any layout, whatever tool wrote them.
IDENTIFYING_NAME_PATTERN = re.compile(
    r"(^|[^a-z])(ip ?address|ipaddr|e-?mail|first ?name|last ?name|full ?name|name|latitude|"
    r"longitude|token|refurl|external ?(data ?)?reference|phone|telephone|address)([^a-z]|$)",
    re.IGNORECASE,
)

SNIFF_BYTES = 1 << 20


class UnreadableExport(ValueError):
    """The file cannot be read as a survey export; the message says why."""


@dataclass(frozen=True)
class Layout:
    format: str
    header_rows: int
    encoding: str
    column_ids: tuple[str, ...]


@dataclass(frozen=True)
class SourceMapping:
    """Export columns -> canonical ids for one survey source (a TOML file in `mappings/`)."""

    source: str
    match: str
    columns: dict[str, str] = field(default_factory=dict)

    def applies_to(self, path: Path) -> bool:
        return fnmatch.fnmatch(path.name, self.match)


def load_mappings(directory: Path) -> list[SourceMapping]:
    if not directory.is_dir():
        return []
    mappings = []
    for path in sorted(directory.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        mappings.append(
            SourceMapping(
                source=data["source"], match=data["match"], columns=dict(data.get("columns", {}))
            )
        )
    return mappings


def mapping_for(path: Path, mappings: list[SourceMapping]) -> SourceMapping | None:
    return next((mapping for mapping in mappings if mapping.applies_to(path)), None)


def _decode_head(head: bytes, path: Path) -> tuple[str, str]:
    if not head.strip():
        raise UnreadableExport(f"{path.name}: the file is empty")
    if b"\x00" in head:
        raise UnreadableExport(f"{path.name}: binary content, not a CSV export")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A cut in the middle of a multi-byte character at the end of the sniffed block is fine.
        if error.start < len(head) - 4:
            raise UnreadableExport(
                f"{path.name}: not UTF-8 (byte {error.start}); re-export as UTF-8 CSV"
            ) from error
        text = head[: error.start].decode("utf-8")
    encoding = "utf-8"
    if text.startswith("\ufeff"):
        text, encoding = text[1:], "utf-8-sig"
    return text, encoding


def detect_layout(path: Path) -> Layout:
    """Recognise the export layout from the first records of the file."""
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    text, encoding = _decode_head(head, path)
    records = []
    for record in csv.reader(io.StringIO(text)):
        records.append(record)
        if len(records) == 4:
            break
    if not records or not any(cell.strip() for cell in records[0]):
        raise UnreadableExport(f"{path.name}: no header row")
    column_ids = tuple(cell.strip() for cell in records[0])
    third = records[2] if len(records) > 2 else []
    if third and third[0].lstrip().startswith('{"ImportId"'):
        return Layout("qualtrics_modern", 3, encoding, column_ids)
    return Layout("plain_csv", 1, encoding, column_ids)


def column_role(
    column_id: str, layout: Layout, mapping: SourceMapping | None, item_ids: frozenset[str]
) -> tuple[Role, str | None]:
    """The role of one export column and, for items, team and wave, its canonical id."""
    if layout.format.startswith("qualtrics") and column_id in QUALTRICS_METADATA:
        return QUALTRICS_METADATA[column_id], None
    if layout.format == "plain_csv" and column_id in PLAIN_METADATA:
        return PLAIN_METADATA[column_id], None
    target = mapping.columns.get(column_id) if mapping else column_id
    if target in item_ids:
        return "item", target
    if target in ("team", "wave"):
        return target, target
    if IDENTIFYING_NAME_PATTERN.search(column_id):
        return "identifying", None
    return "unmapped", None
