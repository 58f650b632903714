"""What a webhook or chat target is sent for one event: our JSON (Standard Webhooks' envelope,
signed their way), Docker Hub's push payload, and one readable line for people."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from core.build import BuildRecord


def build_payload(event: str, at: str, record: BuildRecord, build_url: str) -> bytes:
    """``{"type", "timestamp", "data": {build, digest, tags, build_url}}``: the envelope Standard
    Webhooks recommends; ``tags`` are the full references pushed (none before the push)."""
    pushed = [t for t in record.docker_tags if t not in record.skipped_tags]
    data = {
        "build": record.to_json(),
        "digest": record.digest,
        "tags": [f"{record.image}:{t}" for t in pushed] if record.digest else [],
        "build_url": build_url,
    }
    return json.dumps({"type": event, "timestamp": at, "data": data}, sort_keys=True).encode()


def dockerhub_payloads(record: BuildRecord, build_url: str) -> list[bytes]:
    """Docker Hub's webhook body, one per tag pushed (Hub sends one per push)."""
    registry, _, path = record.image.partition("/")
    if "." not in registry and ":" not in registry and registry != "localhost":
        path = record.image  # no registry host: the whole reference is the path
    namespace, _, name = path.rpartition("/")
    pushed_at = int((record.finished_at or datetime.now(UTC)).timestamp())
    repository: dict[str, Any] = {
        "comment_count": 0,
        "date_created": int(record.created_at.timestamp()),
        "description": "",
        "dockerfile": "",
        "full_description": "",
        "is_official": False,
        "is_private": True,
        "is_trusted": True,
        "name": name,
        "namespace": namespace,
        "owner": namespace,
        "repo_name": path,
        "repo_url": build_url,
        "star_count": 0,
        "status": "Active",
    }
    bodies = []
    for tag in record.docker_tags:
        if tag in record.skipped_tags:
            continue
        push_data = {"pushed_at": pushed_at, "pusher": "autobuild", "tag": tag}
        body = {"callback_url": build_url, "push_data": push_data, "repository": repository}
        bodies.append(json.dumps(body, sort_keys=True).encode())
    return bodies


def signature_headers(secret: str, message_id: str, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers. A ``whsec_<base64>`` secret is used as the spec says; any
    other value is used as its raw bytes."""
    now = datetime.now(UTC)
    key: str | bytes = secret if secret.startswith("whsec_") else secret.encode()
    signature = Webhook(key).sign(message_id, now, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


EVENT_WORDS = {
    "build.queued": "queued",
    "build.started": "started",
    "build.succeeded": "succeeded",
    "build.failed": "FAILED",
    "build.errored": "errored",
    "build.timed_out": "timed out",
    "build.canceled": "canceled",
    "build.superseded": "superseded",
}


def chat_message(event: str, record: BuildRecord, build_url: str) -> tuple[str, str]:
    """A title and one readable line: repository, ref, tags, status and link."""
    word = EVENT_WORDS.get(event, event)
    tags = ", ".join(record.docker_tags)
    title = f"Autobuild: {record.repository} {record.source_name} {word}"
    line = (
        f"{record.repository} {record.source_type.value} {record.source_name}"
        f" ({record.commit[:7]}) -> {record.image}:{tags}: {word}"
    )
    if record.error and record.status.terminal:
        line += f": {record.error}"
    return title, f"{line} {build_url}"
