"""Reading export files up to the point where DuckDB takes over: encodings, CSV dialects, workbooks.

DuckDB's CSV reader parses UTF-8 and UTF-16 LE files itself. A file in an encoding DuckDB cannot
read (Windows-1252, UTF-16 without a byte-order mark or big-endian) is transcoded, streaming, to a
UTF-8 file in a private temporary folder (mode 0700) and the folder is deleted as soon as DuckDB
has read it. In that copy every column is blank but the kept ones and the response id, which DuckDB
turns into a salted hash as it reads. Workbooks are read with pandas and python-calamine, and DuckDB
sees only the same columns of them. No identifying value is written anywhere to stay.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from resilience.formats import (
    ColumnHeader,
    ExportFormat,
    RedcapDictionary,
    SourceMapping,
    UnreadableExport,
    collapse_whitespace,
    identify_format,
    redcap_dictionary_from_records,
    unique_column_ids,
)

SNIFF_BYTES = 1 << 20
HEAD_RECORDS = 5
MAX_RECORD_BYTES = 10_000_000
DELIMITERS = (",", "\t", ";")
WORKBOOK_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")
BINARY_SIGNATURES = {
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
}
# The first record and the line break that ends it; quoted cells may hold line breaks.
FIRST_RECORD = re.compile(r'(?:"[^"]*"|[^"\r\n])*(\r\n|\r|\n)')
UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)

# The sniffer and the transcoder must accept cells as long as DuckDB does (the default is 128 KiB).
csv.field_size_limit(MAX_RECORD_BYTES)


class UnreadableRows(UnreadableExport):
    """Reading the rows failed part-way; the message says where and why but not which file."""


@dataclass(frozen=True)
class TextEncoding:
    label: str
    codec: str
    """Python's name for it."""
    duckdb: str | None
    """DuckDB's name for it, or None when DuckDB cannot read it and the file is transcoded."""


UTF8 = TextEncoding("utf-8", "utf-8", "utf-8")
UTF8_BOM = TextEncoding("utf-8 with BOM", "utf-8-sig", "utf-8")
UTF16_LE_BOM = TextEncoding("utf-16 LE with BOM", "utf-16", "utf-16")
UTF16_BE_BOM = TextEncoding("utf-16 BE with BOM", "utf-16", None)
UTF16_LE = TextEncoding("utf-16 LE", "utf-16-le", None)
UTF16_BE = TextEncoding("utf-16 BE", "utf-16-be", None)
CP1252 = TextEncoding("windows-1252", "cp1252", None)


@dataclass(frozen=True)
class Layout:
    """How one export is written: its format, columns, and how its text or sheet is read."""

    export_format: ExportFormat
    columns: tuple[ColumnHeader, ...]
    encoding: TextEncoding | None
    """None for a workbook."""
    delimiter: str
    new_line: str
    sheet: str | None
    """The sheet that holds the responses, for a workbook."""
    has_data: bool
    """Whether any record follows the header rows."""

    @property
    def format(self) -> str:
        return self.export_format.name

    @property
    def header_rows(self) -> int:
        return self.export_format.header_rows

    @property
    def column_ids(self) -> tuple[str, ...]:
        return tuple(column.column_id for column in self.columns)

    @property
    def encoding_label(self) -> str:
        return self.encoding.label if self.encoding else "xlsx workbook"


@dataclass(frozen=True)
class _Head:
    records: list[list[str]]
    complete: bool
    """Whether `records` hold the whole file."""
    encoding: TextEncoding | None
    delimiter: str = ","
    new_line: str = "\n"
    sheet: str | None = None


def _text(value: object) -> str:
    return "" if pd.isna(value) else str(value)


def detect_encoding(name: str, head: bytes, complete: bool) -> TextEncoding:
    """The text encoding of a file that starts with `head`. Raises UnreadableExport."""
    for bom, encoding in (
        (codecs.BOM_UTF8, UTF8_BOM),
        (codecs.BOM_UTF16_LE, UTF16_LE_BOM),
        (codecs.BOM_UTF16_BE, UTF16_BE_BOM),
    ):
        if head.startswith(bom):
            return encoding
    for signature, kind in BINARY_SIGNATURES.items():
        if head.startswith(signature):
            raise UnreadableExport(f"{name}: {kind}, not a survey export")
    # UTF-16 without a byte-order mark: mostly ASCII text leaves every other byte zero.
    sample = head[:4096]
    half = len(sample) // 2
    even_zeros, odd_zeros = sample[0::2].count(0), sample[1::2].count(0)
    if half >= 2 and odd_zeros > 0.4 * half and even_zeros < 0.05 * half:
        return UTF16_LE
    if half >= 2 and even_zeros > 0.4 * half and odd_zeros < 0.05 * half:
        return UTF16_BE
    if b"\x00" in head:
        raise UnreadableExport(f"{name}: binary content, not a survey export")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
        return UTF8
    except UnicodeDecodeError as error:
        line = head.count(b"\n", 0, error.start) + 1
        if UTF8_MULTIBYTE.search(head):
            raise UnreadableExport(
                f"{name}: mixed text encodings: UTF-8 with bytes of another encoding "
                f"(first on line {line}); re-export the file as UTF-8"
            ) from error
    try:
        head.decode(CP1252.codec)
    except UnicodeDecodeError as error:
        line = head.count(b"\n", 0, error.start) + 1
        raise UnreadableExport(
            f"{name}: not UTF-8, UTF-16 or Windows-1252 text (line {line})"
        ) from error
    return CP1252


def _delimiter(first_record: str) -> str:
    unquoted = re.sub(r'"[^"]*"', "", first_record)
    counts = {delimiter: unquoted.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=counts.__getitem__)
    return best if counts[best] else ","


def _text_head(path: Path, head: bytes, complete: bool) -> _Head:
    encoding = detect_encoding(path.name, head, complete)
    try:
        text = codecs.getincrementaldecoder(encoding.codec)().decode(head, final=complete)
    except UnicodeDecodeError as error:
        raise UnreadableExport(f"{path.name}: not valid {encoding.label} text") from error
    if not text.strip():
        raise UnreadableExport(f"{path.name}: the file is empty")
    first = FIRST_RECORD.match(text)
    if first is None and not complete:
        raise UnreadableExport(
            f"{path.name}: no line break in the first {SNIFF_BYTES >> 20} MiB, not a survey export"
        )
    delimiter = _delimiter(first.group(0) if first else text)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as error:
        raise UnreadableExport(f"{path.name}: not a CSV file ({error})") from error
    if not complete:
        records.pop()  # the sniffed block may end inside its last record
    return _Head(records, complete, encoding, delimiter, first.group(1) if first else "\n")


def _workbook_head(path: Path) -> _Head:
    try:
        with pd.ExcelFile(path, engine="calamine") as book:
            heads = {
                sheet: book.parse(sheet, header=None, nrows=HEAD_RECORDS, dtype=str)
                for sheet in book.sheet_names
            }
    except Exception as error:  # calamine's errors share no base class narrower than Exception
        raise UnreadableExport(
            f"{path.name}: not a readable xlsx workbook ({type(error).__name__})"
        ) from error
    filled = [sheet for sheet, frame in heads.items() if frame.notna().to_numpy().any()]
    if not filled:
        raise UnreadableExport(f"{path.name}: the workbook is empty")
    if len(filled) > 1:
        raise UnreadableExport(
            f"{path.name}: {len(filled)} sheets hold data ({', '.join(map(repr, filled))}); "
            "keep the responses alone on one sheet"
        )
    frame = heads[filled[0]]
    records = [[_text(value) for value in row] for row in frame.itertuples(index=False)]
    return _Head(records, len(frame) < HEAD_RECORDS, None, sheet=filled[0])


def _read_head(path: Path) -> _Head:
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
        complete = not handle.read(1)
    if not head.strip():
        raise UnreadableExport(f"{path.name}: the file is empty")
    if head.startswith(WORKBOOK_SIGNATURES):
        return _workbook_head(path)
    return _text_head(path, head, complete)


def detect_layout(path: Path) -> Layout:
    """Recognise the export's format from its first records. Raises UnreadableExport."""
    head = _read_head(path)
    if not head.records or not any(cell.strip() for cell in head.records[0]):
        raise UnreadableExport(f"{path.name}: no header row")
    export_format = identify_format(head.records[:HEAD_RECORDS])
    header = head.records[: export_format.header_rows]
    names = export_format.column_names(header)
    columns = tuple(
        ColumnHeader(
            position=position,
            column_id=column_id,
            name=collapse_whitespace(name),
            cells=tuple(record[position] if position < len(record) else "" for record in header),
        )
        for position, (name, column_id) in enumerate(
            zip(names, unique_column_ids(names), strict=True)
        )
    )
    return Layout(
        export_format=export_format,
        columns=columns,
        encoding=head.encoding,
        delimiter=head.delimiter,
        new_line=head.new_line,
        sheet=head.sheet,
        has_data=len(head.records) > export_format.header_rows or not head.complete,
    )


def read_redcap_dictionary(path: Path) -> RedcapDictionary:
    """A REDCap data dictionary (codebook) CSV. Raises UnreadableExport."""
    data = path.read_bytes()
    head = _text_head(path, data, complete=True)
    if identify_format(head.records).name != "redcap_dictionary":
        raise UnreadableExport(f"{path.name}: not a REDCap data dictionary")
    return redcap_dictionary_from_records(path, head.records)


def is_codebook(path: Path) -> bool:
    """Whether the file is a codebook that sits beside exports (a REDCap data dictionary)."""
    try:
        return not detect_layout(path).export_format.is_export
    except UnreadableExport:
        return False


def find_redcap_dictionary(
    path: Path, layout: Layout, mapping: SourceMapping | None
) -> RedcapDictionary | None:
    """The mapping's dictionary, else a dictionary beside the export that defines its fields."""
    if mapping and mapping.dictionary:
        return read_redcap_dictionary(mapping.dictionary)
    fields = [
        column.name
        for column in layout.columns[1:]
        if column.name and layout.export_format.metadata_role(column.name) is None
    ]
    for sibling in sorted(path.parent.glob("*.csv")):
        if sibling.resolve() == path.resolve() or not is_codebook(sibling):
            continue
        dictionary = read_redcap_dictionary(sibling)
        if all(dictionary.field_for(name) for name in fields):
            return dictionary
    return None


@dataclass(frozen=True)
class ExportRows:
    """Where DuckDB reads an export's data rows: a CSV file it parses, or a registered frame."""

    csv_path: Path | None = None
    encoding: str = "utf-8"
    delimiter: str = ","
    new_line: str = "\n"
    frame_name: str | None = None

    @property
    def new_line_option(self) -> str:
        """The line break as DuckDB's `new_line` option spells it."""
        return self.new_line.replace("\r", "\\r").replace("\n", "\\n")


SHEET_VIEW = "export_sheet_rows"


def _transcode(
    path: Path, encoding: TextEncoding, delimiter: str, keep: frozenset[int], target: Path
) -> None:
    """Copy the export to `target` as UTF-8, every column outside `keep` blank."""
    with (
        path.open(encoding=encoding.codec, newline="") as source,
        target.open("w", encoding="utf-8", newline="") as out,
    ):
        reader = csv.reader(source, delimiter=delimiter, strict=True)
        writer = csv.writer(out, lineterminator="\n")
        try:
            for record in reader:
                writer.writerow(
                    [cell if position in keep else "" for position, cell in enumerate(record)]
                )
        except UnicodeDecodeError as error:
            raise UnreadableRows(
                f"line {reader.line_num + 1}: bytes that are not {encoding.label} "
                "(mixed text encodings?)"
            ) from error
        except csv.Error as error:
            raise UnreadableRows(f"line {reader.line_num}: broken CSV quoting ({error})") from error


def _sheet_rows(path: Path, layout: Layout, keep: Sequence[int]) -> pd.DataFrame:
    """The data rows of the workbook's sheet: only the kept columns, numbered from 1."""
    sheet = pd.read_excel(path, sheet_name=layout.sheet, header=None, dtype=str, engine="calamine")
    rows = sheet.iloc[layout.header_rows :].reindex(columns=range(len(layout.columns)))
    kept = rows[list(keep)].astype("string")
    kept.columns = [f"c{position}" for position in keep]
    kept.insert(0, "ordinality", range(1, len(kept) + 1))
    return kept


@contextmanager
def export_rows(
    con: duckdb.DuckDBPyConnection, path: Path, layout: Layout, keep: Sequence[int]
) -> Iterator[ExportRows]:
    """Make the export's data rows readable by DuckDB on `con` for the duration of the block.

    Only the columns at the `keep` positions carry values beyond the file itself.
    """
    if layout.encoding is None:
        con.register(SHEET_VIEW, _sheet_rows(path, layout, keep))
        try:
            yield ExportRows(frame_name=SHEET_VIEW)
        finally:
            con.unregister(SHEET_VIEW)
    elif layout.encoding.duckdb:
        yield ExportRows(path, layout.encoding.duckdb, layout.delimiter, layout.new_line)
    else:
        with tempfile.TemporaryDirectory(prefix="resilience-") as scratch:
            target = Path(scratch) / "export.csv"
            _transcode(path, layout.encoding, layout.delimiter, frozenset(keep), target)
            yield ExportRows(target)


# DuckDB's CSV errors quote the offending line; only these explanations are passed on.
READ_ERRORS: tuple[tuple[str, str], ...] = (
    (
        r"Expected Number of Columns: (?P<expected>\d+) Found: (?P<found>\d+)",
        "{found} cell(s) where the header has {expected}",
    ),
    (r"unterminated quote", "a quoted cell is never closed"),
    (r"Invalid unicode|not utf-8 encoded", "bytes that are not UTF-8 (mixed text encodings?)"),
    (r"Maximum line size of (?P<limit>\d+) bytes", "a record longer than {limit} bytes"),
    (r"state machine reached an invalid state", "mixed line breaks or broken quoting"),
)


def describe_read_error(error: duckdb.Error, header_rows: int) -> str:
    """Where and why DuckDB could not read an export, without quoting any of its content."""
    text = str(error)
    line = re.search(r"CSV Error on Line: (\d+)", text)
    where = ""
    if line:
        record = int(line.group(1))
        data_row = f"data row {record - header_rows}, " if record > header_rows else ""
        where = f"{data_row}record {record}: "
    for pattern, explanation in READ_ERRORS:
        found = re.search(pattern, text)
        if found:
            reason = explanation.format(**found.groupdict())
            if found.groupdict().get("found") == "1":
                reason += " (wrong delimiter?)"
            return where + reason
    return where + (f"could not be read ({type(error).__name__})" if line else text.splitlines()[0])


def read_data_rows(path: Path, layout: Layout, limit: int) -> list[list[str]]:
    """The first `limit` data rows of an export as text cells, for proposing a mapping (DuckDB
    reads the file in a run). Raises UnreadableExport."""
    if layout.encoding is None:
        sheet = pd.read_excel(
            path, sheet_name=layout.sheet, header=None, dtype=str, engine="calamine"
        )
        rows = sheet.iloc[layout.header_rows : layout.header_rows + limit]
        return [[_text(value) for value in row] for row in rows.itertuples(index=False)]
    try:
        with path.open(encoding=layout.encoding.codec, newline="") as handle:
            reader = csv.reader(handle, delimiter=layout.delimiter)
            records = []
            for record in reader:
                if reader.line_num > 0 and len(records) >= limit + layout.header_rows:
                    break
                records.append(record)
    except (UnicodeDecodeError, csv.Error) as error:
        raise UnreadableExport(f"{path.name}: cannot be read ({error})") from error
    return [record for record in records[layout.header_rows :] if any(c.strip() for c in record)]
