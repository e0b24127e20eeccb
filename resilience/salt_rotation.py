"""Changing the salt: `rotate_salt` re-keys every stored response from the salt in use to a new
one.

A response key is a salted hash of the source response id; the warehouse holds keys, never ids.
So a new key can only be made from the export that holds the id: the rotation reads every
export in the exports folder twice, with the old salt and with the new one, pairs the two keys of
each row, and swaps every stored key for its pair in one transaction.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb

from resilience.formats import UnreadableExport, load_mappings
from resilience.ingest import (
    archive_export,
    file_sha256,
    list_exports,
    plan_export,
    read_archive_record,
)
from resilience.instruments import Registry
from resilience.salt import (
    bound_salt,
    pending_salt_file,
    record_fingerprint,
    salt_fingerprint,
)
from resilience.settings import Settings, UsageError, display_path, write_private
from resilience.sqlfiles import read_sql, render_sql, set_variables
from resilience.status import hold_run_lock
from resilience.warehouse import transaction


@dataclass(frozen=True)
class Rotation:
    """What `rotate_salt` did: responses and archives re-keyed, exports read, and where the new
    salt is (the state folder's salt file, or the file given for a configured salt)."""

    responses: int
    archives: int
    exports_read: int
    new_salt_file: Path


def rotate_salt(settings: Settings, registry: Registry, new_salt_file: Path | None) -> Rotation:
    """Re-key every stored response and archive from the bound salt to a new one, in one
    transaction, holding the run lock.

    The new salt is read from `new_salt_file` when given (required when the salt is configured
    rather than kept in the state folder: the operator puts it into the secret store); otherwise
    it is made here and replaces the state folder's salt once the warehouse is re-keyed. Raises
    UsageError, changing nothing, when a stored response is in no export of the exports folder.
    """
    if settings.privacy.salt is not None and new_salt_file is None:
        raise UsageError(
            "the salt is configured (privacy.salt): give the new one with --new-salt-file, then "
            "put it where the configured one is"
        )
    if not settings.warehouse_path.exists():
        raise UsageError(f"no warehouse to re-key: {display_path(settings.warehouse_path)}")
    if new_salt_file is not None and not new_salt_file.is_file():
        raise UsageError(f"new salt file not found: {display_path(new_salt_file)}")
    new_salt = (
        new_salt_file.read_text().strip() if new_salt_file is not None else secrets.token_hex(32)
    )
    if not new_salt:
        raise UsageError(f"the new salt file is empty: {display_path(new_salt_file or '')}")
    with (
        hold_run_lock(settings.run_lock_path, "rotate-salt"),
        duckdb.connect(str(settings.warehouse_path)) as con,
        tempfile.TemporaryDirectory(dir=settings.paths.out) as scratch,
    ):
        old_salt = bound_salt(con, settings)
        if salt_fingerprint(new_salt) == salt_fingerprint(old_salt):
            raise UsageError("the new salt is the salt in use")
        exports_read = _pair_keys(con, settings, registry, old_salt, new_salt, Path(scratch))
        [(unmatched,)] = con.execute(read_sql("salt/unmatched_responses.sql")).fetchall()
        if unmatched:
            raise UsageError(
                f"{unmatched} stored responses are in no export of "
                f"{display_path(settings.paths.exports)}: put the original exports back (the "
                "survey tool can export them again), then rotate"
            )
        archives = _rekeyed_archives(con, settings, new_salt, Path(scratch))
        pending = pending_salt_file(settings)
        if new_salt_file is None:
            pending.unlink(missing_ok=True)
            write_private(pending, new_salt)
        with transaction(con):
            con.execute("create temp table rekeyed as " + read_sql("salt/rekeyed_responses.sql"))
            con.execute("delete from raw_responses")
            con.execute("insert into raw_responses select * from rekeyed")
            [(responses,)] = con.execute("select count(*) from rekeyed").fetchall()
            con.execute("delete from ingest_batch")
            # The models hold the old keys: the next run rebuilds them whole.
            con.execute("delete from transform_state")
            record_fingerprint(con, salt_fingerprint(new_salt))
            for rekeyed, archive in archives:
                con.execute(
                    "update raw_files set archive_sha256 = ? where file_sha256 = ?",
                    [file_sha256(rekeyed), archive.stem],
                )
        for rekeyed, archive in archives:
            os.replace(rekeyed, archive)
    if new_salt_file is None:
        os.replace(pending, settings.salt_file)
    return Rotation(
        responses=responses,
        archives=len(archives),
        exports_read=exports_read,
        new_salt_file=new_salt_file or settings.salt_file,
    )


def _pair_keys(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    registry: Registry,
    old_salt: str,
    new_salt: str,
    scratch: Path,
) -> int:
    """Fill the temporary table key_pairs (old_key, new_key) from every readable export of the
    exports folder, each archived twice into `scratch`; return how many exports were read."""
    con.execute("create or replace temp table key_pairs (old_key varchar, new_key varchar)")
    mappings = load_mappings(settings.paths.mappings)
    read = 0
    for number, path in enumerate(list_exports(settings.paths.exports)):
        try:
            plan = plan_export(path, mappings, registry)
        except UnreadableExport:
            continue  # no responses can come from a file that cannot be read
        if plan.blocking_problem:
            continue
        archives = {}
        for name, salt in (("old", old_salt), ("new", new_salt)):
            archives[name] = scratch / f"{number}-{name}.parquet"
            with con.cursor() as archiver:
                set_variables(archiver, {"response_key_salt": salt})
                try:
                    archive_export(archiver, plan, archives[name])
                except UnreadableExport:
                    break
        else:
            set_variables(
                con, {"old_archive": str(archives["old"]), "new_archive": str(archives["new"])}
            )
            con.execute(
                "insert into key_pairs select pairs.* from ("
                + read_sql("salt/key_pairs.sql")
                + ") as pairs anti join key_pairs using (old_key)"
            )
            read += 1
    return read


def _rekeyed_archives(
    con: duckdb.DuckDBPyConnection, settings: Settings, new_salt: str, scratch: Path
) -> list[tuple[Path, Path]]:
    """Every archived export written again with the new keys into `scratch`: (new copy,
    archive) pairs, to move into place once the warehouse is re-keyed."""
    set_variables(con, {"new_salt": new_salt})
    new_fingerprint = salt_fingerprint(new_salt)
    rewritten = []
    for archive in sorted(settings.archive_dir.glob("*.parquet")):
        rekeyed = scratch / archive.name
        record = read_archive_record(con, archive)
        con.execute(
            render_sql(
                "salt/rekeyed_archive.sql.j2",
                archive_path=str(archive),
                rekeyed_path=str(rekeyed),
                record=replace(record, salt_fingerprint=new_fingerprint).as_metadata()
                if record
                else None,
            )
        )
        rewritten.append((rekeyed, archive))
    set_variables(con, {"new_salt": None})
    return rewritten
