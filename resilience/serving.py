"""`resilience serve`: the published release over HTTP, behind sign-in, page by page as each
person's role allows (`resilience.access`).

Each request reads the `current` link once and serves everything it answers from that release:
a publish switches what is served with no restart, and no answer mixes two releases (a release
stays whole on disk until two later ones have been published). A request path is served only
when it is a plain relative path of the release's dashboards (letters, digits, '-', '_', '.';
no '..', no '%', no empty segment), that resolves inside the release (no link out of it); nothing
else is looked up. Folders are never listed. Every answer carries security headers, no error
shows a stack trace, and every request, served or refused, is written to the audit journal
(`resilience.audit`).
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qsl

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resilience.access import (
    ANALYTICS_DOWNLOAD,
    STATUS_PAGE,
    Catalogue,
    Grant,
    may_open,
    read_catalogue,
    visible_pages,
)
from resilience.accounts import AccountStore, Session, sign, signed_cookie, token_from_cookie
from resilience.audit import AuditEvent, AuditJournal
from resilience.settings import Settings
from resilience.status import one_line, read_status

LOG = logging.getLogger("resilience.serve")
SESSION_COOKIE = "resilience_session"
CSRF_COOKIE = "resilience_csrf"
PAGE_METHODS = ("GET", "HEAD")
FORM_PATHS = ("/login", "/logout")
# What a request may carry; more is answered 414 or 431 before anything else is done. (uvicorn
# itself refuses a request head over 16 KB.)
MAX_PATH_BYTES = 1024
MAX_HEADER_BYTES = 4096
MAX_HEADERS_BYTES = 8192
MAX_FORM_BYTES = 4096
# A served path: segments of safe characters that do not start with a dot.
SAFE_PATH = re.compile(rb"(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*/?")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".duckdb": "application/octet-stream",
}
# The dashboards' own policy (their <meta> tag), and what only a header can say.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
STRICT_TRANSPORT_SECURITY = "max-age=31536000"
ASSET_SUFFIXES = (".js", ".css")
# Files from this size on (plotly.js, the analytics file) are sent in chunks, not read whole.
STREAM_FROM_BYTES = 1 << 20
STREAM_CHUNK_BYTES = 256 << 10
CATALOGUES_KEPT = 4


def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("resilience", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
    )


def published_release(settings: Settings) -> tuple[str, Path] | None:
    """The release `current` points at now (its name and folder), read with one readlink, or
    None when nothing is published."""
    try:
        target = os.readlink(settings.current_release)
    except (FileNotFoundError, OSError):
        return None
    folder = settings.current_release.parent / target
    return (folder.name, folder) if folder.is_dir() else None


def served_path(raw_path: bytes) -> str | None:
    """The path relative to the release that `raw_path` asks for, or None when it is not one
    this server ever serves (traversal in any encoding, hidden files, absolute paths)."""
    if not SAFE_PATH.fullmatch(raw_path):
        return None
    return raw_path.decode("ascii").strip("/")


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a served path of this site, never another site."""
    if path and path.startswith("/") and served_path(path.encode("ascii", "replace")) is not None:
        return path
    return "/"


def open_in_release(release_dir: Path, relative: str) -> Path | None:
    """The file `relative` names inside `release_dir`, when it is a regular file that resolves
    inside the release (a link pointing out of it does not)."""
    try:
        resolved = (release_dir / relative).resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError, RuntimeError):
        return None
    inside = resolved.is_relative_to(release_dir.resolve())
    return resolved if inside and resolved.is_file() else None


class SiteState:
    """What the app holds between requests: the settings, the accounts file, the audit journal
    and each recent release's catalogue."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secret = settings.session_secret()
        self.accounts = AccountStore(settings.serve_state_dir)
        self.journal = AuditJournal(settings.serve_state_dir)
        self.journal.prune(settings.serve.audit_retention_days)
        self.templates = _templates()
        self.catalogue = functools.lru_cache(maxsize=CATALOGUES_KEPT)(self._read_catalogue)
        self.oidc = None
        if settings.serve.oidc.issuer:
            from resilience.oidc import OidcClient

            self.oidc = OidcClient(settings.serve.oidc)

    def _read_catalogue(self, release: str, release_dir: Path) -> Catalogue:
        return read_catalogue(
            release,
            release_dir,
            self.settings.analytics_path.name,
            self.settings.dashboards_dir.name,
        )

    def csrf_token(self, binding: str) -> str:
        return sign(self.secret, f"csrf:{binding}")

    def csrf_holds(self, binding: str | None, token: str | None) -> bool:
        return bool(binding and token) and hmac.compare_digest(self.csrf_token(binding), str(token))

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("username", None)
        context.setdefault("csrf_token", "")
        return HTMLResponse(
            self.templates.get_template(f"site/{template}").render(**context), status
        )

    def message(
        self, request: Request, status: int, title: str, text: str, session: Session | None
    ) -> HTMLResponse:
        return self.render(
            "message.html.j2",
            status,
            title=title,
            message=text,
            **self.signed_in_context(session),
        )

    def signed_in_context(self, session: Session | None) -> dict[str, str]:
        if session is None:
            return {}
        return {"username": session.username, "csrf_token": self.csrf_token(session.token)}

    def session_of(self, request: Request) -> Session | None:
        cookie = request.cookies.get(SESSION_COOKIE)
        token = token_from_cookie(self.secret, cookie) if cookie else None
        return self.accounts.session(token) if token else None

    def sign_in_response(
        self, request: Request, session: Session, next_path: str
    ) -> RedirectResponse:
        response = RedirectResponse(safe_next(next_path), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            signed_cookie(self.secret, session),
            max_age=int(session.expires_at - time.time()),
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        request.state.username = session.username
        request.state.outcome = "signed in"
        return response

    def start_session(self, username: str, via: str, grant: Grant) -> Session:
        return self.accounts.start_session(
            username, via, grant, self.settings.serve.session_minutes * 60
        )


def note_for_audit(request: Request, **fields: str | None) -> None:
    """What the audit record of this request says beyond its method, path and status."""
    for name, value in fields.items():
        setattr(request.state, name, value)


def _sign_in_page(
    site: SiteState, request: Request, status: int = 200, message: str | None = None
) -> HTMLResponse:
    binding = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = site.render(
        "sign_in.html.j2",
        status,
        message=message,
        csrf_token=site.csrf_token(binding),
        next_path=safe_next(request.query_params.get("next") or request.state.next_path),
        local_accounts=True,
        single_sign_on=site.oidc is not None,
    )
    response.set_cookie(
        CSRF_COOKIE,
        binding,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def sign_in_form(request: Request) -> Response:
    request.state.next_path = "/"
    return _sign_in_page(request.app.state.site, request)


async def _form(request: Request) -> dict[str, str] | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        return dict(parse_qsl(body.decode("utf-8"), max_num_fields=8))
    except (UnicodeDecodeError, ValueError):
        return None


async def sign_in(request: Request) -> Response:
    site: SiteState = request.app.state.site
    request.state.next_path = "/"
    form = await _form(request)
    if form is None:
        note_for_audit(request, detail="form too large or malformed")
        return site.message(request, 400, "Bad request", "The form could not be read.", None)
    request.state.next_path = form.get("next", "/")
    if not site.csrf_holds(request.cookies.get(CSRF_COOKIE), form.get("csrf_token")):
        note_for_audit(request, detail="CSRF token missing or wrong")
        return _sign_in_page(site, request, 403, "The form had expired: please sign in again.")
    username = form.get("username", "").strip().casefold()[:128]
    address = request.client.host if request.client else "unknown"
    keys = [f"account:{username}", f"address:{address}"]
    serve = site.settings.serve
    note_for_audit(request, username=username or None)
    if await run_in_threadpool(site.accounts.locked_for, keys):
        note_for_audit(request, outcome="locked", detail="too many failed sign-ins")
        return _sign_in_page(
            site,
            request,
            429,
            f"Too many failed sign-ins: try again in {serve.lockout_minutes} minutes.",
        )
    grant = await run_in_threadpool(
        site.accounts.check_password, username, form.get("password", "")
    )
    if grant is None:
        limits = (
            (keys[0], serve.max_failed_logins),
            (keys[1], serve.max_failed_logins_per_address),
        )
        for key, limit in limits:
            await run_in_threadpool(
                site.accounts.record_failure, key, limit, serve.lockout_minutes * 60
            )
        note_for_audit(request, outcome="sign-in failed", detail="wrong user name or password")
        return _sign_in_page(site, request, 401, "Wrong user name or password.")
    await run_in_threadpool(site.accounts.clear_failures, keys[0])
    session = await run_in_threadpool(site.start_session, username, "local", grant)
    return site.sign_in_response(request, session, form.get("next", "/"))


async def sign_out(request: Request) -> Response:
    site: SiteState = request.app.state.site
    session = site.session_of(request)
    form = await _form(request)
    if (
        session is None
        or form is None
        or not site.csrf_holds(session.token, form.get("csrf_token"))
    ):
        note_for_audit(request, detail="sign-out without a session or its CSRF token")
        return site.message(request, 403, "Not signed out", "That request was refused.", session)
    site.accounts.end_session(session.token)
    note_for_audit(request, username=session.username, outcome="signed out")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    return response


def page(request: Request) -> Response:
    """Any GET or HEAD that is not a sign-in route: a page, asset or download of the release."""
    site: SiteState = request.app.state.site
    relative = served_path(request.scope.get("raw_path") or request.url.path.encode())
    if relative is None:
        note_for_audit(request, detail="not a path this server serves")
        return site.message(request, 400, "Bad request", "That address is not valid here.", None)
    session = site.session_of(request)
    if session is None:
        note_for_audit(request, detail="not signed in")
        return RedirectResponse(f"/login?next=/{relative}", status_code=303)
    note_for_audit(request, username=session.username)
    published = published_release(site.settings)
    if published is None:
        note_for_audit(request, detail="nothing is published")
        return site.message(
            request, 404, "Nothing published yet", "No release is published yet.", session
        )
    release, release_dir = published
    note_for_audit(request, release=release)
    catalogue = site.catalogue(release, release_dir)
    if not may_open(session.grant, relative, catalogue):
        note_for_audit(request, detail=f"role does not open {relative}")
        return site.message(
            request, 403, "Not allowed", "Your account may not open this page.", session
        )
    if relative in ("", "index.html"):
        pages, teams = visible_pages(session.grant, catalogue)
        index = site.render(
            "index.html.j2",
            pages=pages,
            teams=teams,
            release=release,
            **site.signed_in_context(session),
        )
        index.headers["x-release"] = release
        return index
    if relative == STATUS_PAGE:
        return site.render(
            "status.html.j2",
            run_status=read_status(site.settings),
            **site.signed_in_context(session),
        )
    folder = (
        release_dir
        if relative == ANALYTICS_DOWNLOAD
        else release_dir / site.settings.dashboards_dir.name
    )
    return _file_response(site, request, session, release, folder, relative)


def _file_response(
    site: SiteState,
    request: Request,
    session: Session,
    release: str,
    folder: Path,
    relative: str,
) -> Response:
    path = open_in_release(folder, relative)
    try:
        handle = path.open("rb") if path is not None else None
    except OSError:  # the release was removed since: two publishes during this request
        handle = None
    if path is None or handle is None:
        note_for_audit(request, detail="no such file in the release")
        return site.message(request, 404, "Not found", "There is no such page.", session)
    status = os.fstat(handle.fileno())
    etag = f'"{status.st_ino:x}-{status.st_size:x}-{status.st_mtime_ns:x}"'
    headers = {"etag": etag, "x-release": release, "content-length": str(status.st_size)}
    if path.suffix in ASSET_SUFFIXES:
        headers["cache-control"] = "private, no-cache"
    if path.suffix == ".duckdb":
        headers["content-disposition"] = f'attachment; filename="{path.name}"'
    media_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
    if request.headers.get("if-none-match") == etag or request.method == "HEAD":
        handle.close()
        if request.method == "GET":
            del headers["content-length"]
            return Response(status_code=304, headers=headers)
        return Response(media_type=media_type, headers=headers)
    if status.st_size < STREAM_FROM_BYTES:
        with handle:
            return Response(handle.read(), media_type=media_type, headers=headers)
    # Read from the file already open: it stays whole even if its release is removed meanwhile.
    return StreamingResponse(_chunks(handle), media_type=media_type, headers=headers)


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(STREAM_CHUNK_BYTES):
            yield chunk


class Guard:
    """Wraps the app: refuses oversized and unexpected requests before routing, adds the security
    headers to every answer, turns any failure into a plain 500, and writes every request to the
    audit journal."""

    def __init__(self, app: ASGIApp, site: SiteState) -> None:
        self.app = app
        self.site = site

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        answered: dict[str, int] = {}
        https = scope.get("scheme") == "https"

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.decode().lower() not in SECURITY_HEADERS
                ]
                headers += [
                    (name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()
                ]
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                if https:
                    headers.append(
                        (b"strict-transport-security", STRICT_TRANSPORT_SECURITY.encode())
                    )
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Recorded before the answer is complete: whoever has the answer can find it.
                await audit_once()
            await send(message)

        async def audit_once() -> None:
            if not answered.get("audited"):
                answered["audited"] = 1
                await run_in_threadpool(self._audit, scope, answered.get("status", 500), state)

        refusal = _refusal(scope)
        try:
            if refusal is not None:
                status, detail = refusal
                state["detail"] = detail
                await _plain(send_secured, status, _REASONS[status])
            else:
                await self.app(scope, receive, send_secured)
        except Exception as error:
            if "status" not in answered:
                LOG.error("%s failed", scope.get("path"), exc_info=error)
                state["detail"] = one_line(error)[:300]
                await _plain(send_secured, 500, _REASONS[500])
        finally:
            await audit_once()

    def _audit(self, scope: Scope, status: int, state: dict[str, Any]) -> None:
        client = scope.get("client")
        raw_path = scope.get("raw_path") or scope.get("path", "").encode()
        path = raw_path.decode("latin-1")
        # The single sign-on callback's query holds an authorization code: never written down.
        if scope.get("query_string") and not path.startswith("/auth/"):
            path += "?" + scope["query_string"].decode("latin-1")
        self.site.journal.record(
            AuditEvent(
                occurred_at=datetime.now(UTC),
                username=state.get("username"),
                address=client[0] if client else None,
                method=scope.get("method", "?"),
                path=path,
                status=status,
                outcome=state.get("outcome") or _outcome(status),
                release=state.get("release"),
                detail=state.get("detail"),
            )
        )


_REASONS = {
    400: "Bad request",
    405: "Method not allowed",
    414: "Address too long",
    431: "Request headers too large",
    500: "Something went wrong: the error was recorded",
}


def _outcome(status: int) -> str:
    if status < 300 or status == 304:
        return "served"
    if status < 400:
        return "redirected"
    if status in (401, 403):
        return "denied"
    return "refused" if status < 500 else "error"


def _refusal(scope: Scope) -> tuple[int, str] | None:
    raw_path = scope.get("raw_path") or scope.get("path", "").encode()
    if len(raw_path) + len(scope.get("query_string", b"")) > MAX_PATH_BYTES:
        return 414, f"path of {len(raw_path)} bytes"
    headers = scope.get("headers", [])
    longest = max((len(name) + len(value) for name, value in headers), default=0)
    total = sum(len(name) + len(value) for name, value in headers)
    if longest > MAX_HEADER_BYTES or total > MAX_HEADERS_BYTES:
        return 431, f"headers of {total} bytes, the longest {longest}"
    method = scope.get("method", "")
    allowed = ("POST",) if scope.get("path") in FORM_PATHS else ()
    if method not in (*PAGE_METHODS, *allowed):
        return 405, f"method {method[:16]}"
    return None


async def _plain(send: Callable[[Message], Awaitable[None]], status: int, text: str) -> None:
    body = f"{status} {text}\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _failed(request: Request, error: Exception) -> Response:
    """A failure: the operator reads the traceback in the server's log, the audit log has its
    one-line reason, and the client a plain 500 with neither."""
    LOG.error("%s %s failed", request.method, request.url.path, exc_info=error)
    note_for_audit(request, detail=one_line(error)[:300])
    return PlainTextResponse(f"500 {_REASONS[500]}\n", status_code=500)


def create_app(settings: Settings) -> ASGIApp:
    """The site for the release published under `settings.paths.out`."""
    site = SiteState(settings)
    routes = [
        Route("/login", sign_in_form, methods=["GET", "HEAD"]),
        Route("/login", sign_in, methods=["POST"]),
        Route("/logout", sign_out, methods=["POST"]),
        Route("/{path:path}", page, methods=list(PAGE_METHODS)),
    ]
    if site.oidc is not None:
        from resilience.oidc import oidc_routes

        routes[3:3] = oidc_routes()
    app = Starlette(routes=routes, exception_handlers={Exception: _failed})
    app.state.site = site
    return Guard(app, site)


def serve(settings: Settings, host: str, port: int, proxy_headers: bool) -> None:
    """Run the site with uvicorn until stopped. Behind a TLS reverse proxy, `proxy_headers`
    takes the client's address and scheme from the proxy's X-Forwarded-* headers (from
    127.0.0.1 only, or the addresses in FORWARDED_ALLOW_IPS)."""
    import uvicorn

    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        server_header=False,
        date_header=True,
        log_level="warning",
        access_log=False,
    )
