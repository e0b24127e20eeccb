"""A small journal of the run in progress, beside the warehouse, so that a failure is recorded
even when the output volume is full: the journal has a fixed size, written whole by the first run
while there is room and only ever overwritten in place after that, which needs no new space. A
failure that cannot be recorded in the warehouse goes there, and the next run records it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# Room for a run id, two times and a one-line reason; a longer reason is cut to fit.
JOURNAL_BYTES = 4096
REASON_CHARACTERS = 3000


@dataclass(frozen=True)
class JournaledFailure:
    run_id: str
    started_at: datetime
    finished_at: datetime
    message: str


def start_journal(path: Path, run_id: str, started_at: datetime) -> None:
    """Write the journal of run `run_id` (UTC `started_at`), whole, before it is recorded."""
    _write(path, {"run_id": run_id, "started_at": started_at.isoformat(), "message": None})


def journal_failure(path: Path, run_id: str, started_at: datetime, message: str) -> None:
    """Overwrite the journal in place with the failure of run `run_id`. Raises OSError."""
    _write(
        path,
        {
            "run_id": run_id,
            "started_at": started_at.isoformat(),
            "finished_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
            "message": message[:REASON_CHARACTERS],
        },
    )


def end_journal(path: Path) -> None:
    """The run's outcome is in the warehouse: the journal is emptied, not removed, so that the
    next run finds its space taken already, even on a full volume."""
    _write(path, {"run_id": None, "message": None})


def journaled_failure(path: Path) -> JournaledFailure | None:
    """The failure a run left in the journal because it could not record it, if any."""
    try:
        record = json.loads(path.read_bytes().rstrip(b" "))
    except (OSError, ValueError):
        return None  # no journal, or one cut short by a crash: the run stays 'interrupted'
    if not isinstance(record, dict) or not record.get("message"):
        return None
    return JournaledFailure(
        run_id=str(record["run_id"]),
        started_at=datetime.fromisoformat(record["started_at"]),
        finished_at=datetime.fromisoformat(record["finished_at"]),
        message=str(record["message"]),
    )


def _write(path: Path, record: dict[str, object]) -> None:
    """Write `record` over the journal's first JOURNAL_BYTES. Raises OSError naming the path."""
    content = json.dumps(record).encode().ljust(JOURNAL_BYTES)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.pwrite(descriptor, content, 0)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(path)) from error


__all__ = [
    "JournaledFailure",
    "end_journal",
    "journal_failure",
    "journaled_failure",
    "start_journal",
]
