"""``GET /api/v1/openapi.json``: the OpenAPI 3 description of the webhook, API and operations
endpoints, written by hand.

``tests/unit/test_openapi.py`` keeps it honest (every Flask rule under ``/api/v1`` and
``/webhooks`` is described here) and ``tests/unit/test_fuzz_api.py`` fuzzes the application
against it (no answer is ever a 5xx, and every answer is one this document lists).
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, Response, jsonify

from app.hosts import HOSTS
from app.openapi_progress import NULLABLE_TIME, PHASE_SCHEMA, PROGRESS_SCHEMA
from app.openapi_schedules import REPOSITORY_PATHS
from app.openapi_workers import (
    NEEDS_SCHEMA,
    WAITING_REASON_SCHEMA,
    WORKER_IDENTITY_SCHEMA,
    WORKERS_PATHS,
)
from core.build import BuildStatus, Trigger
from core.events import RefType

blueprint = Blueprint("openapi", __name__, url_prefix="/api/v1")

PATH = "/api/v1/openapi.json"
JsonObject = dict[str, Any]


def _ref(name: str) -> JsonObject:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: JsonObject, description: str) -> JsonObject:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> JsonObject:
    return _json(_ref("Error"), description)


BUILD_SCHEMA: JsonObject = {
    "type": "object",
    "required": [
        "id", "provider", "repository", "source_type", "source_name", "commit", "image",
        "docker_tags", "dockerfile", "context", "status", "trigger", "created_at", "started_at",
        "finished_at", "digest", "error",
    ],
    "properties": {
        "id": {"type": "string"},
        "provider": {"type": "string", "enum": list(HOSTS)},
        "repository": {"type": "string"},
        "source_type": {"type": "string", "enum": [t.value for t in RefType]},
        "source_name": {"type": "string"},
        "commit": {"type": "string", "pattern": "^[0-9a-f]{7,64}$",
                   "description": "Full id; a queued Bitbucket Cloud pull request build may "
                                  "carry the host's abbreviated id until it is fetched."},
        "image": {"type": "string"},
        "docker_tags": {"type": "array", "items": {"type": "string"}},
        "dockerfile": {"type": "string"},
        "context": {"type": "string"},
        "status": {"type": "string", "enum": [s.value for s in BuildStatus]},
        "trigger": {"type": "string", "enum": [t.value for t in Trigger]},
        "push": {"type": "boolean", "description": "false: built and tested, nothing pushed"},
        "pull_request": {"type": ["object", "null"], "properties": {
            "number": {"type": "integer"}, "head_ref": {"type": "string"},
            "base_ref": {"type": "string"}, "fork": {"type": "boolean"},
            "fetch_ref": {"type": "string"}, "fork_clone_url": {"type": ["string", "null"]},
        }},
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": NULLABLE_TIME,
        "finished_at": NULLABLE_TIME,
        "digest": {"type": ["string", "null"]},
        "image_id": {"type": ["string", "null"]},
        "error": {"type": ["string", "null"]},
        "build_args": {"type": "object", "additionalProperties": {"type": "string"}},
        "attempt": {"type": "integer"},
        "retry_of": {"type": ["string", "null"]},
        "skipped_tags": {"type": "array", "items": {"type": "string"}},
        "platforms": {"type": "array", "items": {"type": "string"}},
        "platform_digests": {"type": "object", "additionalProperties": {"type": "string"}},
        "delivery_id": {"type": ["string", "null"]},
        "phases": {"type": "array", "items": PHASE_SCHEMA,
                   "description": "This attempt's phases, in order (docs/builds.md)."},
        "progress": PROGRESS_SCHEMA,
        "worker": WORKER_IDENTITY_SCHEMA,
        "needs": NEEDS_SCHEMA,
        "waiting_reason": WAITING_REASON_SCHEMA,
    },
}  # fmt: skip

BUILD_ID = {
    "name": "build_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The build's id.",
}
ADMIN: list[JsonObject] = [{"bearer": []}, {"session": []}]
UNAUTHORIZED = _error("The admin token is missing or wrong (or not set on the server).")
NOT_FOUND = _error("There is no such build.")
NOTIFICATION_LIST_SCHEMA: JsonObject = {
    "type": "object",
    "required": ["notifications"],
    "properties": {
        "notifications": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["target", "kind", "label", "event", "ok", "answer", "attempts", "at"],
                "properties": {
                    "target": {"type": "string"},
                    "kind": {"type": "string", "enum": ["status", "webhook", "apprise"]},
                    "label": {"type": "string"},
                    "event": {"type": "string"},
                    "ok": {"type": "boolean"},
                    "answer": {"type": "string"},
                    "attempts": {"type": "integer"},
                    "at": {"type": "string"},
                    "delivered": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}
UNAVAILABLE = _error("Redis is unreachable; try again (Retry-After).")
UNCONFIRMED = _error(
    "Redis is unreachable, or no replica confirmed the builds within AUTOBUILD_REDIS_WAIT_MS; "
    "send the request again (Retry-After)."
)
TOO_LARGE = _error("The body is larger than AUTOBUILD_MAX_BODY_BYTES.")

WEBHOOK_BODY = {
    "description": (
        "The delivery exactly as the git host sends it: JSON, or form-encoded with a 'payload' "
        "field (GitHub, Gitea). It is verified with the repository's secret before it is read: "
        "X-Hub-Signature-256 (GitHub, Bitbucket, git), X-Gitea-Signature and friends, "
        "X-Gitlab-Token."
    ),
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/x-www-form-urlencoded": {
            "schema": {"type": "object", "properties": {"payload": {"type": "string"}}}
        },
    },
}

TRIGGER_BODY = {
    "description": (
        'Docker Hub\'s trigger bodies. Empty or {"build": true}: every rule with a literal '
        'source; {"docker_tag": ...}: the rules producing that tag; {"source_type", '
        '"source_name"}: the rules matching that branch or tag.'
    ),
    "required": False,
    "content": {
        "application/json": {
            "schema": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {"build": {"type": "boolean", "const": True}},
                        "required": ["build"],
                    },
                    {
                        "type": "object",
                        "properties": {"docker_tag": {"type": "string", "maxLength": 255}},
                        "required": ["docker_tag"],
                    },
                    {
                        "type": "object",
                        "properties": {
                            "source_type": {"type": "string", "enum": ["Branch", "Tag"]},
                            "source_name": {"type": "string", "maxLength": 255},
                        },
                        "required": ["source_type", "source_name"],
                    },
                ]
            }
        }
    },
}


def _webhook_for_repository(generic: JsonObject) -> JsonObject:
    """``/webhooks/{provider}/{name}``: the same delivery, the repository named in the URL (its
    signature is checked before the body is parsed)."""
    operation = copy.deepcopy(generic["post"])
    operation["summary"] = "Receive a push delivery for the repository the URL names"
    operation["operationId"] = "receiveWebhookForRepository"
    operation["parameters"].append(
        {
            "name": "name",
            "in": "path",
            "required": True,
            "description": "The repository as configured (owner/name, group/sub/project).",
            "schema": {"type": "string"},
        }
    )
    operation["responses"]["400"] = _error(
        "The delivery is malformed, or it is for another repository than the URL names."
    )
    return {"post": operation}


def _operations() -> JsonObject:
    operations = _base_operations()
    operations["/webhooks/{provider}/{name}"] = _webhook_for_repository(
        operations["/webhooks/{provider}"]
    )
    return operations


def _base_operations() -> JsonObject:
    return {
        "/webhooks/{provider}": {
            "post": {
                "summary": "Receive a push delivery from a git host",
                "operationId": "receiveWebhook",
                "tags": ["webhooks"],
                "parameters": [
                    {
                        "name": "provider",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": list(HOSTS)},
                    }
                ],
                "requestBody": WEBHOOK_BODY,
                "responses": {
                    "202": _json(_ref("BuildList"), "Builds were queued."),
                    "200": _json(
                        _ref("Ignored"),
                        "Nothing to build: a ping, a deletion, no matching rule, a skip marker, "
                        "or a duplicate of an earlier delivery (then with its builds).",
                    ),
                    "400": _error("The delivery is malformed."),
                    "401": _error("The signature or token is missing or wrong."),
                    "404": _error("No such provider, or the repository is not configured."),
                    "405": _error("Only POST."),
                    "413": TOO_LARGE,
                    "429": _error("Too many builds are queued (Retry-After)."),
                    "503": UNCONFIRMED,
                },
            }
        },
        "/api/v1/builds": {
            "get": {
                "summary": "List builds, newest first",
                "operationId": "listBuilds",
                "tags": ["builds"],
                "parameters": [
                    {"name": "repository", "in": "query", "schema": {"type": "string"}},
                    {"name": "provider", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "status",
                        "in": "query",
                        "description": "One status or several separated by commas.",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    },
                ],
                "responses": {
                    "200": _json(_ref("BuildList"), "The builds."),
                    "400": _error("A bad limit or status."),
                    "401": _error("AUTOBUILD_PRIVATE is on and no admin token was sent."),
                    "503": UNAVAILABLE,
                },
            }
        },
        "/api/v1/builds/{build_id}": {
            "get": {
                "summary": "One build",
                "operationId": "getBuild",
                "tags": ["builds"],
                "parameters": [BUILD_ID],
                "responses": {
                    "200": _json(_ref("Build"), "The build."),
                    "401": _error("AUTOBUILD_PRIVATE is on and no admin token was sent."),
                    "404": NOT_FOUND,
                    "503": UNAVAILABLE,
                },
            }
        },
        "/api/v1/builds/{build_id}/logs": {
            "get": {
                "summary": "The build's log: text, followed live, or Server-Sent Events",
                "operationId": "getBuildLogs",
                "tags": ["builds"],
                "parameters": [
                    BUILD_ID,
                    {
                        "name": "follow",
                        "in": "query",
                        "description": "1: stream the log as it grows (a stream ends after "
                        "AUTOBUILD_STREAM_SECONDS, then resume with after).",
                        "schema": {"type": "string", "enum": ["0", "1", "true", "yes"]},
                    },
                    {
                        "name": "after",
                        "in": "query",
                        "description": "Resume after this line id (SSE: or Last-Event-ID).",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The log so far (text/plain, one line per line) or an "
                        "event stream (Accept: text/event-stream): 'line' events (text, time, "
                        "phase, marker), 'build' events (the build, when it changed), then "
                        "'end', or 'reconnect' when the stream's time is up.",
                        "content": {
                            "text/plain": {"schema": {"type": "string"}},
                            "text/event-stream": {"schema": {"type": "string"}},
                        },
                    },
                    "400": _error("after or Last-Event-ID is not a line id."),
                    "401": _error("AUTOBUILD_PRIVATE is on and no admin token was sent."),
                    "404": NOT_FOUND,
                    "503": _error(
                        "Too many log streams are open (Retry-After), or Redis is unreachable."
                    ),
                },
            }
        },
        "/api/v1/builds/{build_id}/cancel": {
            "post": {
                "summary": "Cancel a queued or running build (admin)",
                "operationId": "cancelBuild",
                "tags": ["builds"],
                "security": ADMIN,
                "parameters": [BUILD_ID],
                "responses": {
                    "200": _json(_ref("Build"), "The build, now canceled."),
                    "401": UNAUTHORIZED,
                    "403": _error("A cross-origin request with the admin cookie."),
                    "404": NOT_FOUND,
                    "409": _error("The build already ended."),
                    "503": UNAVAILABLE,
                },
            }
        },
        "/api/v1/builds/{build_id}/retry": {
            "post": {
                "summary": "Queue a new attempt of an ended build (admin)",
                "operationId": "retryBuild",
                "tags": ["builds"],
                "security": ADMIN,
                "parameters": [BUILD_ID],
                "responses": {
                    "202": _json(_ref("BuildList"), "The new build."),
                    "401": UNAUTHORIZED,
                    "403": _error("A cross-origin request with the admin cookie."),
                    "404": _error("No such build, or its repository is no longer configured."),
                    "409": _error("The build has not ended yet."),
                    "429": _error("Too many builds are queued (Retry-After)."),
                    "503": UNAVAILABLE,
                },
            }
        },
        "/api/v1/repositories/{provider}/{name}/trigger": {
            "post": {
                "summary": "Trigger builds by hand (Docker Hub's remote build trigger)",
                "operationId": "triggerBuilds",
                "tags": ["builds"],
                "security": [{"bearer": []}, {"session": []}],
                "parameters": [
                    {
                        "name": "provider",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": list(HOSTS)},
                    },
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "description": "The repository's full name; may contain slashes.",
                        "schema": {"type": "string"},
                    },
                ],
                "requestBody": TRIGGER_BODY,
                "responses": {
                    "202": _json(_ref("BuildList"), "Builds were queued."),
                    "400": _error("The body is malformed."),
                    "401": _error("The trigger token (or admin token) is missing or wrong."),
                    "403": _error("A cross-origin request with the admin cookie."),
                    "404": _error("No such repository, ref, tag or matching rule."),
                    "413": TOO_LARGE,
                    "429": _error("Too many builds are queued (Retry-After)."),
                    "502": _error("The git host could not be asked for its refs."),
                    "503": UNCONFIRMED,
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "getOpenApi",
                "tags": ["operations"],
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
            }
        },
        "/healthz": {
            "get": {
                "summary": "Liveness: the process answers",
                "operationId": "healthz",
                "tags": ["operations"],
                "responses": {"200": _json({"type": "object"}, "Alive.")},
            }
        },
        "/api/v1/builds/{build_id}/provenance": {
            "get": {
                "summary": "The build's SLSA v1 provenance (in-toto statement) as pushed",
                "operationId": "getBuildProvenance",
                "tags": ["trust"],
                "parameters": [BUILD_ID],
                "responses": {
                    "200": _json(
                        {"type": "object", "required": ["build_id", "signed", "statement"]},
                        "The statement, the digests it names, and whether it was signed.",
                    ),
                    "401": _error("AUTOBUILD_PRIVATE is on and no admin token was sent."),
                    "404": _error("No such build, or it pushed no provenance."),
                    "503": UNAVAILABLE,
                },
            }
        },
        "/api/v1/images": {
            "get": {
                "summary": "The configured images' tags in the registry, with their builds",
                "operationId": "listImages",
                "tags": ["trust"],
                "parameters": [
                    {
                        "name": "repository",
                        "in": "query",
                        "description": "Only this repository: PROVIDER/NAME or NAME.",
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": _json(
                        {"type": "object", "required": ["images", "registries"]},
                        "Each image with its tags (origin autobuild or elsewhere), and each"
                        " registry's repositories that no configured repository is.",
                    ),
                    "401": _error("AUTOBUILD_PRIVATE is on and no admin token was sent."),
                    "503": UNAVAILABLE,
                },
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: Redis, Docker and the configuration usable; registries "
                "and workers reported",
                "operationId": "readyz",
                "tags": ["operations"],
                "responses": {
                    "200": _json(_ref("Readiness"), "Ready."),
                    "503": _json(_ref("Readiness"), "Not ready; the checks say why."),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text exposition format 0.0.4)",
                "operationId": "metrics",
                "tags": ["operations"],
                "responses": {
                    "200": {
                        "description": "The metrics.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "503": UNAVAILABLE,
                },
            }
        },
    }


NOTIFICATION_PATHS: JsonObject = {
    "/api/v1/builds/{build_id}/notifications": {
        "get": {
            "summary": "Each notification target of the build with its last answer",
            "operationId": "getBuildNotifications",
            "tags": ["builds"],
            "parameters": [BUILD_ID],
            "responses": {
                "200": _json(_ref("NotificationList"), "The targets and their answers."),
                "401": _error("AUTOBUILD_PRIVATE is on and no admin token was sent."),
                "404": NOT_FOUND,
                "503": UNAVAILABLE,
            },
        }
    },
}


def _guessing_limited(paths: JsonObject) -> JsonObject:
    """Every operation may answer 429 to a client past its failed-credential limit
    (:mod:`app.hardening`), whatever else it answers."""
    limited = _error("Too many failed credential checks from this client (Retry-After).")
    paths = copy.deepcopy(paths)  # NOTIFICATION_PATHS is shared
    for operations in paths.values():
        for operation in operations.values():
            operation["responses"].setdefault("429", limited)
    return paths


def document() -> JsonObject:
    """The OpenAPI document (a new dict each time)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Autobuild",
            "version": "1",
            "description": "Webhooks from git hosts in, builds and their logs out.",
        },
        "paths": _guessing_limited(
            {**_operations(), **NOTIFICATION_PATHS, **REPOSITORY_PATHS, **WORKERS_PATHS}
        ),
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The admin token, or a repository's trigger token.",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "autobuild_session",
                    "description": "The web UI's admin login (with X-Requested-With).",
                },
            },
            "schemas": {
                "Build": BUILD_SCHEMA,
                "NotificationList": NOTIFICATION_LIST_SCHEMA,
                "BuildList": {
                    "type": "object",
                    "required": ["builds"],
                    "properties": {"builds": {"type": "array", "items": _ref("Build")}},
                },
                "Ignored": {
                    "type": "object",
                    "required": ["ignored"],
                    "properties": {
                        "ignored": {"type": "string"},
                        "builds": {"type": "array", "items": _ref("Build")},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
                "Readiness": {
                    "type": "object",
                    "required": ["ready"],  # private mode: anonymous callers get only this
                    "properties": {
                        "ready": {"type": "boolean"},
                        "checks": {"type": "object", "additionalProperties": {"type": "string"}},
                        "registries": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                        "workers": {"type": "string"},
                    },
                },
            },
        },
    }


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())
