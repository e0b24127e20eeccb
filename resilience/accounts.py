"""Local accounts, sessions and sign-in limits of `resilience serve`, in one private SQLite file
in the state folder (`<paths.state>/serve/accounts.sqlite`), never in a release.

Passwords are kept as argon2id hashes. A session is a random token: the cookie carries it signed
with its expiry, the table only its SHA-256, so a copy of the table opens no session. Failed
sign-ins are counted by the name typed (whether or not such an account exists, so that a locked
name says nothing about who has an account) and by the address they came from.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from resilience.access import Grant
from resilience.sqlfiles import read_sql

ACCOUNTS_FILE = "accounts.sqlite"
MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()


@functools.cache
def _unknown_account_hash() -> str:
    """Checked against when no account has the name typed, so that an unknown name costs the
    same time as a wrong password."""
    return _hasher.hash(secrets.token_hex(16))


class AccountError(ValueError):
    """A user name or password that cannot be used, or an account that is not there."""


@dataclass(frozen=True)
class Account:
    username: str
    grant: Grant
    created_at: str


@dataclass(frozen=True)
class Session:
    username: str
    via: str
    grant: Grant
    token: str
    expires_at: float


def _grant_json(grant: Grant) -> str:
    return json.dumps(
        {"roles": sorted(grant.roles), "teams": sorted(grant.teams), "units": sorted(grant.units)}
    )


def _grant_from_json(text: str) -> Grant:
    values = json.loads(text)
    return Grant.of(values["roles"], values["teams"], values["units"])


def _token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountStore:
    """The accounts file, safe to share between the server's threads and other processes (a
    `resilience users` command while the server runs)."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = state_dir / ACCOUNTS_FILE
        self.path.touch(mode=0o600, exist_ok=True)
        self._con = sqlite3.connect(
            self.path, check_same_thread=False, timeout=10, isolation_level=None
        )
        self._con.execute("pragma journal_mode = wal")
        self._con.executescript(read_sql("serve/accounts.sql"))
        self._lock = threading.Lock()

    def close(self) -> None:
        self._con.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._con.execute("begin immediate")
            try:
                yield self._con
            except BaseException:
                self._con.execute("rollback")
                raise
            self._con.execute("commit")

    # Accounts

    def add_user(self, username: str, password: str, grant: Grant) -> Account:
        name = username.strip().casefold()
        if not name or any(character.isspace() for character in name):
            raise AccountError(f"user name {username!r} must be one word, not empty")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._transaction() as con:
            try:
                con.execute(
                    "insert into users values (?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        _hasher.hash(password),
                        json.dumps(sorted(grant.roles)),
                        json.dumps(sorted(grant.teams)),
                        json.dumps(sorted(grant.units)),
                        created,
                    ),
                )
            except sqlite3.IntegrityError:
                raise AccountError(f"user {name} exists already: remove it first") from None
        return Account(name, grant, created)

    def remove_user(self, username: str) -> None:
        """Remove the account and end its sessions."""
        name = username.strip().casefold()
        with self._transaction() as con:
            if con.execute("delete from users where username = ?", (name,)).rowcount == 0:
                raise AccountError(f"no user {name}")
            con.execute("delete from sessions where username = ? and via = 'local'", (name,))

    def users(self) -> list[Account]:
        with self._lock:
            rows = self._con.execute(
                "select username, roles, teams, units, created_at from users order by username"
            ).fetchall()
        return [
            Account(name, Grant.of(json.loads(r), json.loads(t), json.loads(u)), created)
            for name, r, t, u, created in rows
        ]

    def account_grant(self, username: str) -> Grant | None:
        with self._lock:
            row = self._con.execute(
                "select roles, teams, units from users where username = ?", (username,)
            ).fetchone()
        return None if row is None else Grant.of(*(json.loads(value) for value in row))

    def check_password(self, username: str, password: str) -> Grant | None:
        """The account's grant when `password` is its password; None otherwise, after the same
        work whether or not the account exists."""
        name = username.strip().casefold()
        with self._lock:
            row = self._con.execute(
                "select password_hash, roles, teams, units from users where username = ?",
                (name,),
            ).fetchone()
        try:
            _hasher.verify(row[0] if row else _unknown_account_hash(), password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        return Grant.of(*(json.loads(value) for value in row[1:]))

    # Sign-in limits

    def locked_for(self, keys: list[str], now: float | None = None) -> float:
        """Seconds until every one of `keys` may try again (0: none is locked)."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._con.execute(
                f"select max(locked_until) from login_failures "
                f"where key in ({', '.join('?' * len(keys))})",
                keys,
            ).fetchone()
        return max(0.0, (rows[0] or 0.0) - now)

    def record_failure(self, key: str, limit: int, lockout_seconds: float) -> None:
        """Count a failed sign-in against `key`; the `limit`-th in a row locks it for
        `lockout_seconds`. Failures older than a lockout period are forgotten."""
        now = time.time()
        with self._transaction() as con:
            # Counters nobody has added to for a lockout period, and whose lock has passed, are
            # forgotten: names typed once do not pile up.
            con.execute(
                "delete from login_failures where last_failure_at < ? and locked_until < ?",
                (now - lockout_seconds, now),
            )
            row = con.execute(
                "select failures, last_failure_at from login_failures where key = ?", (key,)
            ).fetchone()
            failures = 1 if row is None or now - row[1] > lockout_seconds else row[0] + 1
            locked_until = now + lockout_seconds if failures >= limit else 0.0
            con.execute(
                "insert or replace into login_failures values (?, ?, ?, ?)",
                (key, 0 if locked_until else failures, now, locked_until),
            )

    def clear_failures(self, key: str) -> None:
        with self._transaction() as con:
            con.execute("delete from login_failures where key = ?", (key,))

    # Sessions

    def start_session(
        self, username: str, via: str, grant: Grant, lifetime_seconds: float
    ) -> Session:
        token = secrets.token_urlsafe(32)
        now = time.time()
        expires = now + lifetime_seconds
        with self._transaction() as con:
            con.execute("delete from sessions where expires_at < ?", (now,))
            con.execute(
                "insert into sessions values (?, ?, ?, ?, ?, ?)",
                (_token_sha256(token), username, via, _grant_json(grant), now, expires),
            )
        return Session(username, via, grant, token, expires)

    def session(self, token: str) -> Session | None:
        """The live session of `token`, with what it may open now (a local account's grant as
        the account holds it now); None when it ended, expired or its account was removed."""
        with self._lock:
            row = self._con.execute(
                "select username, via, grant_json, expires_at from sessions "
                "where token_sha256 = ? and expires_at > ?",
                (_token_sha256(token), time.time()),
            ).fetchone()
        if row is None:
            return None
        username, via, grant_json, expires_at = row
        grant = self.account_grant(username) if via == "local" else _grant_from_json(grant_json)
        return None if grant is None else Session(username, via, grant, token, expires_at)

    def end_session(self, token: str) -> None:
        with self._transaction() as con:
            con.execute("delete from sessions where token_sha256 = ?", (_token_sha256(token),))


def sign(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def signed_cookie(secret: str, session: Session) -> str:
    """The session cookie's value: token, expiry and their signature."""
    value = f"{session.token}.{int(session.expires_at)}"
    return f"{value}.{sign(secret, value)}"


def token_from_cookie(secret: str, cookie: str, now: float | None = None) -> str | None:
    """The session token of a cookie whose signature holds and whose expiry has not passed."""
    value, _, signature = cookie.rpartition(".")
    token, _, expires = value.rpartition(".")
    if not (token and expires.isdigit() and hmac.compare_digest(sign(secret, value), signature)):
        return None
    return token if int(expires) > (time.time() if now is None else now) else None
