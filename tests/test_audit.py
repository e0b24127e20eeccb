"""The audit log's two halves: the server's journal, and the warehouse table each run moves it
into (once, even when a run stops between copying and deleting), with retention on both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from resilience.audit import AuditEvent, AuditJournal, move_journal_into_warehouse, read_audit

NOW = datetime.now(UTC)


def event(username: str, status: int, age: timedelta, event_id: str) -> AuditEvent:
    return AuditEvent(
        occurred_at=NOW - age,
        username=username,
        address="127.0.0.1",
        method="GET",
        path=f"/teams/{event_id}.html",
        status=status,
        outcome="served" if status == 200 else "denied",
        release="r1",
        detail=None,
        event_id=event_id,
    )


def test_each_run_moves_the_journal_into_the_warehouse_once_and_keeps_the_retention(
    tmp_path: Path,
) -> None:
    journal = AuditJournal(tmp_path)
    for row in (
        event("mia", 200, timedelta(hours=2), "a"),
        event("mia", 403, timedelta(hours=1), "b"),
        event("lee", 200, timedelta(days=500), "old"),
    ):
        journal.record(row)
    warehouse = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    assert move_journal_into_warehouse(warehouse, tmp_path, retention_days=400) == 2
    # A run that stopped after copying but before deleting leaves an event in both places.
    journal.record(event("mia", 403, timedelta(hours=1), "b"))
    journal.record(event("ada", 200, timedelta(minutes=1), "c"))
    assert move_journal_into_warehouse(warehouse, tmp_path, retention_days=400) == 2
    logged = warehouse.execute(
        "select event_id, username, status, outcome from audit_log order by occurred_at"
    ).fetchall()
    assert logged == [
        ("a", "mia", 200, "served"),
        ("b", "mia", 403, "denied"),
        ("c", "ada", 200, "served"),
    ]
    assert read_audit(None, tmp_path, since=NOW - timedelta(days=1)) == []

    journal.record(event("mia", 200, timedelta(seconds=1), "d"))
    week = NOW - timedelta(days=7)
    both = read_audit(warehouse, tmp_path, since=week)
    assert [e.event_id for e in both] == ["d", "c", "b", "a"]  # newest first, journal included
    assert [e.event_id for e in read_audit(warehouse, tmp_path, since=week, username="MIA")] == [
        "d",
        "b",
        "a",
    ]
    refused = read_audit(warehouse, tmp_path, since=week, refused_only=True)
    assert [(e.event_id, e.path, e.status) for e in refused] == [("b", "/teams/b.html", 403)]
    assert read_audit(warehouse, tmp_path, since=week, limit=1)[0].occurred_at == NOW - timedelta(
        seconds=1
    )
    journal.close()
    warehouse.close()
