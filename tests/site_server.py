"""A running `resilience serve` for tests: its own output folder holding the shared sample run's
release (hard links: nothing is copied, and a test may add or remove files in its own copy without
touching the shared one), its own state folder with local accounts, and the real server process
started from the command line on a free port."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx

from resilience.access import Grant
from resilience.accounts import AccountStore
from resilience.audit import JOURNAL_FILE
from resilience.serving import SESSION_COOKIE
from resilience.settings import Settings, load_settings
from resilience.warehouse import current_release, publish_release
from tests.conftest import cli_environment, free_port, wait_until

PASSWORD = "a long test password"
UNIT = "Addiction services North"
MANAGED_TEAM = "T002"
# One account per role; the manager's team and the unit lead's parent unit are the sample's.
ACCOUNTS = {
    "lee": Grant.of(["leader"]),
    "mia": Grant.of(["manager"], teams=[MANAGED_TEAM]),
    "una": Grant.of(["unit_lead"], units=[UNIT]),
    "ada": Grant.of(["survey_administrator"]),
    "ann": Grant.of(["analyst"]),
}


@dataclass
class Site:
    url: str
    settings: Settings
    process: subprocess.Popen

    def client(self, session_cookie: str | None = None) -> httpx.Client:
        """A client of the site, holding the session `session_cookie` when given."""
        cookies = {SESSION_COOKIE: session_cookie} if session_cookie else None
        return httpx.Client(base_url=self.url, cookies=cookies, follow_redirects=False, timeout=30)

    def session_cookies(self) -> dict[str, str]:
        """A session cookie of every account in ACCOUNTS, each signed in through the form."""
        cookies = {}
        for username in ACCOUNTS:
            with self.signed_in(username) as client:
                cookies[username] = client.cookies[SESSION_COOKIE]
        return cookies

    @contextlib.contextmanager
    def signed_in(self, username: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
        """A client holding a session of `username`, signed in through the real form."""
        with self.client() as client:
            form = client.get("/login")
            response = client.post(
                "/login",
                data={
                    "csrf_token": csrf_token(form.text),
                    "username": username,
                    "password": password,
                },
            )
            assert response.status_code == 303, response.text
            yield client

    def audit_rows(
        self,
        where: str = "true",
        parameters: tuple = (),
        columns: str = "username, method, path, status, outcome, release, detail",
    ) -> list[tuple]:
        """`columns` of the server's audit journal's rows that match `where`, oldest first."""
        with contextlib.closing(
            sqlite3.connect(self.settings.serve_state_dir / JOURNAL_FILE)
        ) as con:
            return con.execute(
                f"select {columns} from audit_journal where {where} order by occurred_at",
                parameters,
            ).fetchall()

    def release_dir(self) -> Path:
        return self.settings.releases_dir / str(current_release(self.settings))


def csrf_token(page: str) -> str:
    marker = 'name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def make_site_project(folder: Path, published: Settings, serve_settings: str = "") -> Settings:
    """An output folder in `folder` publishing the release that `published` publishes, and a
    configuration pointing at it, with `serve_settings` (TOML) appended."""
    config = folder / "resilience.toml"
    config.write_text(
        f'[paths]\nout = "build"\nstate = "state"\n{serve_settings}', encoding="utf-8"
    )
    settings = load_settings(config)
    release = str(current_release(published))
    shutil.copytree(
        published.releases_dir / release,
        settings.releases_dir / release,
        copy_function=os.link,
    )
    publish_release(settings, release)
    return settings


def add_accounts(settings: Settings) -> None:
    store = AccountStore(settings.serve_state_dir)
    try:
        for username, grant in ACCOUNTS.items():
            store.add_user(username, PASSWORD, grant)
    finally:
        store.close()


@contextlib.contextmanager
def running_site(
    settings: Settings, *extra_arguments: str, port: int | None = None
) -> Iterator[Site]:
    """`resilience serve` on the configuration of `settings` (on `port`, default: a free one),
    until the block ends."""
    port = port or free_port()
    log = settings.paths.state / "serve.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "resilience",
                "serve",
                "--config",
                str(settings.paths.out.parent / "resilience.toml"),
                "--port",
                str(port),
                *extra_arguments,
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=cli_environment(None),
        )
    site = Site(f"http://127.0.0.1:{port}", settings, process)

    def answering() -> bool | None:
        assert process.poll() is None, log.read_text()
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"{site.url}/login", timeout=2).status_code == 200 or None
        return None

    try:
        wait_until(answering, timeout=60, what="resilience serve", interval=0.1)
        yield site
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def published_teams(settings: Settings, unit: str | None = None) -> dict[str, str]:
    """Team id -> name of the published teams that have a page (of one parent unit or service
    line, when `unit` is given), read from the published file itself."""
    analytics = settings.releases_dir / str(current_release(settings)) / "analytics.duckdb"
    with duckdb.connect(str(analytics), read_only=True) as con:
        rows = con.execute(
            "select team_id, team_name from teams "
            "where $unit is null or $unit in (parent_unit, service_line)",
            {"unit": unit},
        ).fetchall()
    pages = settings.dashboards_dir / "teams"
    return {team_id: name for team_id, name in rows if (pages / f"{team_id}.html").is_file()}
