"""/api/v1: builds and their logs."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from app.auth import require_admin
from app.context import app_context
from app.errors import ApiError
from app.filters import UnknownStatusError, parse_statuses
from app.logpages import page_json, raw_log, wants_page
from app.logstreams import stream_response
from app.needsview import waiting_reason_of
from core.build import BuildRecord, BuildStatus
from core.control import cancel_build, retry_build
from core.queue import withdraw
from core.store import StaleTransitionError

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_LIMIT = 500


def _limit() -> int:
    raw = request.args.get("limit", "50")
    try:
        limit = int(raw)
    except ValueError as exc:
        raise ApiError(400, f"limit must be a whole number, not {raw!r}.") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"limit must be between 1 and {MAX_LIMIT}.")
    return limit


def _statuses() -> set[BuildStatus] | None:
    try:
        statuses = parse_statuses(request.args.get("status"))
    except UnknownStatusError as unknown:
        raise ApiError(400, str(unknown)) from unknown
    return set(statuses) or None


def _build(build_id: str) -> BuildRecord:
    record = app_context().store.get(build_id) if len(build_id) <= 64 else None
    if record is None:
        raise ApiError(404, f"There is no build {build_id!r}.")
    return record


@blueprint.get("/builds")
def list_builds() -> Response:
    repository = request.args.get("repository") or None
    provider = request.args.get("provider") or None
    records = app_context().store.recent(
        provider=provider, repository=repository, statuses=_statuses(), limit=_limit()
    )
    return jsonify({"builds": [record.to_json() for record in records]})


@blueprint.get("/builds/<build_id>")
def get_build(build_id: str) -> Response:
    record = _build(build_id)
    reason = waiting_reason_of(app_context(), record)  # app/needsview.py
    return jsonify({**record.to_json(), "waiting_reason": reason})


@blueprint.post("/builds/<build_id>/cancel")
def cancel(build_id: str) -> Response:
    context = app_context()
    require_admin(context)
    record = _build(build_id)
    try:
        canceled = cancel_build(context.store, record.id)
        withdraw(context.queue, canceled)  # off its queue, whichever: frees its slot
        return jsonify(canceled.to_json())
    except StaleTransitionError as ended:
        raise ApiError(
            409, f"Build {record.id} already ended {ended.record.status.value}."
        ) from ended


@blueprint.post("/builds/<build_id>/retry")
def retry(build_id: str) -> Response:
    context = app_context()
    require_admin(context)
    record = _build(build_id)
    repository = context.config.find_repository(record.provider, record.repository)
    if repository is None:
        raise ApiError(404, f"Repository {record.repository!r} is no longer configured.")
    if not record.status.terminal:
        raise ApiError(
            409, f"Build {record.id} is still {record.status.value}; retry it once it ends."
        )
    new = retry_build(context.store, context.queue, repository, record.id)
    response = jsonify({"builds": [new.to_json()]})
    response.status_code = 202
    return response


def _wants_event_stream() -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


@blueprint.get("/builds/<build_id>/logs")
def get_logs(build_id: str) -> Response:
    record = _build(build_id)
    if _wants_event_stream() or request.args.get("follow") in ("1", "true", "yes"):
        return stream_response(record.id, events=_wants_event_stream())  # app/logstreams.py
    context = app_context()
    if wants_page(request.args):  # app/logpages.py: the last lines, or those before a line
        return jsonify(page_json(context.redis, record.id, request.args))
    # streamed, read in batches: a long log is never held whole
    return Response(raw_log(context.redis, record.id), mimetype="text/plain")
