"""Gitea, Forgejo and Gogs webhooks (``POST /webhooks/gitea``).

All three send a GitHub-shaped push body. Event: ``X-Forgejo-Event`` / ``X-Gitea-Event`` /
``X-Gogs-Event`` (mirrored in ``X-GitHub-Event``). Signature: ``X-Forgejo-Signature`` /
``X-Gitea-Signature`` / ``X-Gogs-Signature`` as bare hex HMAC-SHA256, or GitHub's
``X-Hub-Signature-256: sha256=<hex>``. The signature covers the JSON text: for a form-encoded
delivery that is the decoded ``payload`` field, not the body as sent.

There are no created/deleted/forced flags: an all-zero ``before`` or ``after`` marks creation or
deletion. Older Gitea and Gogs cut the commit list at ``[ui] FEED_MAX_COMMIT_NUM`` (default 5)
without saying so; newer Gitea reports ``total_commits``.
"""

from __future__ import annotations

from typing import Any

from app.hosts.base import (
    HeaderMap,
    PayloadError,
    SignatureError,
    check_hex_signature,
    check_prefixed_signature,
    check_repository_name,
    check_secret_configured,
    delivery_id,
    first_header,
    get_obj,
    get_str,
    ignored,
    json_bytes,
    load_json_object,
    opt_int,
    unbuilt_without_repository,
)
from app.hosts.github import REF_EVENTS_REASON, push_delivery
from app.hosts.pullrequests import github_shaped
from core.events import Delivery

PROVIDER = "gitea"
EVENT_HEADERS = ("X-Forgejo-Event", "X-Gitea-Event", "X-Gogs-Event", "X-GitHub-Event")
DELIVERY_HEADERS = (
    "X-Forgejo-Delivery",
    "X-Gitea-Delivery",
    "X-Gogs-Delivery",
    "X-GitHub-Delivery",
)
HEX_SIGNATURE_HEADERS = ("X-Forgejo-Signature", "X-Gitea-Signature", "X-Gogs-Signature")
PREFIXED_SIGNATURE_HEADER = "X-Hub-Signature-256"
UNREPORTED_CAP = 5  # older Gitea/Gogs: FEED_MAX_COMMIT_NUM, the silent commit-list limit


def _json(headers: HeaderMap, body: bytes) -> bytes:
    return json_bytes(headers, body, form_allowed=True)


def _repository(data: dict[str, Any]) -> str:
    repository = get_obj(data, "repository", "repository")
    name = get_str(repository, "full_name", "repository.full_name")
    return check_repository_name(name, "repository.full_name")


def _event(headers: HeaderMap) -> str | None:
    found = first_header(headers, EVENT_HEADERS)
    return found[1].strip().lower() if found and found[1].strip() else None


def repository_name(headers: HeaderMap, body: bytes) -> str:
    data = load_json_object(_json(headers, body))
    event = _event(headers)
    if data.get("repository") is None and event is not None and event != "push":
        raise unbuilt_without_repository(event)
    return _repository(data)


def verify(headers: HeaderMap, body: bytes, secret: str) -> None:
    check_secret_configured(secret)
    signed = _json(headers, body)
    found = first_header(headers, HEX_SIGNATURE_HEADERS)
    if found is not None:
        name, value = found
        check_hex_signature(value, secret, signed, name)
        return
    if first_header(headers, (PREFIXED_SIGNATURE_HEADER,)) is not None:
        check_prefixed_signature(headers, PREFIXED_SIGNATURE_HEADER, secret, signed)
        return
    raise SignatureError(
        "No signature header was sent (X-Gitea-Signature, X-Forgejo-Signature, X-Gogs-Signature "
        "or X-Hub-Signature-256): set the same secret on the webhook as in Autobuild's "
        "configuration."
    )


def _truncated(data: dict[str, Any], commits: list[dict[str, Any]]) -> bool:
    total = opt_int(data, "total_commits", "total_commits")
    if total is None:
        return len(commits) >= UNREPORTED_CAP
    return total > len(commits)


def parse(headers: HeaderMap, body: bytes) -> Delivery:
    delivery = delivery_id(headers, DELIVERY_HEADERS, body)
    event = _event(headers)
    if event is None:
        raise PayloadError(
            "The X-Gitea-Event header (or X-Forgejo-Event, X-Gogs-Event) is missing; "
            "is this a Gitea, Forgejo or Gogs delivery?"
        )
    data = load_json_object(_json(headers, body))
    if event in ("create", "delete"):
        return ignored(delivery, REF_EVENTS_REASON.format(event=event))
    if event == "pull_request":
        return github_shaped(data, PROVIDER, _repository(data), delivery)
    if event != "push":
        return ignored(delivery, f"event {event!r} is not built")
    return push_delivery(data, PROVIDER, _repository(data), delivery, truncated=_truncated)
