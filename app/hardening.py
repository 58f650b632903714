"""Answers every client gets, whatever the endpoint: ``X-Content-Type-Options: nosniff`` on all
of them, and a limit on guessing secrets.

Guessing limit: a request that carries a credential (an ``Authorization`` header, or the admin
login form) and is answered 401 counts as one failure of its client (the address the request came
from), in a Redis counter that expires ``AUTH_FAILURE_WINDOW_SECONDS`` after the first failure.
Past ``AUTH_FAILURE_LIMIT`` failures in that window, every request of that client carrying a
credential is answered 429 with ``Retry-After`` (the seconds left) before any token is compared,
so admin tokens, trigger tokens and the login cannot be guessed at more than a few per minute per
client. Requests without credentials, and webhooks (signed, their secret is never sent), are never
limited.
"""

from __future__ import annotations

import contextlib

import redis
from flask import Flask, Request, Response, request
from werkzeug.wrappers import Response as BaseResponse

from app.context import app_context
from app.errors import error_response

AUTH_FAILURE_LIMIT = 10  # failed credential checks per client ...
AUTH_FAILURE_WINDOW_SECONDS = 60  # ... in this window, then 429 until it ends
_KEY_PREFIX = "autobuild:authfail:"


def install(app: Flask) -> None:
    """Register the headers and the guessing limit on ``app``."""
    app.before_request(_refuse_a_guessing_client)
    app.after_request(_count_failures_and_add_headers)


def carries_credential(req: Request) -> bool:
    """The request asks to be let in: a bearer (or other) ``Authorization``, or a login."""
    return bool(req.headers.get("Authorization")) or (req.method == "POST" and req.path == "/login")


def _client_key(req: Request) -> str:
    return _KEY_PREFIX + (req.remote_addr or "unknown")


def _refuse_a_guessing_client() -> BaseResponse | None:
    if not carries_credential(request):
        return None
    connection = app_context().redis
    key = _client_key(request)
    failures = connection.get(key)
    if failures is None or int(failures) < AUTH_FAILURE_LIMIT:
        return None
    retry_after = max(1, int(connection.ttl(key)))
    return error_response(
        429,
        f"Too many failed credential checks from this client: try again in {retry_after} s.",
        {"Retry-After": str(retry_after)},
    )


def _count_failures_and_add_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.status_code == 401 and carries_credential(request):
        with contextlib.suppress(redis.exceptions.RedisError):  # the refusal stands regardless
            _count_failure(app_context().redis, _client_key(request))
    return response


def _count_failure(connection: redis.Redis, key: str) -> None:
    with connection.pipeline() as pipe:
        pipe.incr(key)
        pipe.expire(key, AUTH_FAILURE_WINDOW_SECONDS, nx=True)
        pipe.execute()
