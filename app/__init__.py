"""The web process: HTTP in, JSON/HTML out. It verifies, records and enqueues; it never builds."""

from __future__ import annotations

from flask import Flask

from app import (
    api,
    badge,
    bodylimit,
    hardening,
    health,
    metrics,
    openapi,
    schedules,
    trigger,
    trust_views,
    ui,
    webhooks,
    workers,
)
from app.auth import configure_sessions
from app.context import EXTENSION_KEY, AppContext
from app.errors import register_error_handlers
from app.notifications import blueprint as notifications_blueprint
from buildrules.model import Config
from core.logfmt import configure_logging
from core.masking import masker_for
from core.settings import Settings


def create_app(settings: Settings | None = None, config: Config | None = None) -> Flask:
    """The application factory. The configuration is loaded (and validated) once, here: a broken
    configuration stops the process at start with ``FILE:LINE: message`` lines."""
    settings = settings or Settings.from_env()
    if config is None:
        from buildrules.loader import load

        config = load(settings.config_path)
    # key=value lines with secrets masked, unless the process configured logging itself
    configure_logging(masker_for(settings, config))
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION_KEY] = AppContext.create(settings, config)
    register_error_handlers(app)
    hardening.install(app)  # first: a guessing client is refused before any token check
    configure_sessions(app, settings)
    for module in (
        bodylimit,
        webhooks,
        api,
        trigger,
        health,
        ui,
        trust_views,
        badge,
        openapi,
        metrics,
        schedules,
        workers,
    ):
        app.register_blueprint(module.blueprint)
    app.register_blueprint(notifications_blueprint)
    return app
