"""The salt bound to the warehouse: the warehouse keeps a fingerprint of the salt that keyed its
responses, and a run with another salt, or none, is refused (`resilience/salt_rotation.py` changes
the salt). Light on imports: `resilience run` checks the salt before it starts anything."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

from resilience.settings import Settings, UsageError, display_path
from resilience.status import shared_run_lock

# Slow on purpose: the fingerprint of a short configured salt must not be cheap to guess at.
FINGERPRINT_ITERATIONS = 200_000
FINGERPRINT_LABEL = b"staff-resilience response-key salt fingerprint"
# How much of a fingerprint a message shows: enough to tell two salts apart.
SHOWN_FINGERPRINT = 12


class SaltMismatch(UsageError):
    """The salt of this run is not the one that keyed the warehouse's responses: no run starts."""


def salt_fingerprint(salt: str) -> str:
    """A one-way fingerprint of `salt`, safe to keep beside the keys it made."""
    return hashlib.pbkdf2_hmac(
        "sha256", salt.encode(), FINGERPRINT_LABEL, FINGERPRINT_ITERATIONS
    ).hex()


def recorded_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    """The fingerprint of the salt the warehouse on `con` is bound to, if any."""
    recorded = con.execute("select fingerprint from salt_fingerprint").fetchall()
    return recorded[0][0] if recorded else None


def record_fingerprint(con: duckdb.DuckDBPyConnection, fingerprint: str) -> None:
    con.execute("delete from salt_fingerprint")
    con.execute(
        "insert into salt_fingerprint values (?, current_timestamp::timestamp)", [fingerprint]
    )


def pending_salt_file(settings: Settings) -> Path:
    """Where `rotate_salt` keeps the new salt until the warehouse is re-keyed with it."""
    return settings.salt_file.with_name(settings.salt_file.name + ".new")


def how_to_restore(settings: Settings, fingerprint: str) -> str:
    """How to put back the salt with `fingerprint`, wherever this site keeps its salt."""
    pending = pending_salt_file(settings)
    if pending.exists() and salt_fingerprint(pending.read_text().strip()) == fingerprint:
        return (
            f"a salt rotation ended before it replaced the salt: move {display_path(pending)} "
            f"to {display_path(settings.salt_file)}"
        )
    where = (
        "the secret store (privacy.salt, RESILIENCE_PRIVACY__SALT)"
        if settings.privacy.salt is not None
        else display_path(settings.salt_file)
    )
    return (
        f"restore the original salt into {where} from the backup (fingerprint "
        f"{fingerprint[:SHOWN_FINGERPRINT]}); to change the salt, use 'resilience rotate-salt'"
    )


def _checked_salt(con: duckdb.DuckDBPyConnection, settings: Settings) -> str | None:
    """The salt, when the warehouse on `con` records its fingerprint and it matches; None when it
    records none and either holds no response or a salt is there to bind it to. Raises
    SaltMismatch, saying how to restore the salt, when the salt is missing or another one."""
    recorded = recorded_fingerprint(con)
    salt = settings.configured_salt()
    if recorded is None:
        [(responses,)] = con.execute("select count(*) from raw_responses").fetchall()
        if responses and salt is None:
            raise SaltMismatch(
                f"the salt that keyed the warehouse's {responses} responses is missing "
                f"({display_path(settings.salt_file)}): restore it from the backup"
            )
        return None
    if salt is None:
        raise SaltMismatch(
            f"the salt that keyed the warehouse's responses is missing: "
            f"{how_to_restore(settings, recorded)}"
        )
    if salt_fingerprint(salt) != recorded:
        raise SaltMismatch(
            "the salt is not the one that keyed the warehouse's responses: "
            + how_to_restore(settings, recorded)
        )
    return salt


def bound_salt(con: duckdb.DuckDBPyConnection, settings: Settings) -> str:
    """The salt to key responses with, checked against the warehouse on `con`.

    The first run (no response stored yet) binds the warehouse to its salt, made now if none is
    configured. A warehouse from before salts were bound is bound to the salt found, when one is.
    Raises SaltMismatch, saying how to restore the salt, when the salt is missing or another one.
    """
    salt = _checked_salt(con, settings)
    if salt is None:
        salt = settings.response_key_salt()
        record_fingerprint(con, salt_fingerprint(salt))
    return salt


def check_salt_before_run(settings: Settings) -> None:
    """Refuse a run whose salt the warehouse would refuse (SaltMismatch), before it starts
    anything (Prefect's server included), reading the warehouse read-only. Nothing to check
    without a warehouse, and nothing while a run holds it: the run checks again, under its lock."""
    if not settings.warehouse_path.exists():
        return
    with shared_run_lock(settings.run_lock_path) as holder:
        if holder is not None:
            return
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            try:
                _checked_salt(con, settings)
            except duckdb.CatalogException:
                return  # a warehouse from before salts were bound: the run binds it
