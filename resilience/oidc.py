"""Single sign-on for `resilience serve` with an OpenID Connect provider (Entra ID, Okta,
Keycloak ...): the authorization code flow with PKCE (S256), a client secret, and a nonce.

`/auth/oidc` sends the browser to the provider with a fresh state, nonce and PKCE verifier, kept
in a short-lived signed cookie; `/auth/callback` checks the state, exchanges the code for tokens
over the back channel, checks the ID token (RS256 signature against the provider's published
keys, issuer, audience, expiry, nonce), reads the user info, and starts a session whose grant
comes from the access file (by username) when one is set, else from the groups claim. A person
whose claims grant no role is refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from resilience.access import Grant, grant_from_groups, read_access_file
from resilience.accounts import sign
from resilience.serving import note_for_audit, safe_next
from resilience.settings import OidcSettings

PENDING_COOKIE = "resilience_oidc"
PENDING_SECONDS = 600
CLOCK_SKEW_SECONDS = 120
HTTP_TIMEOUT_SECONDS = 15


class SignInRefused(RuntimeError):
    """The provider's answer cannot be trusted or grants nothing: the reason, for the audit log."""


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class OidcClient:
    """One provider: its discovery document and signing keys, fetched when first needed (keys
    again when a token names one not seen yet, as after the provider rotates them)."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self.issuer = str(settings.issuer).rstrip("/")
        self._metadata: dict[str, Any] | None = None
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._lock = threading.RLock()  # fetching the keys reads the metadata

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is None:
                document = _get_json(f"{self.issuer}/.well-known/openid-configuration")
                if str(document.get("issuer", "")).rstrip("/") != self.issuer:
                    raise SignInRefused(f"the provider names itself {document.get('issuer')!r}")
                self._metadata = document
            return self._metadata

    def _key(self, key_id: str | None) -> rsa.RSAPublicKey:
        with self._lock:
            if key_id not in self._keys:
                self._keys = _rsa_keys(_get_json(self.metadata()["jwks_uri"]))
        if key_id not in self._keys and not (key_id is None and len(self._keys) == 1):
            raise SignInRefused(f"the ID token is signed with an unknown key {key_id!r}")
        return self._keys.get(key_id) or next(iter(self._keys.values()))

    def authorization_url(self, redirect_uri: str) -> tuple[str, dict[str, str]]:
        """Where to send the browser, and what to keep until it comes back."""
        pending = {
            "state": secrets.token_urlsafe(24),
            "nonce": secrets.token_urlsafe(24),
            "verifier": secrets.token_urlsafe(48),
        }
        challenge = _b64encode(hashlib.sha256(pending["verifier"].encode()).digest())
        query = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.settings.scopes),
            "state": pending["state"],
            "nonce": pending["nonce"],
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.metadata()['authorization_endpoint']}?{urlencode(query)}", pending

    def claims(self, code: str, pending: dict[str, str], redirect_uri: str) -> dict[str, Any]:
        """The signed-in person's claims: the checked ID token's, with the user info's."""
        metadata = self.metadata()
        secret = self.settings.client_secret
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": pending["verifier"],
        }
        auth = None
        methods = metadata.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
        if secret is not None and "client_secret_basic" in methods:
            auth = (str(self.settings.client_id), secret.get_secret_value())
        else:
            data["client_id"] = str(self.settings.client_id)
            if secret is not None:
                data["client_secret"] = secret.get_secret_value()
        answer = httpx.post(
            metadata["token_endpoint"], data=data, auth=auth, timeout=HTTP_TIMEOUT_SECONDS
        )
        if answer.status_code != 200:
            raise SignInRefused(f"the token endpoint answered {answer.status_code}")
        tokens = answer.json()
        claims = self.checked_id_token(str(tokens.get("id_token", "")), pending["nonce"])
        if metadata.get("userinfo_endpoint") and tokens.get("access_token"):
            info = httpx.get(
                metadata["userinfo_endpoint"],
                headers={"authorization": f"Bearer {tokens['access_token']}"},
                timeout=HTTP_TIMEOUT_SECONDS,
            )
            if info.status_code == 200 and info.json().get("sub") == claims["sub"]:
                claims = {**info.json(), **claims}
        return claims

    def checked_id_token(self, token: str, nonce: str) -> dict[str, Any]:
        try:
            header_part, payload_part, signature_part = token.split(".")
            header = json.loads(_b64decode(header_part))
            claims = json.loads(_b64decode(payload_part))
        except ValueError as error:
            raise SignInRefused("the ID token is not a signed JWT") from error
        if header.get("alg") != "RS256":
            raise SignInRefused(f"the ID token is signed with {header.get('alg')!r}, not RS256")
        try:
            self._key(header.get("kid")).verify(
                _b64decode(signature_part),
                f"{header_part}.{payload_part}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature as error:
            raise SignInRefused("the ID token's signature does not hold") from error
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        now = time.time()
        problems = {
            "issuer": str(claims.get("iss", "")).rstrip("/") != self.issuer,
            "audience": self.settings.client_id not in audiences,
            "expiry": not isinstance(claims.get("exp"), int | float)
            or claims["exp"] < now - CLOCK_SKEW_SECONDS,
            "nonce": not secrets.compare_digest(str(claims.get("nonce", "")), nonce),
            "subject": not claims.get("sub"),
        }
        wrong = [name for name, failed in problems.items() if failed]
        if wrong:
            raise SignInRefused(f"the ID token's {', '.join(wrong)} is wrong")
        return claims

    def identity(self, claims: dict[str, Any]) -> tuple[str, Grant]:
        """The username (for the audit log and the access file) and what it may open."""
        username = str(claims.get(self.settings.username_claim) or claims["sub"]).casefold()
        if self.settings.access_file is not None:
            grant = read_access_file(self.settings.access_file).get(username, Grant())
        else:
            groups = claims.get(self.settings.groups_claim) or []
            grant = grant_from_groups(
                [groups] if isinstance(groups, str) else list(groups), self.settings.group_prefix
            )
        return username, grant


def _get_json(url: str) -> dict[str, Any]:
    answer = httpx.get(url, timeout=HTTP_TIMEOUT_SECONDS)
    answer.raise_for_status()
    return answer.json()


def _rsa_keys(jwks: dict[str, Any]) -> dict[str, rsa.RSAPublicKey]:
    return {
        key.get("kid"): rsa.RSAPublicNumbers(
            int.from_bytes(_b64decode(key["e"])), int.from_bytes(_b64decode(key["n"]))
        ).public_key()
        for key in jwks.get("keys", [])
        if key.get("kty") == "RSA" and key.get("use", "sig") == "sig"
    }


def _redirect_uri(request: Request, client: OidcClient) -> str:
    return client.settings.redirect_url or str(request.url_for("oidc_callback"))


def start_sign_in(request: Request) -> Response:
    site = request.app.state.site
    try:
        url, pending = site.oidc.authorization_url(_redirect_uri(request, site.oidc))
    except (SignInRefused, httpx.HTTPError, ValueError, KeyError) as error:
        note_for_audit(request, detail=f"single sign-on: provider unusable: {error}"[:300])
        return site.message(
            request, 502, "Not signed in", "Single sign-on is not reachable: try later.", None
        )
    pending["next"] = safe_next(request.query_params.get("next"))
    pending["until"] = str(int(time.time()) + PENDING_SECONDS)
    value = _b64encode(json.dumps(pending).encode())
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        PENDING_COOKIE,
        f"{value}.{sign(site.secret, 'oidc:' + value)}",
        max_age=PENDING_SECONDS,
        httponly=True,
        samesite="lax",  # it must come back with the provider's top-level redirect
        secure=request.url.scheme == "https",
        path="/auth/",
    )
    return response


def finish_sign_in(request: Request) -> Response:
    site = request.app.state.site
    try:
        pending = _pending(site.secret, request.cookies.get(PENDING_COOKIE, ""))
        if not secrets.compare_digest(request.query_params.get("state", ""), pending["state"]):
            raise SignInRefused("the state does not match the sign-in that was started")
        if "error" in request.query_params:
            raise SignInRefused(f"the provider answered {request.query_params['error'][:64]}")
        claims = site.oidc.claims(
            request.query_params.get("code", ""), pending, _redirect_uri(request, site.oidc)
        )
        username, grant = site.oidc.identity(claims)
    except (SignInRefused, httpx.HTTPError, ValueError, KeyError) as error:
        note_for_audit(request, outcome="sign-in failed", detail=f"single sign-on: {error}"[:300])
        return site.message(
            request, 403, "Not signed in", "Single sign-on did not succeed: try again.", None
        )
    if not grant.roles:
        note_for_audit(
            request, username=username, detail="single sign-on: no role for this account"
        )
        return site.message(
            request, 403, "No access", "Your account has no access to these dashboards.", None
        )
    response = site.sign_in_response(
        request, site.start_session(username, "oidc", grant), pending["next"]
    )
    response.delete_cookie(PENDING_COOKIE, path="/auth/")
    return response


def _pending(secret: str, cookie: str) -> dict[str, str]:
    value, _, signature = cookie.rpartition(".")
    if not value or not secrets.compare_digest(sign(secret, "oidc:" + value), signature):
        raise SignInRefused("no sign-in was started from this browser")
    pending = json.loads(_b64decode(value))
    if int(pending["until"]) < time.time():
        raise SignInRefused("the sign-in took too long")
    return pending


def oidc_routes() -> list[Route]:
    return [
        Route("/auth/oidc", start_sign_in, methods=["GET"]),
        Route("/auth/callback", finish_sign_in, methods=["GET"], name="oidc_callback"),
    ]
