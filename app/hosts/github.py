"""GitHub webhooks (``POST /webhooks/github``).

Headers: ``X-GitHub-Event`` (push, ping, create, delete, ...), ``X-GitHub-Delivery`` (one GUID per
event, kept on redelivery), ``X-Hub-Signature-256: sha256=<hex>`` over the raw body as sent, also
for form-encoded bodies (``payload=<urlencoded JSON>``).

The push parsing here is shared with Gitea, Forgejo and Gogs, whose push bodies copy GitHub's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.hosts.base import (
    HeaderMap,
    PayloadError,
    PingWithoutRepository,
    SignatureError,
    changed_files,
    check_prefixed_signature,
    check_repository_name,
    check_sha,
    delivery_id,
    get_str,
    header,
    ignored,
    json_bytes,
    load_json_object,
    not_built_ref,
    objects,
    opt_bool,
    opt_list,
    opt_obj,
    opt_str,
    previous_sha,
    sha_field,
    split_ref,
    text_field,
    unbuilt_without_repository,
)
from app.hosts.pullrequests import github_shaped
from core.events import Delivery, PushEvent, RefType
from core.gitnames import is_zero_id

PROVIDER = "github"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADERS = ("X-GitHub-Delivery",)
SIGNATURE_HEADER = "X-Hub-Signature-256"
COMMIT_LIST_CAP = 2048  # GitHub lists at most this many commits in a push

REF_EVENTS_REASON = "{event} events are not built: push events already cover them"

# (payload, listed commits) -> whether the host cut the commit list short
TruncationCheck = Callable[[dict[str, Any], list[dict[str, Any]]], bool]


def _payload(headers: HeaderMap, body: bytes) -> dict[str, Any]:
    return load_json_object(json_bytes(headers, body, form_allowed=True))


def _event(headers: HeaderMap) -> str:
    event = header(headers, EVENT_HEADER)
    if event is None or not event.strip():
        raise PayloadError(f"The {EVENT_HEADER} header is missing; is this a GitHub delivery?")
    return event.strip().lower()


def full_name(data: dict[str, Any], *, event: str | None) -> str:
    """``repository.full_name``; a ping or another event we do not build may lack it."""
    repository = opt_obj(data, "repository", "repository")
    if repository is None:
        if event == "ping" or "zen" in data:
            raise PingWithoutRepository(
                "This ping names no repository (an organization or app webhook): it was received."
            )
        if event is not None and event != "push":
            raise unbuilt_without_repository(event)
        raise PayloadError("The payload has no 'repository'.")
    name = get_str(repository, "full_name", "repository.full_name")
    return check_repository_name(name, "repository.full_name")


def repository_name(headers: HeaderMap, body: bytes) -> str:
    event = header(headers, EVENT_HEADER)
    return full_name(_payload(headers, body), event=event.strip().lower() if event else None)


def verify(headers: HeaderMap, body: bytes, secret: str) -> None:
    if header(headers, SIGNATURE_HEADER) is None and header(headers, "X-Hub-Signature") is not None:
        raise SignatureError(
            f"Only the SHA-1 X-Hub-Signature header was sent; Autobuild checks {SIGNATURE_HEADER}. "
            "Set a secret on the webhook (GitHub then sends both)."
        )
    check_prefixed_signature(headers, SIGNATURE_HEADER, secret, body)


def parse(headers: HeaderMap, body: bytes) -> Delivery:
    delivery = delivery_id(headers, DELIVERY_HEADERS, body)
    event = _event(headers)
    data = _payload(headers, body)
    if event == "ping":
        return ignored(delivery, "ping: the webhook works")
    if event in ("create", "delete"):
        return ignored(delivery, REF_EVENTS_REASON.format(event=event))
    if event == "pull_request":
        return github_shaped(data, PROVIDER, full_name(data, event=event), delivery)
    if event != "push":
        return ignored(delivery, f"event {event!r} is not built")
    repository = full_name(data, event=event)
    return push_delivery(
        data, PROVIDER, repository, delivery, truncated=lambda _data, c: len(c) >= COMMIT_LIST_CAP
    )


def push_delivery(
    data: dict[str, Any],
    provider: str,
    repository: str,
    delivery: str,
    *,
    truncated: TruncationCheck,
) -> Delivery:
    """A GitHub-shaped push body (GitHub, Gitea, Forgejo, Gogs) as a delivery of one event.

    The commit is ``after``; for a tag it is ``head_commit.id`` when given, because ``after`` is
    the tag object for annotated tags. Changed files are unknown (None) for a new ref, a forced
    push, a push listing no commits, or a commit list the host cut short.
    """
    ref = get_str(data, "ref", "ref")
    split = split_ref(ref, "ref")
    after = sha_field(data, "after", "after")
    if opt_bool(data, "deleted", "deleted") or is_zero_id(after):
        return ignored(delivery, f"{ref} was deleted; deletions are not built")
    if split is None:
        return ignored(delivery, not_built_ref(ref))
    ref_type, ref_name = split
    before = previous_sha(opt_str(data, "before", "before"), "before")
    created = opt_bool(data, "created", "created") or before is None
    forced = opt_bool(data, "forced", "forced")

    listed = opt_list(data, "commits", "commits")
    commits = objects(listed, "commits") if listed is not None else None
    head = opt_obj(data, "head_commit", "head_commit")
    head_id = check_sha(get_str(head, "id", "head_commit.id"), "head_commit.id") if head else None

    commit = head_id if ref_type is RefType.TAG and head_id else after
    if head is not None:
        message = text_field(head.get("message"), "head_commit.message")
    elif commits:
        message = text_field(commits[-1].get("message"), f"commits[{len(commits) - 1}].message")
    else:
        message = ""

    changed: tuple[str, ...] | None = None
    if not (created or forced or not commits or truncated(data, commits)):
        changed = changed_files(commits)

    event = PushEvent(
        provider=provider,
        repository=repository,
        ref_type=ref_type,
        ref_name=ref_name,
        commit=commit,
        before=before,
        delivery_id=delivery,
        changed_files=changed,
        head_message=message,
        base_ref=tag_base_ref(data) if ref_type is RefType.TAG else None,
    )
    return Delivery(delivery_id=delivery, events=(event,))


def tag_base_ref(data: dict[str, Any]) -> str | None:
    """GitHub's ``base_ref`` of a tag push (``refs/heads/main``) as a branch name, or None."""
    base = opt_str(data, "base_ref", "base_ref")
    split = split_ref(base, "base_ref") if base else None
    return split[1] if split is not None and split[0] is RefType.BRANCH else None
