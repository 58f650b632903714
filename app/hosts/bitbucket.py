"""Bitbucket Cloud and Bitbucket Server / Data Center webhooks, both on ``/webhooks/bitbucket``.

Dispatch on ``X-Event-Key``:

* ``repo:push`` — Bitbucket Cloud. Repository ``full_name`` (``workspace/repo``); every entry of
  ``push.changes`` is one ref (several per delivery); ``new: null`` is a deletion. Delivery id
  ``X-Request-UUID``. The commits in the payload carry no file lists, so changed files are
  always unknown.
* ``repo:refs_changed`` — Bitbucket Server / Data Center. Repository ``PROJECT_KEY/repo-slug``;
  ``changes[]`` with ``ADD`` / ``UPDATE`` / ``DELETE``. Delivery id ``X-Request-Id``. No file lists
  either.
* ``diagnostics:ping`` — the Server's "Test connection" button, body ``{"test": true}``.

Both sign with ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>``.
"""

from __future__ import annotations

from typing import Any

from app.hosts.base import (
    HeaderMap,
    PayloadError,
    PingWithoutRepository,
    check_prefixed_signature,
    check_repository_name,
    check_sha,
    delivery_id,
    get_list,
    get_obj,
    get_str,
    header,
    ignored,
    load_json_object,
    objects,
    opt_list,
    opt_obj,
    previous_sha,
    ref_from_short,
    sha_field,
    split_ref,
    text_field,
    unbuilt_without_repository,
)
from app.hosts.pullrequests import bitbucket_cloud, bitbucket_server, server_repository
from core.events import Delivery, PushEvent, RefType
from core.gitnames import is_zero_id

PROVIDER = "bitbucket"
EVENT_HEADER = "X-Event-Key"
SIGNATURE_HEADER = "X-Hub-Signature"
CLOUD_PUSH = "repo:push"
SERVER_PUSH = "repo:refs_changed"
SERVER_PING = "diagnostics:ping"
CLOUD_PULL_REQUESTS = ("pullrequest:created", "pullrequest:updated")
SERVER_PULL_REQUESTS = ("pr:opened", "pr:from_ref_updated")
DELIVERY_HEADERS = ("X-Request-UUID", "X-Request-Id")
CLOUD_REF_TYPES = {"branch": RefType.BRANCH, "tag": RefType.TAG}
PING_REASON = "ping: Bitbucket's test connection reached Autobuild"


def _event(headers: HeaderMap) -> str:
    event = header(headers, EVENT_HEADER)
    if event is None or not event.strip():
        raise PayloadError(f"The {EVENT_HEADER} header is missing; is this a Bitbucket delivery?")
    return event.strip()


def _cloud_name(repository: dict[str, Any]) -> str:
    name = get_str(repository, "full_name", "repository.full_name")
    return check_repository_name(name, "repository.full_name")


def _server_name(repository: dict[str, Any]) -> str:
    project = get_obj(repository, "project", "repository.project")
    key = get_str(project, "key", "repository.project.key")
    slug = get_str(repository, "slug", "repository.slug")
    if not key or not slug or "/" in key or "/" in slug:
        raise PayloadError("The payload's repository project key or slug is empty or has a '/'.")
    return check_repository_name(f"{key}/{slug}", "repository.project.key/slug")


def _name(event: str, data: dict[str, Any]) -> str:
    if event in SERVER_PULL_REQUESTS:
        return _server_name(server_repository(data))
    repository = opt_obj(data, "repository", "repository")
    if repository is None:
        if event == SERVER_PING:
            raise PingWithoutRepository(f"{PING_REASON}; the ping names no repository.")
        if event not in (CLOUD_PUSH, SERVER_PUSH, *CLOUD_PULL_REQUESTS):
            raise unbuilt_without_repository(event)
        raise PayloadError("The payload has no 'repository'.")
    if event == CLOUD_PUSH:
        return _cloud_name(repository)
    if event == SERVER_PUSH or "full_name" not in repository:
        return _server_name(repository)
    return _cloud_name(repository)


def repository_name(headers: HeaderMap, body: bytes) -> str:
    return _name(_event(headers), load_json_object(body))


def verify(headers: HeaderMap, body: bytes, secret: str) -> None:
    check_prefixed_signature(headers, SIGNATURE_HEADER, secret, body)


def parse(headers: HeaderMap, body: bytes) -> Delivery:
    delivery = delivery_id(headers, DELIVERY_HEADERS, body)
    event = _event(headers)
    data = load_json_object(body)
    if event == SERVER_PING:
        return ignored(delivery, PING_REASON)
    if event == CLOUD_PUSH:
        return _collect(delivery, _cloud_events(data, delivery))
    if event == SERVER_PUSH:
        return _collect(delivery, _server_events(data, delivery))
    if event in CLOUD_PULL_REQUESTS:
        return bitbucket_cloud(data, PROVIDER, _name(event, data), delivery)
    if event in SERVER_PULL_REQUESTS:
        return bitbucket_server(data, PROVIDER, _name(event, data), delivery)
    return ignored(delivery, f"event {event!r} is not built")


def _collect(delivery: str, found: list[PushEvent] | str) -> Delivery:
    if isinstance(found, str):
        return ignored(delivery, found)
    return Delivery(delivery_id=delivery, events=tuple(found))


def _nothing(refs: list[str], deleted: int) -> str:
    if not refs:
        return "the push carries no ref changes"
    if deleted == len(refs):
        return "every ref in this push was deleted; deletions are not built"
    return "no branch or tag in this push is built: " + ", ".join(refs)


def _cloud_events(data: dict[str, Any], delivery: str) -> list[PushEvent] | str:
    repository = _cloud_name(get_obj(data, "repository", "repository"))
    push = get_obj(data, "push", "push")
    changes = objects(get_list(push, "changes", "push.changes"), "push.changes")
    events: list[PushEvent] = []
    refs: list[str] = []
    deleted = 0
    for index, change in enumerate(changes):
        where = f"push.changes[{index}]"
        new = opt_obj(change, "new", f"{where}.new")
        old = opt_obj(change, "old", f"{where}.old")
        if new is None:
            deleted += 1
            refs.append(get_str(old, "name", f"{where}.old.name") if old else "?")
            continue
        kind = get_str(new, "type", f"{where}.new.type")
        name = get_str(new, "name", f"{where}.new.name")
        refs.append(name)
        if kind not in CLOUD_REF_TYPES:
            continue
        ref_type, ref_name = ref_from_short(CLOUD_REF_TYPES[kind], name, f"{where}.new.name")
        target = get_obj(new, "target", f"{where}.new.target")
        commit = sha_field(target, "hash", f"{where}.new.target.hash")
        before = None
        if old is not None:
            old_target = get_obj(old, "target", f"{where}.old.target")
            before = previous_sha(
                get_str(old_target, "hash", f"{where}.old.target.hash"), f"{where}.old.target.hash"
            )
        events.append(
            PushEvent(
                provider=PROVIDER,
                repository=repository,
                ref_type=ref_type,
                ref_name=ref_name,
                commit=commit,
                before=before,
                delivery_id=delivery,
                changed_files=None,  # Bitbucket Cloud lists commits without their files
                head_message=text_field(target.get("message"), f"{where}.new.target.message"),
            )
        )
    return events or _nothing(refs, deleted)


def _server_message(data: dict[str, Any], commit: str) -> str:
    """The message of ``commit`` from ``toCommit`` or ``commits[]`` (newer Server versions)."""
    candidates: list[tuple[str, dict[str, Any]]] = []
    to_commit = opt_obj(data, "toCommit", "toCommit")
    if to_commit is not None:
        candidates.append(("toCommit", to_commit))
    listed = opt_list(data, "commits", "commits")
    if listed is not None:
        candidates += [(f"commits[{i}]", c) for i, c in enumerate(objects(listed, "commits"))]
    for where, candidate in candidates:
        if candidate.get("id") == commit:
            return text_field(candidate.get("message"), f"{where}.message")
    return ""


def _server_events(data: dict[str, Any], delivery: str) -> list[PushEvent] | str:
    repository = _server_name(get_obj(data, "repository", "repository"))
    changes = objects(get_list(data, "changes", "changes"), "changes")
    to_commit = opt_obj(data, "toCommit", "toCommit")
    events: list[PushEvent] = []
    refs: list[str] = []
    deleted = 0
    for index, change in enumerate(changes):
        where = f"changes[{index}]"
        ref = get_obj(change, "ref", f"{where}.ref")
        full = get_str(ref, "id", f"{where}.ref.id")
        split = split_ref(full, f"{where}.ref.id")
        kind = get_str(change, "type", f"{where}.type").upper()
        to_hash = sha_field(change, "toHash", f"{where}.toHash")
        refs.append(full)
        if kind == "DELETE" or is_zero_id(to_hash):
            deleted += 1
            continue
        if split is None:
            continue
        ref_type, ref_name = split
        before = previous_sha(get_str(change, "fromHash", f"{where}.fromHash"), f"{where}.fromHash")
        commit = to_hash
        if ref_type is RefType.TAG and len(changes) == 1 and to_commit is not None:
            # toHash of an annotated tag is the tag object; toCommit is the commit it tags.
            commit = check_sha(get_str(to_commit, "id", "toCommit.id"), "toCommit.id")
        events.append(
            PushEvent(
                provider=PROVIDER,
                repository=repository,
                ref_type=ref_type,
                ref_name=ref_name,
                commit=commit,
                before=before,
                delivery_id=delivery,
                changed_files=None,  # Bitbucket Server sends no file lists
                head_message=_server_message(data, commit),
            )
        )
    return events or _nothing(refs, deleted)
