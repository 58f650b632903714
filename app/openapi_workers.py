"""The OpenAPI description of ``GET /api/v1/workers`` (app/workers.py) and of a build's
``worker`` (core/workerid.py), ``needs`` and ``waiting_reason`` (core/capabilities.py)."""

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
NEEDS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string"},
    "description": "What a worker must offer to take this build: each of its platforms and "
    "each runs_on label, sorted (empty: any worker).",
}
WAITING_REASON_SCHEMA: dict[str, Any] = {
    "type": ["string", "null"],
    "description": "GET /api/v1/builds/<id> only: why a queued build waits when no live worker "
    "can run it (one sentence naming what is missing and what the workers offer); null when "
    "a worker can, or the build is not queued.",
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
        "platforms",
        "labels",
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
        "platforms": {
            "type": "array",
            "items": {"type": "string"},
            "description": "the platforms it builds (autobuild worker --platform, or its "
            "daemon's own and those it can emulate)",
        },
        "labels": {
            "type": "array",
            "items": {"type": "string"},
            "description": "its labels (autobuild worker --label), which runs_on asks for",
        },
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
