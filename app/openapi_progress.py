"""The OpenAPI schemas of a build's ``phases`` and ``progress`` (see docs/builds.md)."""

from __future__ import annotations

from typing import Any

from core.progress import PhaseStatus

NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
PHASE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "started_at", "finished_at", "status"],
    "properties": {
        "name": {"type": "string", "description": "clone, build, push, verify, ..."},
        "started_at": NULLABLE_TIME,
        "finished_at": NULLABLE_TIME,
        "status": {"type": "string", "enum": [s.value for s in PhaseStatus]},
    },
}
NULLABLE_PLATFORM = {"type": ["string", "null"], "description": "null: the one-platform build"}
PROGRESS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Reported by the builder and the push as they work (docs/builds.md).",
    "properties": {
        "steps": {"type": "array", "items": {"type": "object", "properties": {
            "number": {"type": "integer"}, "total": {"type": "integer"},
            "platform": NULLABLE_PLATFORM}}},
        "pushed": {"type": "array", "items": {"type": "object", "properties": {
            "tag": {"type": "string"}, "digest": {"type": "string"},
            "platform": NULLABLE_PLATFORM}}},
    },
}  # fmt: skip
