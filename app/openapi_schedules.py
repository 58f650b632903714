"""The OpenAPI description of ``GET /api/v1/repositories/<provider>/<name>`` (app/schedules.py)."""

from __future__ import annotations

from typing import Any

from buildrules.model import PROVIDERS

SCHEDULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["rule", "source_type", "source", "cron", "timezone", "next_firing"],
    "properties": {
        "rule": {"type": "integer", "description": "the rule's position, from 0"},
        "source_type": {"type": "string", "enum": ["branch", "tag"]},
        "source": {"type": "string"},
        "cron": {"type": "string"},
        "timezone": {"type": "string", "description": "an IANA time zone"},
        "next_firing": {"type": "string", "format": "date-time"},
    },
}
REPOSITORY_PATHS: dict[str, Any] = {
    "/api/v1/repositories/{provider}/{name}": {
        "get": {
            "summary": "A configured repository, with its schedules and their next firings",
            "operationId": "getRepository",
            "tags": ["repositories"],
            "parameters": [
                {"name": "provider", "in": "path", "required": True,
                 "schema": {"type": "string", "enum": list(PROVIDERS)}},
                {"name": "name", "in": "path", "required": True,
                 "description": "The repository's full name; may contain slashes.",
                 "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {
                    "description": "The repository.",
                    "content": {"application/json": {"schema": {
                        "type": "object",
                        "required": ["provider", "name", "image", "images", "schedules"],
                        "properties": {
                            "provider": {"type": "string"},
                            "name": {"type": "string"},
                            "image": {"type": "string"},
                            "images": {"type": "array", "items": {"type": "string"}},
                            "schedules": {"type": "array", "items": SCHEDULE_SCHEMA},
                        },
                    }}},
                },
                "404": {"description": "No such repository is configured."},
            },
        }
    }
}  # fmt: skip
