"""Who is asking: bearer tokens and the admin login session.

Bearer tokens: the admin token, and per-repository trigger tokens, compared in constant time.

The admin login: the admin token, checked once, kept in Flask's signed session cookie, counts as
the admin token. The cookie is signed with a key derived from the admin token (an HMAC of a fixed
label), so no new secret is needed and changing the token logs every browser out. It is
HttpOnly, SameSite=Strict, and Secure when the site is served over https.

A cookie travels with every request the browser makes, so requests that change something and are
authenticated by the cookie alone must also carry the ``X-Requested-With`` header (which a
cross-site form cannot send, and a cross-site script cannot send without a CORS preflight that
this server never grants), and a cross-origin ``Origin`` header is refused.

With ``AUTOBUILD_PRIVATE=1`` every UI page, badge and GET API answer needs the admin session or
the admin bearer token (``/metrics`` too: 401, so Prometheus sends the token); webhooks
(signed), the trigger endpoint (its own tokens), the health checks, the login page and the static
files stay open (:mod:`app.private_answers`, ``/readyz``: they tell an anonymous client no more).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from urllib.parse import urlsplit

from flask import (
    Flask,
    Request,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from werkzeug.wrappers import Response as BaseResponse

from app.context import AppContext, app_context
from app.errors import ApiError, error_response
from buildrules.model import Repository
from core.settings import Settings

SESSION_KEY_LABEL = b"autobuild admin session cookie v1"
SESSION_COOKIE_NAME = "autobuild_session"
SESSION_LIFETIME = timedelta(hours=12)
CSRF_HEADER = "X-Requested-With"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Paths that stay open when AUTOBUILD_PRIVATE=1 (each has its own authentication, or none needed).
OPEN_PREFIXES = ("/webhooks/", "/static/", "/login", "/logout", "/healthz", "/readyz")


def session_secret_key(admin_token: str) -> bytes:
    """The key that signs the session cookie: an HMAC of a fixed label under the admin token."""
    return hmac.new(admin_token.encode(), SESSION_KEY_LABEL, hashlib.sha256).digest()


class AdminSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session; Secure also whenever the request itself came over https."""

    def get_cookie_secure(self, app: Flask) -> bool:
        configured = bool(app.config["SESSION_COOKIE_SECURE"])
        return configured or (has_request_context() and request.is_secure)


def configure_sessions(app: Flask, settings: Settings) -> None:
    """Session cookie settings, the signing key, and the AUTOBUILD_PRIVATE guard."""
    public_https = (settings.public_url or "").lower().startswith("https://")
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=public_https,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )
    if settings.admin_token:
        app.secret_key = session_secret_key(settings.admin_token)
    app.session_interface = AdminSessionInterface()
    app.before_request(_private_guard)


# --- login state -----------------------------------------------------------------------------


def admin_login_enabled(context: AppContext) -> bool:
    return context.settings.admin_token is not None


def log_in(context: AppContext, token: str) -> bool:
    """Start an admin session when ``token`` is the admin token (compared in constant time)."""
    expected = context.settings.admin_token
    if expected is None or not hmac.compare_digest(token.encode(), expected.encode()):
        return False
    session.clear()
    session.permanent = True
    session["admin"] = True
    return True


def log_out() -> None:
    session.clear()


def session_is_admin(context: AppContext) -> bool:
    """The request carries a valid admin session cookie."""
    return admin_login_enabled(context) and session.get("admin") is True


# --- cross-site request forgery --------------------------------------------------------------


def same_origin(req: Request) -> bool:
    """False only when the browser says the request comes from another origin."""
    origin = req.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    ours = urlsplit(req.host_url)
    theirs = urlsplit(origin)
    return (theirs.scheme, theirs.netloc) == (ours.scheme, ours.netloc)


def check_cookie_request() -> None:
    """Refuse a cookie-authenticated request that changes something unless it is plainly ours."""
    if request.method in SAFE_METHODS:
        return
    if not request.headers.get(CSRF_HEADER):
        raise ApiError(
            403,
            f"Requests authenticated by the login cookie must send the {CSRF_HEADER} header "
            "(scripts and the CLI should send `Authorization: Bearer <admin token>` instead).",
        )
    if not same_origin(request):
        raise ApiError(403, "Cross-origin requests are refused.")


# --- AUTOBUILD_PRIVATE -----------------------------------------------------------------------


def _is_open_path(path: str) -> bool:
    if path.startswith(OPEN_PREFIXES):
        return True
    # The manual trigger checks its own tokens (trigger token or admin token).
    return request.method == "POST" and path.startswith("/api/v1/repositories/")


def request_is_admin(context: AppContext) -> bool:
    """The admin bearer token or the admin session (no CSRF check: for reading)."""
    return is_admin(context, bearer_token()) or session_is_admin(context)


def _private_guard() -> BaseResponse | None:
    context = app_context()
    if not context.settings.private or _is_open_path(request.path):
        return None
    if request_is_admin(context):
        return None
    if request.path.startswith(("/api/", "/badge/", "/metrics")):
        return error_response(
            401,
            "This Autobuild is private (AUTOBUILD_PRIVATE=1): "
            "send `Authorization: Bearer <admin token>` or log in.",
            {"WWW-Authenticate": 'Bearer realm="autobuild"'},
        )
    target = request.full_path if request.query_string else request.path
    return redirect(url_for("ui.login", next=target))


# --- bearer tokens ---------------------------------------------------------------------------


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _matches(given: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(given.encode(), expected.encode())


def is_admin(context: AppContext, token: str | None) -> bool:
    return token is not None and _matches(token, context.settings.admin_token)


def require_admin(context: AppContext) -> None:
    if context.settings.admin_token is None:
        raise ApiError(
            401, "This needs the admin token, and AUTOBUILD_ADMIN_TOKEN is not set on the server."
        )
    if is_admin(context, bearer_token()):
        return
    if bearer_token() is None and session_is_admin(context):
        check_cookie_request()
        return
    raise ApiError(401, "This needs `Authorization: Bearer <admin token>` or the admin login.")


def require_trigger_token(context: AppContext, repository: Repository) -> None:
    """The repository's trigger token or the admin token."""
    token = bearer_token()
    if token is None and session_is_admin(context):
        check_cookie_request()
        return
    if token is None:
        raise ApiError(401, "Send `Authorization: Bearer <trigger token>`.")
    trigger_token = context.settings.secret(repository.trigger_token_env)
    if not (_matches(token, trigger_token) or is_admin(context, token)):
        raise ApiError(401, f"The token is not valid for {repository.provider}/{repository.name}.")
