"""Single sign-on in Debian's Chromium against a real OpenID Connect provider (the certified
`oidc-provider` package, run by Node on 127.0.0.1; `make test` installs it into tests/oidc): a
manager signs in at the provider and sees their team, another team is refused, the leader's
groups open everything, an account whose groups name no role is refused, and a forged callback
starts no session."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from resilience.settings import PROJECT_ROOT
from tests.conftest import SampleRun, free_port, wait_until
from tests.site_server import MANAGED_TEAM, Site, make_site_project, published_teams, running_site

PROVIDER_DIR = PROJECT_ROOT / "tests" / "oidc"
NODE = shutil.which("node")
CLIENT_SECRET = "a test client secret, never used elsewhere"
PROVIDER_ACCOUNTS = {
    "mia": {"email": "Mia@Example.org", "groups": ["resilience-manager:T002", "all-staff"]},
    "lee": {"email": "lee@example.org", "groups": ["resilience-leader"]},
    "sam": {"email": "sam@example.org", "groups": ["all-staff"]},
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        NODE is None or not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir(),
        reason="needs Node and tests/oidc/node_modules (make test runs npm ci there)",
    ),
]


@contextlib.contextmanager
def openid_provider(port: int, redirect_uri: str) -> Iterator[str]:
    """The provider on 127.0.0.1:`port`, until the block ends; yields its issuer."""
    issuer = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(NODE), "provider.mjs"],
        cwd=PROVIDER_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={
            **os.environ,
            "OIDC_PORT": str(port),
            "OIDC_CLIENT_ID": "dashboards",
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_REDIRECT_URI": redirect_uri,
            "OIDC_ACCOUNTS": json.dumps(PROVIDER_ACCOUNTS),
        },
    )

    def discoverable() -> bool | None:
        assert process.poll() is None, "the OpenID provider stopped"
        with contextlib.suppress(httpx.TransportError):
            url = f"{issuer}/.well-known/openid-configuration"
            return httpx.get(url, timeout=2).status_code == 200 or None
        return None

    try:
        wait_until(discoverable, timeout=60, what="the OpenID provider", interval=0.1)
        yield issuer
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def site(sample_run: SampleRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    site_port = free_port()
    redirect_uri = f"http://127.0.0.1:{site_port}/auth/callback"
    with openid_provider(free_port(), redirect_uri) as issuer:
        settings = make_site_project(
            tmp_path_factory.mktemp("oidc-site"),
            sample_run.settings,
            f'[serve.oidc]\nissuer = "{issuer}"\nclient_id = "dashboards"\n'
            f'client_secret = "{CLIENT_SECRET}"\nscopes = ["openid", "email", "groups"]\n'
            'group_prefix = "resilience-"\n',
        )
        with running_site(settings, port=site_port) as running:
            yield running


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context
    context.close()


def sign_in_at_the_provider(page: Page, site: Site, account: str, path: str = "/") -> None:
    page.goto(site.url + path)
    page.get_by_role("link", name="Sign in with your organization's account").click()
    page.locator("input[name=login]").fill(account)
    page.locator("input[name=password]").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()  # the provider's consent
    page.wait_for_url(f"{site.url}/**")
    page.wait_for_load_state()


def test_a_manager_signs_in_at_the_provider_and_sees_their_team_only(
    site: Site, context: BrowserContext
) -> None:
    teams = published_teams(site.settings)
    other_team = next(team for team in sorted(teams) if team != MANAGED_TEAM)
    page = context.new_page()
    sign_in_at_the_provider(page, site, "mia", path=f"/teams/{MANAGED_TEAM}.html")
    assert page.url == f"{site.url}/teams/{MANAGED_TEAM}.html"
    assert teams[MANAGED_TEAM] in page.locator("h1").inner_text()
    answer = page.goto(f"{site.url}/teams/{other_team}.html")
    assert answer is not None and answer.status == 403
    assert teams[other_team] not in page.content()
    signed_in = site.audit_rows("outcome = 'signed in'")
    assert [(row[0], row[2]) for row in signed_in] == [("mia@example.org", "/auth/callback")]
    assert "code=" not in str(site.audit_rows())


def test_the_leaders_groups_open_every_page(site: Site, context: BrowserContext) -> None:
    page = context.new_page()
    sign_in_at_the_provider(page, site, "lee")
    listed = {
        link.removeprefix("/teams/").removesuffix(".html")
        for link in page.locator("ul.team-list a").evaluate_all(
            "links => links.map(link => link.getAttribute('href'))"
        )
    }
    assert listed == set(published_teams(site.settings))
    assert context.request.get(f"{site.url}/leadership.html").status == 200


def test_an_account_whose_groups_name_no_role_is_refused(
    site: Site, context: BrowserContext
) -> None:
    page = context.new_page()
    sign_in_at_the_provider(page, site, "sam")
    assert "no access" in page.locator("main").inner_text()
    assert not [c for c in context.cookies() if c["name"] == "resilience_session"]
    assert page.goto(f"{site.url}/").url.startswith(f"{site.url}/login")


def test_a_callback_that_no_sign_in_started_is_refused(site: Site) -> None:
    with site.client() as client:
        answer = client.get("/auth/callback", params={"code": "stolen", "state": "guessed"})
    assert answer.status_code == 403
    assert "resilience_session" not in answer.headers.get("set-cookie", "")
    [refused] = site.audit_rows("path = '/auth/callback' and status = 403 and username is null")
    assert refused[4:] == (
        "sign-in failed",
        None,
        "single sign-on: no sign-in was started from this browser",
    )
