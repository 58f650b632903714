"""``GET /api/v1/builds/<id>/notifications``: each notification target of a build with its last
answer (what the build page lists too). Labels never hold a secret (no URL path or query, no
apprise URL); answers are written by the notify process and never repeat a receiver's body."""

from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify

from app.context import app_context
from app.errors import ApiError
from core.notifications import read_answers

blueprint = Blueprint("notifications", __name__, url_prefix="/api/v1")


@blueprint.get("/builds/<build_id>/notifications")
def list_notifications(build_id: str) -> Response:
    context = app_context()
    if len(build_id) > 64 or context.store.get(build_id) is None:
        raise ApiError(404, f"There is no build {build_id!r}.")
    answers = [json.loads(a.dumps()) for a in read_answers(context.redis, build_id)]
    return jsonify({"notifications": answers})
