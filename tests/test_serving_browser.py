"""`resilience serve` in Debian's Chromium: people sign in through the real form and see what
their role allows, another team's page is refused with none of its content, signed-out visitors
and refused cookies land on the sign-in page, and wrong passwords lock an account."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from resilience.accounts import ACCOUNTS_FILE
from resilience.serving import SESSION_COOKIE
from tests.conftest import SampleRun
from tests.site_server import (
    MANAGED_TEAM,
    PASSWORD,
    UNIT,
    Site,
    add_accounts,
    make_site_project,
    published_teams,
    running_site,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

MAX_FAILED_LOGINS = 3


@pytest.fixture(scope="module")
def site(sample_run: SampleRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    settings = make_site_project(
        tmp_path_factory.mktemp("browser-site"),
        sample_run.settings,
        f"[serve]\nmax_failed_logins = {MAX_FAILED_LOGINS}\nmax_failed_logins_per_address = 100\n",
    )
    add_accounts(settings)
    with running_site(settings) as running:
        yield running


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context
    context.close()


def sign_in(
    page: Page, site: Site, username: str, password: str = PASSWORD, path: str = "/"
) -> None:
    page.goto(f"{site.url}/login?next={path}")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def team_links(page: Page) -> set[str]:
    return {
        href.removeprefix("/teams/").removesuffix(".html")
        for href in page.locator("ul.team-list a").evaluate_all(
            "links => links.map(link => link.getAttribute('href'))"
        )
    }


def test_a_manager_sees_their_team_and_is_refused_another(
    site: Site, context: BrowserContext
) -> None:
    teams = published_teams(site.settings)
    other_team = next(team for team in sorted(teams) if team != MANAGED_TEAM)
    page = context.new_page()
    sign_in(page, site, "mia", path=f"/teams/{MANAGED_TEAM}.html")
    assert page.url == f"{site.url}/teams/{MANAGED_TEAM}.html"
    assert teams[MANAGED_TEAM] in page.locator("h1").inner_text()
    page.locator(".js-plotly-plot").first.wait_for()  # plotly.js came from the server
    answer = page.goto(f"{site.url}/teams/{other_team}.html")
    assert answer is not None and answer.status == 403
    refused = page.content()
    assert teams[other_team] not in refused and other_team not in refused
    assert "may not open" in page.locator("main").inner_text()
    page.goto(site.url + "/")
    assert team_links(page) == {MANAGED_TEAM}
    assert page.get_by_role("link", name="Leadership summary").count() == 0
    assert [row[:4] for row in site.audit_rows("path = ?", (f"/teams/{other_team}.html",))] == [
        ("mia", "GET", f"/teams/{other_team}.html", 403)
    ]


def test_a_unit_lead_sees_their_units_teams_only(site: Site, context: BrowserContext) -> None:
    north = published_teams(site.settings, UNIT)
    elsewhere = sorted(set(published_teams(site.settings)) - set(north))
    assert north and elsewhere
    page = context.new_page()
    sign_in(page, site, "una")
    assert team_links(page) == set(north)
    # Fetched with the browser's session, not drawn: the manager's test draws a team page.
    assert context.request.get(f"{site.url}/teams/{sorted(north)[-1]}.html").status == 200
    assert page.goto(f"{site.url}/teams/{elsewhere[0]}.html").status == 403
    assert page.goto(f"{site.url}/leadership.html").status == 403


def test_a_leader_sees_every_team_and_the_leadership_summary(
    site: Site, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_in(page, site, "lee")
    assert team_links(page) == set(published_teams(site.settings))
    link = page.get_by_role("link", name="Leadership summary").get_attribute("href")
    assert link == "/leadership.html"
    assert context.request.get(site.url + link).status == 200


def test_signed_out_visitors_get_the_sign_in_page(site: Site, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(f"{site.url}/teams/{MANAGED_TEAM}.html")
    assert page.get_by_role("button", name="Sign in").is_visible()
    assert page.url.startswith(f"{site.url}/login")
    sign_in(page, site, "mia")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    page.goto(f"{site.url}/teams/{MANAGED_TEAM}.html")
    assert page.get_by_role("button", name="Sign in").is_visible()


@pytest.mark.parametrize("spoil", ["tampered", "expired"])
def test_a_tampered_or_expired_session_cookie_is_refused(
    site: Site, context: BrowserContext, spoil: str
) -> None:
    page = context.new_page()
    sign_in(page, site, "lee")
    [cookie] = [c for c in context.cookies() if c["name"] == SESSION_COOKIE]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    if spoil == "tampered":
        token, expires, signature = cookie["value"].split(".")
        # A later expiry with the old signature, then the signature of another value.
        for value in (
            f"{token}.{int(expires) + 86400}.{signature}",
            f"{token}.{expires}.{'0' * 64}",
        ):
            context.add_cookies([{**cookie, "value": value}])
            page.goto(f"{site.url}/leadership.html")
            assert page.url.startswith(f"{site.url}/login"), value
    else:
        with (
            contextlib.closing(
                sqlite3.connect(site.settings.serve_state_dir / ACCOUNTS_FILE)
            ) as con,
            con,
        ):
            con.execute("update sessions set expires_at = expires_at - 86400")
        page.goto(f"{site.url}/leadership.html")
        assert page.url.startswith(f"{site.url}/login")
    assert page.get_by_role("button", name="Sign in").is_visible()


def test_wrong_passwords_lock_the_account_for_a_while(site: Site, context: BrowserContext) -> None:
    page = context.new_page()
    for _ in range(MAX_FAILED_LOGINS):
        sign_in(page, site, "ann", password="not the password")
        assert page.get_by_role("alert").inner_text() == "Wrong user name or password."
    sign_in(page, site, "ann")  # the right password, too late
    assert page.get_by_role("alert").inner_text().startswith("Too many failed sign-ins")
    assert page.url.startswith(f"{site.url}/login")
    outcomes = [row[4] for row in site.audit_rows("username = 'ann' and method = 'POST'")]
    assert outcomes == ["sign-in failed"] * MAX_FAILED_LOGINS + ["locked"]
