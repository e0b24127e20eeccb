"""Local accounts from the command line, session cookies, and the checks on an identity
provider's ID token, without a server: what `resilience users` stores, what a cookie must carry,
and which tokens are refused."""

from __future__ import annotations

import base64
import io
import json
import stat
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from resilience import cli
from resilience.access import Grant
from resilience.accounts import (
    ACCOUNTS_FILE,
    AccountStore,
    Session,
    signed_cookie,
    token_from_cookie,
)
from resilience.oidc import OidcClient, SignInRefused
from resilience.settings import OidcSettings, load_settings
from tests.conftest import make_project

SECRET = "a test secret"


def users(config: Path, monkeypatch: pytest.MonkeyPatch, *arguments: str, stdin: str = "") -> int:
    """The exit code of `resilience users ARGUMENTS`, the password on standard input."""
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    try:
        return cli.main(["users", *arguments, "--config", str(config)])
    except SystemExit as exit_:  # a usage error found by the argument parser
        return int(exit_.code or 0)


def test_users_are_added_listed_and_removed_from_the_private_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_project(tmp_path)
    add = (
        "add",
        "Mia",
        "--role",
        "manager",
        "--team",
        "T002",
        "--team",
        "T014",
        "--password-stdin",
    )
    assert users(config, monkeypatch, *add, stdin="a long password\n") == cli.EXIT_OK
    assert (
        users(
            config,
            monkeypatch,
            "add",
            "lee",
            "--role",
            "leader",
            "--password-stdin",
            stdin="another long one\n",
        )
        == 0
    )
    assert users(config, monkeypatch, "list") == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:2] for line in listed[-2:]] == [
        ["lee", "leader"],
        ["mia", "manager; teams T002, T014"],
    ]
    accounts = load_settings(config).serve_state_dir / ACCOUNTS_FILE
    assert stat.S_IMODE(accounts.stat().st_mode) == 0o600
    assert b"a long password" not in accounts.read_bytes()
    store = AccountStore(accounts.parent)
    assert store.check_password("MIA", "a long password") == Grant.of(
        ["manager"], teams=["T002", "T014"]
    )
    assert store.check_password("mia", "a wrong password") is None
    session = store.start_session("mia", "local", Grant(), 60)
    assert users(config, monkeypatch, "remove", "mia") == 0
    assert store.session(session.token) is None  # removing an account ends its sessions
    assert [account.username for account in store.users()] == ["lee"]
    store.close()


@pytest.mark.parametrize(
    ("arguments", "stdin", "message"),
    [
        (
            ("add", "lee", "--role", "leader", "--password-stdin"),
            "short\n",
            "at least 10 characters",
        ),
        (
            ("add", "two words", "--role", "leader", "--password-stdin"),
            "a long password\n",
            "must be one word",
        ),
        (("remove", "nobody"), "", "no user nobody"),
        (
            ("add", "lee", "--role", "owner", "--password-stdin"),
            "a long password\n",
            "invalid choice",
        ),
    ],
)
def test_users_usage_errors_exit_2_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    arguments: tuple[str, ...],
    stdin: str,
    message: str,
) -> None:
    config = make_project(tmp_path)
    code = users(config, monkeypatch, *arguments, stdin=stdin)
    error = capsys.readouterr().err.strip()
    assert code == cli.EXIT_USAGE
    assert len(error.splitlines()) == 1 and message in error


def test_a_session_cookie_holds_only_with_its_signature_and_before_its_expiry() -> None:
    session = Session("mia", "local", Grant(), "token-abc", time.time() + 60)
    cookie = signed_cookie(SECRET, session)
    assert token_from_cookie(SECRET, cookie) == "token-abc"
    token, expires, signature = cookie.split(".")
    assert token_from_cookie("another secret", cookie) is None
    assert token_from_cookie(SECRET, f"{token}.{int(expires) + 3600}.{signature}") is None
    assert token_from_cookie(SECRET, f"other.{expires}.{signature}") is None
    assert token_from_cookie(SECRET, cookie, now=time.time() + 120) is None
    assert token_from_cookie(SECRET, "garbage") is None


# --- ID tokens ------------------------------------------------------------------------------------

ISSUER = "https://login.example.org"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def id_token(key: rsa.RSAPrivateKey = KEY, algorithm: str = "RS256", **changes: object) -> str:
    claims = {
        "iss": ISSUER,
        "aud": "dashboards",
        "sub": "u1",
        "nonce": "n1",
        "exp": time.time() + 300,
    }
    claims.update(changes)
    header = _b64(json.dumps({"alg": algorithm, "kid": "k1"}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{_b64(signature)}"


@pytest.fixture
def client(tmp_path: Path) -> OidcClient:
    access = tmp_path / "access.toml"
    access.write_text('["mia@example.org"]\nroles = ["manager"]\nteams = ["T002"]\n')
    client = OidcClient(OidcSettings(issuer=ISSUER, client_id="dashboards", access_file=access))
    # The provider's published keys, as fetched from its jwks_uri.
    client._keys = {"k1": KEY.public_key()}
    return client


def test_a_good_id_token_gives_its_claims_and_the_access_file_its_grant(client: OidcClient) -> None:
    claims = client.checked_id_token(id_token(email="Mia@Example.org"), "n1")
    assert claims["sub"] == "u1"
    assert client.identity(claims) == ("mia@example.org", Grant.of(["manager"], teams=["T002"]))
    assert client.identity({"sub": "u2", "email": "sam@example.org"})[1] == Grant()


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (id_token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)), "signature"),
        (id_token(algorithm="HS256"), "not RS256"),
        (id_token(iss="https://elsewhere.example"), "issuer"),
        (id_token(aud="another-client"), "audience"),
        (id_token(exp=time.time() - 3600), "expiry"),
        (id_token(nonce="replayed"), "nonce"),
        ("not.a-token", "not a signed JWT"),
    ],
    ids=["another key", "another algorithm", "issuer", "audience", "expired", "nonce", "garbage"],
)
def test_an_id_token_that_does_not_hold_is_refused(
    client: OidcClient, token: str, reason: str
) -> None:
    with pytest.raises(SignInRefused, match=reason):
        client.checked_id_token(token, "n1")
