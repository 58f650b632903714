"""Commit statuses, as each git host documents its API: the request that sets one build's status
on its commit. Pure: the caller sends it (:mod:`worker.notify.sender`).

| ours | GitHub | GitLab | Bitbucket Cloud | Bitbucket Server/DC | Gitea/Forgejo |
|---|---|---|---|---|---|
| queued | pending | pending | INPROGRESS | INPROGRESS | pending |
| cloning, building, pushing | pending | running | INPROGRESS | INPROGRESS | pending |
| success | success | success | SUCCESSFUL | SUCCESSFUL | success |
| failed | failure | failed | FAILED | FAILED | failure |
| error, timed_out | error | failed | FAILED | FAILED | error |
| canceled, superseded | error | canceled | STOPPED | CANCELLED | error |
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from buildrules.model import Repository
from core.build import BuildRecord, BuildStatus
from core.events import RefType

DEFAULT_API_URLS = {
    "github": "https://api.github.com",
    "gitlab": "https://gitlab.com/api/v4",
    "bitbucket": "https://api.bitbucket.org/2.0",
}
SERVER_API_SUFFIXES = ("/rest/api/latest", "/rest/api/1.0")  # Bitbucket Server/Data Center
DESCRIPTION_MAX = 140  # GitHub refuses longer descriptions
BITBUCKET_KEY_MAX = 40

_S = BuildStatus
_RUNNING = (_S.CLONING, _S.BUILDING, _S.PUSHING)
STATES: dict[str, dict[BuildStatus, str]] = {
    "github": {
        _S.QUEUED: "pending",
        **dict.fromkeys(_RUNNING, "pending"),
        _S.SUCCESS: "success",
        _S.FAILED: "failure",
        _S.ERROR: "error",
        _S.TIMED_OUT: "error",
        _S.CANCELED: "error",
        _S.SUPERSEDED: "error",
    },
    "gitlab": {
        _S.QUEUED: "pending",
        **dict.fromkeys(_RUNNING, "running"),
        _S.SUCCESS: "success",
        _S.FAILED: "failed",
        _S.ERROR: "failed",
        _S.TIMED_OUT: "failed",
        _S.CANCELED: "canceled",
        _S.SUPERSEDED: "canceled",
    },
    "bitbucket-cloud": {
        _S.QUEUED: "INPROGRESS",
        **dict.fromkeys(_RUNNING, "INPROGRESS"),
        _S.SUCCESS: "SUCCESSFUL",
        _S.FAILED: "FAILED",
        _S.ERROR: "FAILED",
        _S.TIMED_OUT: "FAILED",
        _S.CANCELED: "STOPPED",
        _S.SUPERSEDED: "STOPPED",
    },
    "bitbucket-server": {
        _S.QUEUED: "INPROGRESS",
        **dict.fromkeys(_RUNNING, "INPROGRESS"),
        _S.SUCCESS: "SUCCESSFUL",
        _S.FAILED: "FAILED",
        _S.ERROR: "FAILED",
        _S.TIMED_OUT: "FAILED",
        _S.CANCELED: "CANCELLED",
        _S.SUPERSEDED: "CANCELLED",
    },
}
STATES["gitea"] = STATES["github"]


@dataclass(frozen=True)
class Request:
    url: str
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)


class StatusConfigError(ValueError):
    """The repository's status keys cannot make a request (no API for it)."""


def status_api(repository: Repository) -> str:
    """Which API the repository's statuses go to: github, gitlab, bitbucket-cloud,
    bitbucket-server or gitea. A Bitbucket ``api_url`` ending in ``/rest/api/latest`` (or
    ``/rest/api/1.0``) is a Bitbucket Server/Data Center; any other is Bitbucket Cloud."""
    if repository.provider == "bitbucket":
        path = urlsplit(repository.api_url or "").path.rstrip("/")
        return "bitbucket-server" if path.endswith(SERVER_API_SUFFIXES) else "bitbucket-cloud"
    if repository.provider in ("github", "gitlab", "gitea"):
        return repository.provider
    raise StatusConfigError(f"{repository.provider} has no commit status API")


def api_root(repository: Repository) -> str:
    root = repository.api_url or DEFAULT_API_URLS.get(repository.provider)
    if not root:
        raise StatusConfigError(f"{repository.provider} statuses need api_url")
    return root.rstrip("/")


def context_of(repository: Repository, record: BuildRecord) -> str:
    """One status per build plan: ``autobuild/<image>:<first tag>``, or the configured name."""
    if repository.status_context:
        return repository.status_context
    first = record.docker_tags[0] if record.docker_tags else "latest"
    return f"autobuild/{record.image}:{first}"


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def description_of(record: BuildRecord) -> str:
    """One short sentence: what the build is doing, or why it ended as it did."""
    status = record.status
    if status is BuildStatus.QUEUED:
        text = "Queued."
    elif status.running:
        text = "Building."
    elif status is BuildStatus.SUCCESS:
        text = f"Pushed {', '.join(record.docker_tags)}."
    else:
        text = record.error or f"Build {status.value.replace('_', ' ')}."
    return _shorten(text, DESCRIPTION_MAX)


def bitbucket_key(context: str) -> str:
    if len(context) <= BITBUCKET_KEY_MAX:
        return context
    return "autobuild-" + hashlib.sha256(context.encode()).hexdigest()[: BITBUCKET_KEY_MAX - 10]


def _bearer(token: str) -> str:
    return f"Bearer {token}"


def _bitbucket_auth(token: str) -> str:
    """``user:secret`` (an app password or API token with its user) is Basic; else Bearer (an
    access token)."""
    if ":" in token:
        return "Basic " + base64.b64encode(token.encode()).decode()
    return _bearer(token)


def status_request(
    repository: Repository, record: BuildRecord, token: str, build_url: str
) -> Request:
    """The request that sets ``record``'s status on its commit, on the repository's host."""
    api = status_api(repository)
    root = api_root(repository)
    state = STATES[api][record.status]
    context = context_of(repository, record)
    description = description_of(record)
    name = repository.name
    sha = record.commit
    json_headers = {"Content-Type": "application/json", "User-Agent": "Autobuild"}
    if api in ("github", "gitea"):
        owner_repo = "/".join(quote(part, safe="") for part in name.split("/", 1))
        path = f"/repos/{owner_repo}/statuses/{sha}"
        auth = _bearer(token) if api == "github" else f"token {token}"
        headers = {**json_headers, "Authorization": auth}
        if api == "github":
            headers |= {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            }
        body = {
            "state": state,
            "target_url": build_url,
            "description": description,
            "context": context,
        }
        return Request(root + path, headers, body)
    if api == "gitlab":
        path = f"/projects/{quote(name, safe='')}/statuses/{sha}"
        body = {
            "state": state,
            "ref": record.source_name,
            "name": context,
            "target_url": build_url,
            "description": description,
        }
        return Request(root + path, {**json_headers, "PRIVATE-TOKEN": token}, body)
    workspace, _, slug = name.partition("/")
    key = bitbucket_key(context)
    common = {"key": key, "state": state, "url": build_url, "name": context}
    if api == "bitbucket-cloud":
        path = f"/repositories/{quote(workspace)}/{quote(slug)}/commit/{sha}/statuses/build"
        refname = record.pull_request.head_ref if record.pull_request else record.source_name
        body = {**common, "description": description, "refname": refname}
        return Request(root + path, {**json_headers, "Authorization": _bitbucket_auth(token)}, body)
    kind = "heads" if record.source_type is RefType.BRANCH else "tags"
    path = f"/projects/{quote(workspace)}/repos/{quote(slug)}/commits/{sha}/builds"
    ref = f"refs/{kind}/{record.source_name}"
    if record.pull_request is not None:  # the status belongs to the pull request's head branch
        ref = f"refs/heads/{record.pull_request.head_ref}"
    body = {**common, "description": description, "ref": ref}
    return Request(root + path, {**json_headers, "Authorization": _bearer(token)}, body)
