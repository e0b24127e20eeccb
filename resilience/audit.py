"""The audit log of `resilience serve`: every page served and every request refused.

DuckDB lets one process at a time open a file for writing, and a nightly run holds the warehouse
read-write for minutes; a server writing there would stop a run from starting, or wait on one.
So the server appends each event to a journal of its own (SQLite in WAL mode, in the private
state folder: many writers, readers never blocked), and each run, which holds the warehouse
anyway, moves the journal's rows into the warehouse table `audit_log` and drops those past the
retention period, from both. `resilience audit` reads the two together, so an event is visible
from the moment it happens, and never blocks a run (it reads the warehouse only when no run holds
it, as `resilience status` does).
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from resilience.sqlfiles import read_sql

JOURNAL_FILE = "audit.sqlite"
PATH_LIMIT = 512
COLUMNS = (
    "event_id",
    "occurred_at",
    "username",
    "address",
    "method",
    "path",
    "status",
    "outcome",
    "release",
    "detail",
)


@dataclass(frozen=True)
class AuditEvent:
    occurred_at: datetime
    username: str | None
    address: str | None
    method: str
    path: str
    status: int
    outcome: str
    release: str | None
    detail: str | None
    event_id: str = ""


def _connect(journal: Path) -> sqlite3.Connection:
    journal.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    journal.touch(mode=0o600, exist_ok=True)
    con = sqlite3.connect(journal, check_same_thread=False, timeout=30, isolation_level=None)
    con.execute("pragma journal_mode = wal")
    con.execute("pragma synchronous = normal")
    con.executescript(read_sql("serve/audit_journal.sql"))
    return con


class AuditJournal:
    """The server's side: append events, from any thread."""

    def __init__(self, state_dir: Path) -> None:
        self._con = _connect(state_dir / JOURNAL_FILE)
        self._lock = threading.Lock()

    def record(self, event: AuditEvent) -> None:
        row = (
            event.event_id or uuid.uuid4().hex,
            event.occurred_at.astimezone(UTC)
            .replace(tzinfo=None)
            .isoformat(timespec="microseconds"),
            event.username,
            event.address,
            event.method[:16],
            event.path[:PATH_LIMIT],
            event.status,
            event.outcome,
            event.release,
            event.detail,
        )
        with self._lock:
            self._con.execute(
                f"insert into audit_journal values ({', '.join('?' * len(COLUMNS))})", row
            )

    def prune(self, retention_days: int) -> int:
        """Drop the journal's events older than the retention period; how many went."""
        with self._lock:
            return self._con.execute(
                "delete from audit_journal where occurred_at < ?", (_cutoff(retention_days),)
            ).rowcount

    def close(self) -> None:
        self._con.close()


def _cutoff(retention_days: int) -> str:
    oldest = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=retention_days)
    return oldest.isoformat(timespec="microseconds")


def move_journal_into_warehouse(
    con: duckdb.DuckDBPyConnection, state_dir: Path, retention_days: int
) -> int:
    """Copy the journal's events into the warehouse's `audit_log` (an event already there is
    not copied again, should a run stop between the two steps), then delete them from the
    journal, and drop events past `retention_days` from both. Returns how many events moved."""
    journal_path = state_dir / JOURNAL_FILE
    con.execute(read_sql("raw/audit_log.sql"))
    con.execute("delete from audit_log where occurred_at < ?::timestamp", [_cutoff(retention_days)])
    if not journal_path.exists():
        return 0
    journal = _connect(journal_path)
    try:
        journal.execute(
            "delete from audit_journal where occurred_at < ?", (_cutoff(retention_days),)
        )
        rows = journal.execute(
            f"select {', '.join(COLUMNS)} from audit_journal order by occurred_at"
        ).fetchall()
        if not rows:
            return 0
        con.execute("create or replace temp table audit_moved as select * from audit_log limit 0")
        con.executemany(f"insert into audit_moved values ({', '.join('?' * len(COLUMNS))})", rows)
        con.execute(read_sql("audit/insert_moved.sql"))
        con.execute("drop table audit_moved")
        journal.executemany(
            "delete from audit_journal where event_id = ?", [(row[0],) for row in rows]
        )
        return len(rows)
    finally:
        journal.close()


def read_audit(
    warehouse: duckdb.DuckDBPyConnection | None,
    state_dir: Path,
    *,
    since: datetime,
    username: str | None = None,
    refused_only: bool = False,
    limit: int = 100,
) -> list[AuditEvent]:
    """The newest `limit` events since `since`, from the warehouse (when a connection is given)
    and the journal together, newest first."""
    conditions = ["occurred_at >= ?"]
    parameters: list[object] = [since.astimezone(UTC).replace(tzinfo=None).isoformat()]
    if username is not None:
        conditions.append("username = ?")
        parameters.append(username.casefold())
    if refused_only:
        conditions.append("status >= 400")
    query = (
        f"select {', '.join(COLUMNS)} from {{table}} where {' and '.join(conditions)} "
        f"order by occurred_at desc limit {int(limit)}"
    )
    rows: list[tuple] = []
    journal_path = state_dir / JOURNAL_FILE
    if journal_path.exists():
        journal = sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True)
        try:
            rows += journal.execute(query.format(table="audit_journal"), parameters).fetchall()
        finally:
            journal.close()
    if warehouse is not None and warehouse.execute(
        "select count(*) from duckdb_tables() where table_name = 'audit_log'"
    ).fetchall() == [(1,)]:
        warehouse_query = query.format(table="audit_log").replace(
            "occurred_at >= ?", "occurred_at >= ?::timestamp"
        )
        rows += [
            (row[0], row[1].isoformat(timespec="microseconds"), *row[2:])
            for row in warehouse.execute(warehouse_query, parameters).fetchall()
        ]
    events = {
        row[0]: AuditEvent(
            event_id=row[0],
            occurred_at=datetime.fromisoformat(row[1]).replace(tzinfo=UTC),
            **{name: value for name, value in zip(COLUMNS[2:], row[2:], strict=True)},
        )
        for row in rows
    }
    return sorted(events.values(), key=lambda event: event.occurred_at, reverse=True)[:limit]
