"""``/webhooks/<provider>/<owner>/<name>`` (issue 18, item 9d): the repository and its secret come
from the URL, so the signature is checked before the body is parsed; the old URL keeps working."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.integration.browser_helpers import ADMIN_TOKEN, REPO, SECRET, write_ui_config
from tests.integration.webhook_helpers import github_push, make_settings, sign

URL = f"/webhooks/github/{REPO}"


@pytest.fixture
def settings(tmp_path, redis_url, clean_redis):
    env = {"UI_WEBHOOK_SECRET": SECRET, "AUTOBUILD_ADMIN_TOKEN": ADMIN_TOKEN}
    return make_settings(write_ui_config(tmp_path), redis_url, tmp_path, **env)


def post(client, url, secret, payload):
    """A GitHub push delivery, signed with ``secret``, to ``url``."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(secret, body),
    }
    return client.post(url, data=body, headers=headers)


def test_a_signed_push_to_the_repositorys_url_queues_its_build(client):
    answer = post(client, URL, SECRET, github_push(REPO, "refs/heads/master", "a" * 40))
    assert answer.status_code == 202, answer.json
    assert [b["repository"] for b in answer.json["builds"]] == [REPO]


def test_an_unsigned_body_on_the_repositorys_url_is_refused_before_it_is_parsed(client):
    garbage = b"{" * 100_000  # not JSON: parsing it first would answer 400 "malformed"
    assert post(client, URL, "wrong-secret", garbage).status_code == 401
    assert post(client, "/webhooks/github", "wrong-secret", garbage).status_code == 400


def test_a_body_for_another_repository_is_refused_on_a_repositorys_url(client):
    other = github_push("octo/other", "refs/heads/master", "a" * 40)
    answer = post(client, URL, SECRET, other)
    assert answer.status_code == 400
    assert "the URL names 'octo/ui-demo'" in answer.json["error"]


def test_an_unknown_repository_in_the_url_is_not_configured(client):
    answer = post(client, "/webhooks/github/octo/nothere", SECRET, github_push(REPO, "x", "a" * 40))
    assert answer.status_code == 404
