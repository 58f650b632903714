"""Signed deliveries per git host, built from the real payloads in ``tests/fixtures/webhooks``.

Each builder takes a real fixture, puts a test repository's name, refs and commit ids into it (the
rest of the payload stays as the host sent it) and signs it the way that host does. The result is
a :class:`SignedDelivery` that the end-to-end tests POST through Flask's test client.

Also here: reading a pushed image's configuration (labels, history) straight from the registry,
so a test can tell which commit a build really built.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from flask.testing import FlaskClient

from tests.integration.webhook_helpers import ZERO, sign

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

MANIFEST_ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
LABEL_REVISION = "org.opencontainers.image.revision"


# --- what a delivery carries ---------------------------------------------------------------------


@dataclass(frozen=True)
class Commit:
    """One commit as the hosts list it (id, message and, where the host sends them, file lists)."""

    sha: str
    message: str = "a commit"
    added: tuple[str, ...] = ()
    modified: tuple[str, ...] = ("Dockerfile",)
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class RefChange:
    """One ref update in a delivery: ``after`` is the new value of the ref (for an annotated tag,
    the tag object), ``commit`` the commit it peels to (default ``after``), ``before`` None for a
    new ref."""

    ref: str
    after: str
    before: str | None = None
    commit: str | None = None
    message: str = "a commit"
    changed_files: tuple[str, ...] | None = None

    @property
    def short_name(self) -> str:
        return self.ref.removeprefix("refs/heads/").removeprefix("refs/tags/")

    @property
    def is_tag(self) -> bool:
        return self.ref.startswith("refs/tags/")

    @property
    def peeled(self) -> str:
        return self.commit or self.after


@dataclass(frozen=True)
class SignedDelivery:
    """A webhook request as the host would send it: endpoint, exact body bytes and headers."""

    provider: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"/webhooks/{self.provider}"

    def post(self, client: FlaskClient) -> Any:
        return client.post(self.path, data=self.body, headers=dict(self.headers))


# --- fixtures ------------------------------------------------------------------------------------


def load_fixture(folder: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / folder / name).read_bytes())
    return data


def renamed(data: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """``data`` with every occurrence of ``old`` in its text (names, URLs) replaced by ``new``."""
    text = json.dumps(data).replace(old, json.dumps(new)[1:-1])
    result: dict[str, Any] = json.loads(text)
    return result


def hex_hmac(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def _json_body(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, indent=2).encode()


def _github_commit(template: Mapping[str, Any], commit: Commit, url_base: str) -> dict[str, Any]:
    entry = copy.deepcopy(dict(template))
    entry.update(
        id=commit.sha,
        message=commit.message,
        url=f"{url_base}/commit/{commit.sha}",
        added=list(commit.added),
        modified=list(commit.modified),
        removed=list(commit.removed),
    )
    return entry


# --- GitHub --------------------------------------------------------------------------------------


def github_json_push(secret: str, payload: Mapping[str, Any]) -> SignedDelivery:
    """A GitHub ``push`` with content type ``application/json`` (``webhook_helpers.github_push``
    builds the payload)."""
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": JSON,
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(secret, body),
    }
    return SignedDelivery("github", body, headers)


# --- GitHub (form-encoded) -----------------------------------------------------------------------


def github_form_push(
    secret: str,
    repository: str,
    ref: str,
    after: str,
    before: str,
    commits: Sequence[Commit],
) -> SignedDelivery:
    """A push with the webhook's content type set to ``application/x-www-form-urlencoded``:
    ``payload=<urlencoded JSON>``, signed over the body as sent (from the Jenkins plugin's real
    push to ``lanwen/test``)."""
    data = renamed(
        load_fixture("github", "push-branch-update-jenkins.json"), "lanwen/test", repository
    )
    data["repository"]["name"] = repository.split("/")[-1]
    html = data["repository"]["html_url"]
    template = data["commits"][0]
    listed = [_github_commit(template, commit, html) for commit in commits]
    data.update(
        ref=ref,
        before=before,
        after=after,
        created=before == ZERO,
        deleted=False,
        forced=False,
        compare=f"{html}/compare/{before[:12]}...{after[:12]}",
        commits=listed,
        head_commit=listed[-1] if listed else None,
    )
    body = urlencode({"payload": json.dumps(data)}).encode()
    headers = {
        "Content-Type": FORM,
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "292430182",
        "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
        "X-Hub-Signature-256": sign(secret, body),
    }
    return SignedDelivery("github", body, headers)


# --- Bitbucket Cloud -----------------------------------------------------------------------------


def bitbucket_cloud_push(
    secret: str,
    repository: str,
    changes: Sequence[RefChange],
    request_uuid: str | None = None,
) -> SignedDelivery:
    """``repo:push`` with one ``push.changes`` entry per ref (from the real multi-change delivery
    to ``cloudbeers/temp``: its first entry is an update, its second a new branch)."""
    data = renamed(
        load_fixture("bitbucket-cloud", "repo-push-multiple-changes.json"),
        "cloudbeers/temp",
        repository,
    )
    data["repository"]["name"] = repository.split("/")[-1]
    update_template, create_template = data["push"]["changes"][:2]
    entries = []
    for change in changes:
        entry = copy.deepcopy(create_template if change.before is None else update_template)
        kind = "tag" if change.is_tag else "branch"
        # Bitbucket Cloud's target is the commit, also for an annotated tag.
        target = entry["new"]["target"]
        target.update(hash=change.peeled, message=change.message)
        entry["new"].update(type=kind, name=change.short_name)
        commit_template = entry["commits"][0]
        entry["commits"] = [{**commit_template, "hash": change.peeled, "message": change.message}]
        entry["truncated"] = False
        entry["created"] = change.before is None
        if change.before is not None:
            entry["old"].update(type=kind, name=change.short_name)
            entry["old"]["target"]["hash"] = change.before
        entries.append(entry)
    data["push"]["changes"] = entries
    body = _json_body(data)
    headers = {
        "Content-Type": JSON,
        "User-Agent": "Bitbucket-Webhooks/2.0",
        "X-Event-Key": "repo:push",
        "X-Request-UUID": request_uuid or str(uuid.uuid4()),
        "X-Hook-UUID": "{" + str(uuid.uuid4()) + "}",
        "X-Attempt-Number": "1",
        "X-Hub-Signature": sign(secret, body),
    }
    return SignedDelivery("bitbucket", body, headers)


# --- Bitbucket Server / Data Center --------------------------------------------------------------


def bitbucket_server_refs_changed(
    secret: str,
    project_key: str,
    slug: str,
    changes: Sequence[RefChange],
) -> SignedDelivery:
    """``repo:refs_changed`` (from the real update of ``AMUNIZ/test-repos``); ``toCommit`` is the
    commit of the last change, as the Server sends it (for an annotated tag, the tagged commit)."""
    data = load_fixture("bitbucket-server", "refs-changed-branch-update.json")
    data = renamed(data, "amuniz/test-repos", f"{project_key.lower()}/{slug}")
    data = renamed(data, "AMUNIZ/repos/test-repos", f"{project_key}/repos/{slug}")
    data = renamed(data, "projects/AMUNIZ", f"projects/{project_key}")
    repository = data["repository"]
    repository.update(name=slug, slug=slug)
    repository["project"]["key"] = project_key
    commit_template = data["commits"][0]
    data["changes"] = [
        {
            "fromHash": change.before or ZERO,
            "ref": {
                "displayId": change.short_name,
                "id": change.ref,
                "type": "TAG" if change.is_tag else "BRANCH",
            },
            "refId": change.ref,
            "toHash": change.after,
            "type": "ADD" if change.before is None else "UPDATE",
        }
        for change in changes
    ]
    data["commits"] = [
        {
            **commit_template,
            "id": change.peeled,
            "displayId": change.peeled[:11],
            "message": change.message,
        }
        for change in changes
    ]
    last = changes[-1]
    data["toCommit"].update(id=last.peeled, displayId=last.peeled[:11], message=last.message)
    body = _json_body(data)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Atlassian HttpClient 4.2.0 / Bitbucket-8.19.1 (8019001) / Default",
        "X-Event-Key": "repo:refs_changed",
        "X-Request-Id": str(uuid.uuid4()),
        "X-Hub-Signature": sign(secret, body),
    }
    return SignedDelivery("bitbucket", body, headers)


# --- GitLab --------------------------------------------------------------------------------------


def gitlab_push(
    secret: str,
    path_with_namespace: str,
    change: RefChange,
    commits: Sequence[Commit],
) -> SignedDelivery:
    """``Push Hook`` (from the real push to the subgroup project ``group1/group2/group3/grp2repo``)
    or, for a tag, ``Tag Push Hook`` (from GitLab's documented example): ``after`` is the new ref
    value (the tag object for an annotated tag), ``checkout_sha`` the commit."""
    if change.is_tag:
        event = "Tag Push Hook"
        data = renamed(
            load_fixture("gitlab", "tag-push-hook-docs-example.json"),
            "jsmith/example",
            path_with_namespace,
        )
    else:
        event = "Push Hook"
        data = renamed(
            load_fixture("gitlab", "push-hook-subgroup.json"),
            "group1/group2/group3/grp2repo",
            path_with_namespace,
        )
    namespace, _, name = path_with_namespace.rpartition("/")
    data["project"].update(name=name, namespace=namespace.rsplit("/", 1)[-1])
    data["repository"]["name"] = name
    web_url = data["project"]["web_url"]
    template = data["commits"][0]
    listed = []
    for commit in commits:
        entry = copy.deepcopy(template)
        entry.update(
            id=commit.sha,
            message=commit.message,
            title=commit.message.splitlines()[0] if commit.message else "",
            url=f"{web_url}/commit/{commit.sha}",
            added=list(commit.added),
            modified=list(commit.modified),
            removed=list(commit.removed),
        )
        listed.append(entry)
    data.update(
        ref=change.ref,
        before=change.before or ZERO,
        after=change.after,
        checkout_sha=change.peeled,
        commits=listed,
        total_commits_count=len(listed),
    )
    body = _json_body(data)
    event_uuid = str(uuid.uuid4())
    headers = {
        "Content-Type": JSON,
        "User-Agent": "GitLab/17.6.0",
        "X-Gitlab-Event": event,
        "X-Gitlab-Token": secret,
        "X-Gitlab-Instance": "https://gitlab.example.com",
        "X-Gitlab-Webhook-UUID": str(uuid.uuid4()),
        "X-Gitlab-Event-UUID": event_uuid,
        "Idempotency-Key": event_uuid,
    }
    return SignedDelivery("gitlab", body, headers)


# --- Gitea / Forgejo / Gogs ----------------------------------------------------------------------


def gitea_push(
    secret: str,
    repository: str,
    change: RefChange,
    commits: Sequence[Commit],
    *,
    form: bool = False,
) -> SignedDelivery:
    """A Gitea ``push`` (from the real push to ``gogits/hello-world``), signed with the bare-hex
    ``X-Gitea-Signature``. ``form``: the webhook's POST content type is form-encoded, so the body
    is ``payload=<urlencoded JSON>`` while the signature still covers the JSON text."""
    data = renamed(load_fixture("gitea", "push-branch.json"), "gogits/hello-world", repository)
    owner, _, name = repository.rpartition("/")
    data["repository"]["name"] = name
    data["repository"]["owner"].update(login=owner, username=owner)
    html = data["repository"]["html_url"]
    before = change.before or ZERO
    data.update(
        ref=change.ref,
        before=before,
        after=change.after,
        compare_url=f"{html}/compare/{before}...{change.after}",
        commits=[_github_commit(data["commits"][0], commit, html) for commit in commits],
        total_commits=len(commits),
    )
    json_text = _json_body(data)
    signature = hex_hmac(secret, json_text)
    body = urlencode({"payload": json_text.decode()}).encode() if form else json_text
    delivery = str(uuid.uuid4())
    headers = {
        "Content-Type": FORM if form else JSON,
        "User-Agent": "Go-http-client/1.1",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "X-Gogs-Event": "push",
        "X-Gogs-Delivery": delivery,
        "X-Gitea-Event": "push",
        "X-Gitea-Event-Type": "push",
        "X-Gitea-Delivery": delivery,
        "X-Gitea-Signature": signature,
    }
    return SignedDelivery("gitea", body, headers)


# --- plain git (the git hook's format) -----------------------------------------------------------


def git_push(secret: str, repository: str, changes: Sequence[RefChange]) -> SignedDelivery:
    """The document ``autobuild git-hook`` sends (see ``app.hosts.git``)."""
    document = {
        "repository": repository,
        "delivery_id": str(uuid.uuid4()),
        "timestamp": int(time.time()),
        "pushes": [
            {
                "ref": change.ref,
                "before": change.before,
                "after": change.after,
                "commit": change.peeled,
                "changed_files": (
                    list(change.changed_files) if change.changed_files is not None else None
                ),
                "head_message": change.message,
            }
            for change in changes
        ],
    }
    body = json.dumps(document).encode()
    headers = {
        "Content-Type": JSON,
        "User-Agent": "autobuild-git-hook/1",
        "X-Autobuild-Signature": sign(secret, body),
    }
    return SignedDelivery("git", body, headers)


# --- the registry --------------------------------------------------------------------------------


def registry_image_config(registry: str, image_path: str, digest: str) -> dict[str, Any]:
    """The image configuration (``config.Labels``, ``history``, ...) of ``image_path@digest``,
    read from the registry itself: the manifest, then its config blob."""
    manifest = requests.get(
        f"http://{registry}/v2/{image_path}/manifests/{digest}",
        headers={"Accept": MANIFEST_ACCEPT},
        timeout=10,
    )
    manifest.raise_for_status()
    config_digest = manifest.json()["config"]["digest"]
    blob = requests.get(f"http://{registry}/v2/{image_path}/blobs/{config_digest}", timeout=10)
    blob.raise_for_status()
    config: dict[str, Any] = blob.json()
    return config


def built_revision(registry: str, image_path: str, digest: str) -> str | None:
    """The commit the worker labelled the pushed image with."""
    labels = registry_image_config(registry, image_path, digest).get("config", {}).get("Labels")
    return (labels or {}).get(LABEL_REVISION)
