"""/healthz (the process answers) and /readyz (Redis, Docker and the configuration are usable).

``/readyz`` also reports, without requiring them, each registry the configuration pushes to and
the workers listening on the build queue; in private mode only to the admin (anyone else gets
``{"ready": ...}`` alone, and no registry is asked)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.auth import request_is_admin
from app.context import app_context
from core.docker_ping import ping_docker
from core.readiness import check_registries, check_workers, registry_hosts

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz() -> Response:
    context = app_context()
    checks: dict[str, str] = {}
    try:
        context.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:  # any failure means not ready; say which
        checks["redis"] = f"Redis unreachable: {type(exc).__name__}"
    checks["docker"] = ping_docker(context.settings.docker_host) or "ok"
    repositories = len(context.config.repositories)
    checks["configuration"] = (
        f"ok ({repositories} repositories)" if repositories else "no repositories configured"
    )
    ready = checks["redis"] == "ok" and checks["docker"] == "ok" and repositories > 0
    if context.settings.private and not request_is_admin(context):
        # private mode: an anonymous caller (a load balancer) learns only whether we are ready
        response = jsonify({"ready": ready})
        response.status_code = 200 if ready else 503
        return response
    # Reported, not required: webhooks are still accepted and queued without them.
    registries = check_registries(
        registry_hosts(context.config),
        insecure_registries=context.settings.insecure_registries,
    )
    workers = "unknown: Redis is unreachable"
    if checks["redis"] == "ok":
        workers = check_workers(context.redis, context.queue)[1]
    response = jsonify(
        {"ready": ready, "checks": checks, "registries": registries, "workers": workers}
    )
    response.status_code = 200 if ready else 503
    return response
