"""GitLab webhooks (``POST /webhooks/gitlab``).

Events: ``X-Gitlab-Event: Push Hook`` and ``Tag Push Hook`` (``System Hook`` with object_kind
push / tag_push is accepted too). Authenticity: ``X-Gitlab-Token`` is the secret itself, compared
in constant time. Delivery id: ``Idempotency-Key`` (kept on retries, GitLab 17.4+), else
``X-Gitlab-Event-UUID``.

GitLab lists only the newest 20 commits and reports the real count in ``total_commits_count``.
``checkout_sha`` is the commit to build (for an annotated tag, ``after`` is the tag object).
"""

from __future__ import annotations

import hmac
from typing import Any

from app.hosts.base import (
    HeaderMap,
    PayloadError,
    SignatureError,
    changed_files,
    check_repository_name,
    check_secret_configured,
    check_sha,
    delivery_id,
    get_obj,
    get_str,
    header,
    ignored,
    load_json_object,
    not_built_ref,
    objects,
    opt_int,
    opt_list,
    opt_str,
    previous_sha,
    sha_field,
    split_ref,
    text_field,
    unbuilt_without_repository,
)
from app.hosts.pullrequests import gitlab as gitlab_pull
from core.events import Delivery, PushEvent
from core.gitnames import is_zero_id

PROVIDER = "gitlab"
EVENT_HEADER = "X-Gitlab-Event"
TOKEN_HEADER = "X-Gitlab-Token"
DELIVERY_HEADERS = ("Idempotency-Key", "X-Gitlab-Event-UUID")
MERGE_REQUEST_EVENT = "merge request hook"
PUSH_KINDS = {"push hook": "push", "tag push hook": "tag_push"}


def _repository(data: dict[str, Any]) -> str:
    project = get_obj(data, "project", "project")
    name = get_str(project, "path_with_namespace", "project.path_with_namespace")
    return check_repository_name(name, "project.path_with_namespace")


def repository_name(headers: HeaderMap, body: bytes) -> str:
    data = load_json_object(body)
    event = (header(headers, EVENT_HEADER) or "").strip()
    if data.get("project") is None and event and _object_kind(headers, data) is None:
        raise unbuilt_without_repository(event)
    return _repository(data)


def verify(headers: HeaderMap, body: bytes, secret: str) -> None:
    check_secret_configured(secret)
    token = header(headers, TOKEN_HEADER)
    if token is None or token == "":
        raise SignatureError(
            f"The {TOKEN_HEADER} header is missing: enter the configured secret as the "
            "webhook's secret token in GitLab."
        )
    if not hmac.compare_digest(token.encode("utf-8", "replace"), secret.encode("utf-8")):
        raise SignatureError(f"The {TOKEN_HEADER} header does not match the configured secret.")


def _object_kind(headers: HeaderMap, data: dict[str, Any]) -> str | None:
    """``push``, ``tag_push`` or ``merge_request`` for deliveries we build; None for others."""
    event = header(headers, EVENT_HEADER)
    if event is None or not event.strip():
        raise PayloadError(f"The {EVENT_HEADER} header is missing; is this a GitLab delivery?")
    event = event.strip().lower()
    kind = opt_str(data, "object_kind", "object_kind")
    if event in PUSH_KINDS:
        if kind is not None and kind != PUSH_KINDS[event]:
            raise PayloadError(
                f"The {EVENT_HEADER} header says {event!r} but object_kind is {kind!r}."
            )
        return PUSH_KINDS[event]
    if event == "system hook" and kind in ("push", "tag_push"):
        return kind
    if event == MERGE_REQUEST_EVENT:
        if kind is not None and kind != "merge_request":
            raise PayloadError(
                f"The {EVENT_HEADER} header says {event!r} but object_kind is {kind!r}."
            )
        return "merge_request"
    return None


def parse(headers: HeaderMap, body: bytes) -> Delivery:
    delivery = delivery_id(headers, DELIVERY_HEADERS, body)
    data = load_json_object(body)
    kind = _object_kind(headers, data)
    if kind == "merge_request":
        return gitlab_pull(data, PROVIDER, _repository(data), delivery)
    if kind is None:
        event = (header(headers, EVENT_HEADER) or "").strip()
        return ignored(delivery, f"event {event!r} is not built")
    repository = _repository(data)

    ref = get_str(data, "ref", "ref")
    split = split_ref(ref, "ref")
    after = sha_field(data, "after", "after")
    checkout = opt_str(data, "checkout_sha", "checkout_sha")
    if is_zero_id(after):
        return ignored(delivery, f"{ref} was deleted; deletions are not built")
    if split is None:
        return ignored(delivery, not_built_ref(ref))
    ref_type, ref_name = split
    before = previous_sha(opt_str(data, "before", "before"), "before")
    commit = check_sha(checkout, "checkout_sha") if checkout else after

    listed = opt_list(data, "commits", "commits")
    commits = objects(listed, "commits") if listed is not None else []
    message = ""
    for index, entry in enumerate(commits):
        if entry.get("id") == commit:
            message = text_field(entry.get("message"), f"commits[{index}].message")
            break
    else:
        if commits:
            message = text_field(commits[-1].get("message"), f"commits[{len(commits) - 1}].message")

    total = opt_int(data, "total_commits_count", "total_commits_count")
    changed: tuple[str, ...] | None = None
    if before is not None and commits and (total is None or total <= len(commits)):
        changed = changed_files(commits)

    push = PushEvent(
        provider=PROVIDER,
        repository=repository,
        ref_type=ref_type,
        ref_name=ref_name,
        commit=commit,
        before=before,
        delivery_id=delivery,
        changed_files=changed,
        head_message=message,
    )
    return Delivery(delivery_id=delivery, events=(push,))
