"""The workers page (``/workers``) and ``GET /api/v1/workers``: every worker on the build queue
with its host, daemon, current build, builds done and last heartbeat (:mod:`core.workers`)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template

from app.context import app_context
from core.workers import WorkerView, list_workers

blueprint = Blueprint("workers", __name__)


def _workers() -> list[WorkerView]:
    context = app_context()
    return list_workers(context.redis, context.settings.queue_name)


@blueprint.get("/api/v1/workers")
def workers_json() -> Response:
    return jsonify({"workers": [worker.to_json() for worker in _workers()]})


@blueprint.get("/workers")
def workers_page() -> str:
    return render_template("workers.html", workers=_workers())
