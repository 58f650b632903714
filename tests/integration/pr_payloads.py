"""Signed pull request deliveries per git host, built from the real payloads in
``tests/fixtures/webhooks``: the test's repository name, number, branches and head commit put in,
signed as that host signs."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from tests.integration.host_payloads import SignedDelivery, hex_hmac, load_fixture
from tests.integration.webhook_helpers import sign


@dataclass(frozen=True)
class Pull:
    """What a pull request event says: its repository, number, head commit and branches."""

    repository: str  # as the host names it (Bitbucket Server: PROJECT/slug)
    number: int
    head: str
    head_ref: str = "feature/x"
    base_ref: str = "main"
    fork: bool = False


def _json(data: object) -> bytes:
    return json.dumps(data, indent=2).encode()


def github_pull(secret: str, pull: Pull, action: str = "opened") -> SignedDelivery:
    data = load_fixture("github", "pull-request-opened.json")
    data.update(action=action, number=pull.number)
    data["repository"]["full_name"] = pull.repository
    pr = data["pull_request"]
    pr["number"] = pull.number
    pr["head"].update(sha=pull.head, ref=pull.head_ref)
    pr["base"]["ref"] = pull.base_ref
    pr["base"]["repo"]["full_name"] = pull.repository
    pr["head"]["repo"]["full_name"] = "someone/fork" if pull.fork else pull.repository
    body = _json(data)
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(secret, body),
    }
    return SignedDelivery("github", body, headers)


def gitea_pull(secret: str, pull: Pull) -> SignedDelivery:
    data = load_fixture("gitea", "pull-request-opened.json")
    data.pop("secret", None)
    data["number"] = pull.number
    data["repository"]["full_name"] = pull.repository
    pr = data["pull_request"]
    pr["number"] = pull.number
    pr["head"].update(sha=pull.head, ref=pull.head_ref)
    pr["base"]["ref"] = pull.base_ref
    pr["base"]["repo"]["full_name"] = pull.repository
    pr["head"]["repo"]["full_name"] = "someone/fork" if pull.fork else pull.repository
    body = _json(data)
    headers = {
        "Content-Type": "application/json",
        "X-Gitea-Event": "pull_request",
        "X-Gitea-Delivery": str(uuid.uuid4()),
        "X-Gitea-Signature": hex_hmac(secret, body),
    }
    return SignedDelivery("gitea", body, headers)


def gitlab_pull(secret: str, pull: Pull) -> SignedDelivery:
    data = load_fixture("gitlab", "merge-request-hook-open.json")
    data["project"]["path_with_namespace"] = pull.repository
    attrs = data["object_attributes"]
    attrs.update(
        iid=pull.number,
        action="open",
        source_branch=pull.head_ref,
        target_branch=pull.base_ref,
        target_project_id=attrs["target_project_id"],
        source_project_id=attrs["target_project_id"] + (1 if pull.fork else 0),
    )
    attrs["last_commit"]["id"] = pull.head
    body = _json(data)
    headers = {
        "Content-Type": "application/json",
        "X-Gitlab-Event": "Merge Request Hook",
        "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        "X-Gitlab-Token": secret,
    }
    return SignedDelivery("gitlab", body, headers)


def bitbucket_server_pull(secret: str, pull: Pull) -> SignedDelivery:
    data = load_fixture("bitbucket-server", "pr-opened.json")
    key, slug = pull.repository.split("/")
    pr = data["pullRequest"]
    pr["id"] = pull.number
    to_repo = pr["toRef"]["repository"]
    to_repo.update(slug=slug, name=slug)
    to_repo["project"]["key"] = key
    pr["toRef"].update(id=f"refs/heads/{pull.base_ref}", displayId=pull.base_ref)
    pr["fromRef"].update(
        id=f"refs/heads/{pull.head_ref}", displayId=pull.head_ref, latestCommit=pull.head
    )
    pr["fromRef"]["repository"]["id"] = to_repo["id"] + (1 if pull.fork else 0)
    body = _json(data)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Event-Key": "pr:opened",
        "X-Request-Id": str(uuid.uuid4()),
        "X-Hub-Signature": sign(secret, body),
    }
    return SignedDelivery("bitbucket", body, headers)


def bitbucket_cloud_pull(secret: str, pull: Pull) -> SignedDelivery:
    """Bitbucket Cloud abbreviates the head commit to 12 hex digits, as here."""
    data = load_fixture("bitbucket-cloud", "pullrequest-created.json")
    data["repository"]["full_name"] = pull.repository
    pr = data["pullrequest"]
    pr["id"] = pull.number
    pr["source"]["commit"]["hash"] = pull.head[:12]
    pr["source"]["branch"]["name"] = pull.head_ref
    pr["destination"]["branch"]["name"] = pull.base_ref
    pr["destination"]["repository"]["full_name"] = pull.repository
    pr["source"]["repository"]["full_name"] = "someone/fork" if pull.fork else pull.repository
    body = _json(data)
    headers = {
        "Content-Type": "application/json",
        "X-Event-Key": "pullrequest:created",
        "X-Request-UUID": str(uuid.uuid4()),
        "X-Hub-Signature": sign(secret, body),
    }
    return SignedDelivery("bitbucket", body, headers)
