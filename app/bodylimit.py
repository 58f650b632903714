"""Bodies over ``AUTOBUILD_MAX_BODY_BYTES`` are refused with 413, however they are sent.

With a ``Content-Length`` above the limit, werkzeug refuses the request as soon as a view touches
the body, before reading any of it. A chunked body (no ``Content-Length``) is different: werkzeug
stops reading it at the limit and hands the view the first part as if it were the whole, so a
view would judge a truncated body. This hook reads such a body (up to the limit, never more) before
any view runs and answers 413 when it reaches the limit; below it, the body is kept for the view.
"""

from __future__ import annotations

from flask import Blueprint, request
from werkzeug.exceptions import RequestEntityTooLarge

blueprint = Blueprint("bodylimit", __name__)

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@blueprint.before_app_request
def read_streamed_body() -> None:
    limit = request.max_content_length
    if not limit or request.method not in BODY_METHODS or request.content_length is not None:
        return
    if "wsgi.input_terminated" not in request.environ:
        return  # the server does not end the stream: werkzeug reads no body at all
    body = request.get_data(cache=True)  # at most `limit` bytes; kept for the view
    if len(body) >= limit:
        raise RequestEntityTooLarge()
