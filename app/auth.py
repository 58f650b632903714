"""Bearer tokens: the admin token, and per-repository trigger tokens. Compared in constant time.

The admin login session of the web UI (``app.session``) counts as the admin token, with a
cross-site request forgery guard for requests that change something."""

from __future__ import annotations

import hmac

from flask import request

from app.context import AppContext
from app.errors import ApiError
from app.session import check_cookie_request, session_is_admin
from buildrules.model import Repository


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
