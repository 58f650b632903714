"""The web UI (server-rendered)."""

from __future__ import annotations

from flask import Blueprint, render_template

from app.context import app_context

blueprint = Blueprint("ui", __name__)


@blueprint.get("/")
def dashboard() -> str:
    context = app_context()
    builds = context.store.recent(limit=50)
    return render_template(
        "dashboard.html", builds=builds, repositories=context.config.repositories
    )
