"""A repository as JSON (``GET /api/v1/repositories/<provider>/<name>``) with its schedules and
their next firings; the repository page shows the same next firings (:func:`next_firings`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from app.context import app_context
from app.errors import ApiError
from buildrules.model import Repository
from core.schedules import Clock, scheduled_rules

blueprint = Blueprint("schedules", __name__, url_prefix="/api/v1")

_CLOCK_KEY = "autobuild.schedule_clock"


def _clock() -> Clock:
    """One clock per web process (AUTOBUILD_SCHEDULE_NOW starts it where the workers' start)."""
    clock = current_app.extensions.get(_CLOCK_KEY)
    if clock is None:
        clock = current_app.extensions[_CLOCK_KEY] = Clock.for_settings(app_context().settings)
    assert isinstance(clock, Clock)
    return clock


def schedules_json(repository: Repository) -> list[dict[str, Any]]:
    now = _clock().now()
    return [scheduled.to_json(now) for scheduled in scheduled_rules(repository)]


def next_firings(repository: Repository) -> dict[int, str]:
    """Rule index → its next firing, ``2026-12-05 03:00 CET``, for the rules with a schedule."""
    now = _clock().now()
    return {
        s.index: s.schedule.next_after(now).strftime("%Y-%m-%d %H:%M %Z")
        for s in scheduled_rules(repository)
    }


@blueprint.get("/repositories/<provider>/<path:name>")
def repository_json(provider: str, name: str) -> Response:
    repository = app_context().config.find_repository(provider, name)
    if repository is None:
        raise ApiError(404, f"Repository {provider}/{name} is not configured.")
    return jsonify(
        {
            "provider": repository.provider,
            "name": repository.name,
            "image": repository.image,
            "images": list(repository.images),
            "schedules": schedules_json(repository),
        }
    )
