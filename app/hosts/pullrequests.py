"""Pull (merge) request deliveries of every host, turned into one pull request event each.

Which actions build (a new head commit to test), per host:

* GitHub and Gitea/Forgejo ``pull_request``: ``opened``, ``reopened``, ``synchronize`` (Gitea
  spells it ``synchronized``); ``closed`` and everything else is ignored. Pull ref
  ``refs/pull/N/head``.
* GitLab ``Merge Request Hook``: ``open``, ``reopen``, and ``update`` when it carries
  ``oldrev`` (new commits; an update without is a title or label edit). Pull ref
  ``refs/merge-requests/N/head``.
* Bitbucket Server ``pr:opened`` and ``pr:from_ref_updated``. Pull ref
  ``refs/pull-requests/N/from``.
* Bitbucket Cloud ``pullrequest:created`` and ``pullrequest:updated``. No pull refs: the head
  branch is fetched (from the fork's clone URL for a fork), and its commit hash comes
  abbreviated (12 hex digits), so the worker resolves it against the fetched branch.

The head is a *fork* when it lives in another repository than the base. Nothing the payload
names is ever used as a URL except Bitbucket Cloud's fork link, which the worker uses only on the
configured clone URL's host. Skip markers apply where the payload carries the head commit's
message (GitLab's ``last_commit``); a pull request's title never skips a build.
"""

from __future__ import annotations

import re
from typing import Any

from app.hosts.base import (
    PayloadError,
    check_sha,
    get_obj,
    get_str,
    ignored,
    opt_int,
    opt_obj,
    opt_str,
    ref_from_short,
    split_ref,
    text_field,
)
from core.events import Delivery, PullRequest, PushEvent, RefType

GITHUB_ACTIONS = ("opened", "reopened", "synchronize", "synchronized")
GITLAB_ACTIONS = ("open", "reopen", "update")
MAX_NUMBER = 2**53
_ABBREVIATED_SHA = re.compile(r"[0-9a-f]{7,64}")


def _number(value: int | None, path: str) -> int:
    if value is None:
        raise PayloadError(f"The payload has no '{path}'.")
    if not 0 < value < MAX_NUMBER:
        raise PayloadError(f"The payload's '{path}' is not a pull request number: {value}.")
    return value


def _branch(name: str, path: str) -> str:
    """A checked short branch name (``refs/heads/x`` is accepted and shortened)."""
    if name.startswith("refs/"):
        split = split_ref(name, path)
        if split is None or split[0] is not RefType.BRANCH:
            raise PayloadError(f"The payload's '{path}' is not a branch: {name!r}.")
        return split[1]
    return ref_from_short(RefType.BRANCH, name, path)[1]


def _event(
    provider: str,
    repository: str,
    delivery: str,
    commit: str,
    pull: PullRequest,
    message: str = "",
) -> Delivery:
    event = PushEvent(
        provider=provider,
        repository=repository,
        ref_type=RefType.PULL_REQUEST,
        ref_name=pull.base_ref,
        commit=commit,
        delivery_id=delivery,
        changed_files=None,  # a pull request's files are not listed: path filters let it through
        head_message=message,
        pull_request=pull,
    )
    return Delivery(delivery_id=delivery, events=(event,))


def github_shaped(data: dict[str, Any], provider: str, repository: str, delivery: str) -> Delivery:
    """GitHub's and Gitea's ``pull_request`` body (same shape)."""
    action = get_str(data, "action", "action")
    if action not in GITHUB_ACTIONS:
        return ignored(delivery, f"pull request action {action!r} is not built")
    pull = get_obj(data, "pull_request", "pull_request")
    number = _number(opt_int(pull, "number", "pull_request.number"), "pull_request.number")
    head = get_obj(pull, "head", "pull_request.head")
    base = get_obj(pull, "base", "pull_request.base")
    commit = check_sha(get_str(head, "sha", "pull_request.head.sha"), "pull_request.head.sha")
    head_repo = opt_obj(head, "repo", "pull_request.head.repo")
    base_repo = get_obj(base, "repo", "pull_request.base.repo")
    base_name = get_str(base_repo, "full_name", "pull_request.base.repo.full_name")
    # A deleted fork leaves head.repo null: still a fork.
    fork = head_repo is None or (
        get_str(head_repo, "full_name", "pull_request.head.repo.full_name").lower()
        != base_name.lower()
    )
    info = PullRequest(
        number=number,
        head_ref=_branch(get_str(head, "ref", "pull_request.head.ref"), "pull_request.head.ref"),
        base_ref=_branch(get_str(base, "ref", "pull_request.base.ref"), "pull_request.base.ref"),
        fork=fork,
        fetch_ref=f"refs/pull/{number}/head",
    )
    return _event(provider, repository, delivery, commit, info)


def gitlab(data: dict[str, Any], provider: str, repository: str, delivery: str) -> Delivery:
    """GitLab's ``Merge Request Hook``."""
    attrs = get_obj(data, "object_attributes", "object_attributes")
    action = opt_str(attrs, "action", "object_attributes.action") or ""
    if action not in GITLAB_ACTIONS:
        return ignored(delivery, f"merge request action {action!r} is not built")
    if action == "update" and not opt_str(attrs, "oldrev", "object_attributes.oldrev"):
        return ignored(delivery, "the merge request was updated without new commits")
    number = _number(opt_int(attrs, "iid", "object_attributes.iid"), "object_attributes.iid")
    last = get_obj(attrs, "last_commit", "object_attributes.last_commit")
    commit = check_sha(
        get_str(last, "id", "object_attributes.last_commit.id"), "object_attributes.last_commit.id"
    )
    source = opt_int(attrs, "source_project_id", "object_attributes.source_project_id")
    target = opt_int(attrs, "target_project_id", "object_attributes.target_project_id")
    info = PullRequest(
        number=number,
        head_ref=_branch(
            get_str(attrs, "source_branch", "object_attributes.source_branch"),
            "object_attributes.source_branch",
        ),
        base_ref=_branch(
            get_str(attrs, "target_branch", "object_attributes.target_branch"),
            "object_attributes.target_branch",
        ),
        fork=source is None or source != target,
        fetch_ref=f"refs/merge-requests/{number}/head",
    )
    message = text_field(last.get("message"), "object_attributes.last_commit.message")
    return _event(provider, repository, delivery, commit, info, message)


def bitbucket_server(
    data: dict[str, Any], provider: str, repository: str, delivery: str
) -> Delivery:
    """Bitbucket Server's ``pr:opened`` / ``pr:from_ref_updated``."""
    pull = get_obj(data, "pullRequest", "pullRequest")
    number = _number(opt_int(pull, "id", "pullRequest.id"), "pullRequest.id")
    from_ref = get_obj(pull, "fromRef", "pullRequest.fromRef")
    to_ref = get_obj(pull, "toRef", "pullRequest.toRef")
    commit = check_sha(
        get_str(from_ref, "latestCommit", "pullRequest.fromRef.latestCommit"),
        "pullRequest.fromRef.latestCommit",
    )
    from_repo = get_obj(from_ref, "repository", "pullRequest.fromRef.repository")
    to_repo = get_obj(to_ref, "repository", "pullRequest.toRef.repository")
    from_id = opt_int(from_repo, "id", "pullRequest.fromRef.repository.id")
    to_id = opt_int(to_repo, "id", "pullRequest.toRef.repository.id")
    info = PullRequest(
        number=number,
        head_ref=_branch(
            get_str(from_ref, "id", "pullRequest.fromRef.id"), "pullRequest.fromRef.id"
        ),
        base_ref=_branch(get_str(to_ref, "id", "pullRequest.toRef.id"), "pullRequest.toRef.id"),
        fork=from_id is None or from_id != to_id,
        fetch_ref=f"refs/pull-requests/{number}/from",
    )
    return _event(provider, repository, delivery, commit, info)


def server_repository(data: dict[str, Any]) -> dict[str, Any]:
    """The repository a Bitbucket Server pull request event is for: the target's."""
    pull = get_obj(data, "pullRequest", "pullRequest")
    to_ref = get_obj(pull, "toRef", "pullRequest.toRef")
    return get_obj(to_ref, "repository", "pullRequest.toRef.repository")


def bitbucket_cloud(
    data: dict[str, Any], provider: str, repository: str, delivery: str
) -> Delivery:
    """Bitbucket Cloud's ``pullrequest:created`` / ``pullrequest:updated``."""
    pull = get_obj(data, "pullrequest", "pullrequest")
    number = _number(opt_int(pull, "id", "pullrequest.id"), "pullrequest.id")
    source = get_obj(pull, "source", "pullrequest.source")
    destination = get_obj(pull, "destination", "pullrequest.destination")
    commit = get_str(
        get_obj(source, "commit", "pullrequest.source.commit"),
        "hash",
        "pullrequest.source.commit.hash",
    )
    if not _ABBREVIATED_SHA.fullmatch(commit):
        raise PayloadError(
            "The payload's 'pullrequest.source.commit.hash' is not a commit hash "
            "(7 to 64 lowercase hex digits)."
        )
    head_ref = _branch(
        get_str(
            get_obj(source, "branch", "pullrequest.source.branch"),
            "name",
            "pullrequest.source.branch.name",
        ),
        "pullrequest.source.branch.name",
    )
    base_ref = _branch(
        get_str(
            get_obj(destination, "branch", "pullrequest.destination.branch"),
            "name",
            "pullrequest.destination.branch.name",
        ),
        "pullrequest.destination.branch.name",
    )
    source_repo = opt_obj(source, "repository", "pullrequest.source.repository")
    dest_repo = get_obj(destination, "repository", "pullrequest.destination.repository")
    dest_name = get_str(dest_repo, "full_name", "pullrequest.destination.repository.full_name")
    fork_url = None
    fork = True
    if source_repo is not None:
        source_name = get_str(source_repo, "full_name", "pullrequest.source.repository.full_name")
        fork = source_name.lower() != dest_name.lower()
        if fork:
            fork_url = _cloud_clone_url(source_repo)
    info = PullRequest(
        number=number,
        head_ref=head_ref,
        base_ref=base_ref,
        fork=fork,
        fetch_ref=f"refs/heads/{head_ref}",
        fork_clone_url=fork_url,
    )
    return _event(provider, repository, delivery, commit, info)


def _cloud_clone_url(repository: dict[str, Any]) -> str | None:
    """The fork's https clone URL, from its web link (``links.html.href`` + ``.git``)."""
    links = opt_obj(repository, "links", "pullrequest.source.repository.links")
    html = opt_obj(links, "html", "pullrequest.source.repository.links.html") if links else None
    href = opt_str(html, "href", "pullrequest.source.repository.links.html.href") if html else None
    if not href or not href.startswith("https://") or not href.isprintable():
        return None
    return href.rstrip("/") + ".git"
