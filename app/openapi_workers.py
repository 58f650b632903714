"""The OpenAPI description of ``GET /api/v1/workers`` (app/workers.py) and of a build's
``worker`` (core/workerid.py)."""

from __future__ import annotations

from typing import Any

WORKER_IDENTITY_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "description": "The worker running this attempt: its host name and Docker daemon ID "
    "(null until an attempt starts).",
    "properties": {
        "host": {"type": "string"},
        "daemon": {"type": ["string", "null"], "description": "`docker info`'s ID"},
    },
}
WORKER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "name",
        "host",
        "daemon",
        "state",
        "lost",
        "current_build",
        "builds_done",
        "last_heartbeat",
        "ttl_seconds",
    ],
    "properties": {
        "name": {"type": "string", "description": "rq's name of the worker"},
        "host": {"type": "string"},
        "daemon": {"type": ["string", "null"]},
        "state": {"type": "string", "description": "rq's state (idle, busy, ...) or lost"},
        "lost": {
            "type": "boolean",
            "description": "its last heartbeat is older than the time-to-live it gave",
        },
        "current_build": {"type": ["string", "null"]},
        "builds_done": {"type": "integer"},
        "last_heartbeat": {"type": ["string", "null"], "format": "date-time"},
        "ttl_seconds": {"type": "integer"},
    },
}
WORKERS_PATHS: dict[str, Any] = {
    "/api/v1/workers": {
        "get": {
            "summary": "Every worker on the build queue, alive or lost",
            "operationId": "listWorkers",
            "tags": ["workers"],
            "responses": {
                "200": {
                    "description": "The workers, by host then name.",
                    "content": {"application/json": {"schema": {
                        "type": "object",
                        "required": ["workers"],
                        "properties": {"workers": {"type": "array", "items": WORKER_SCHEMA}},
                    }}},
                },
                "401": {"description": "AUTOBUILD_PRIVATE is on and no admin token was sent."},
            },
        }
    }
}  # fmt: skip
