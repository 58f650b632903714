"""POST /webhooks/github on the real Redis: verification, answers, records and the queue."""

from __future__ import annotations

import json
import textwrap
import uuid
from urllib.parse import urlencode

import pytest

from core.queue import build_queue
from tests.integration.webhook_helpers import (
    ZERO,
    github_push,
    make_settings,
    post_github,
)

SECRET = "webhook-secret-for-tests"
REPO = "Octo/Hello-World"
SHA = "1" * 40


@pytest.fixture
def settings(tmp_path, redis_url):
    config = tmp_path / "autobuild.yml"
    config.write_text(
        textwrap.dedent(
            f"""
            repositories:
              - provider: github
                name: {REPO}
                clone_url: https://git.example.invalid/octo/hello.git
                image: 127.0.0.1:5000/octo/hello
                webhook_secret_env: HELLO_SECRET
                build_rules:
                  - source_type: branch
                    source: master
                    docker_tag: latest
                  - source_type: tag
                    source: /^v([0-9.]+)$/
                    docker_tag: '{{\\1}}'
              - provider: github
                name: octo/no-secret
                clone_url: https://git.example.invalid/octo/no-secret.git
                image: 127.0.0.1:5000/octo/no-secret
                webhook_secret_env: NO_SECRET_SET
                build_rules:
                  - source_type: branch
                    source: master
                    docker_tag: latest
            """
        )
    )
    return make_settings(config, redis_url, tmp_path, HELLO_SECRET=SECRET)


def test_signed_branch_push_queues_one_build(client, settings, redis_conn):
    answer = post_github(client, SECRET, github_push(REPO, "refs/heads/master", SHA))
    assert answer.status_code == 202, answer.json
    (build,) = answer.json["builds"]
    assert build["status"] == "queued"
    assert build["docker_tags"] == ["latest"]
    assert build["commit"] == SHA
    assert build["trigger"] == "webhook"
    assert build["image"] == "127.0.0.1:5000/octo/hello"
    queue = build_queue(redis_conn, settings.queue_name)
    assert [job.args for job in queue.jobs] == [[build["id"], 1]]  # the build and its attempt
    assert client.get(f"/api/v1/builds/{build['id']}").json["id"] == build["id"]


def test_tag_push_renders_the_regex_group(client):
    answer = post_github(client, SECRET, github_push(REPO, "refs/tags/v1.2", SHA))
    assert answer.status_code == 202
    assert answer.json["builds"][0]["docker_tags"] == ["1.2"]
    assert answer.json["builds"][0]["source_type"] == "tag"


def test_repository_name_is_case_insensitive(client):
    answer = post_github(client, SECRET, github_push(REPO.lower(), "refs/heads/master", SHA))
    assert answer.status_code == 202


def test_wrong_signature_is_refused(client):
    answer = post_github(client, "not-the-secret", github_push(REPO, "refs/heads/master", SHA))
    assert answer.status_code == 401
    assert "signature" in answer.json["error"].lower()


def test_missing_signature_is_refused(client):
    answer = post_github(client, None, github_push(REPO, "refs/heads/master", SHA))
    assert answer.status_code == 401


def test_repository_without_secret_says_which_variable_to_set(client):
    answer = post_github(
        client, "anything", github_push("octo/no-secret", "refs/heads/master", SHA)
    )
    assert answer.status_code == 401
    assert "NO_SECRET_SET" in answer.json["error"]


def test_unknown_repository_is_404(client):
    answer = post_github(client, SECRET, github_push("someone/else", "refs/heads/master", SHA))
    assert answer.status_code == 404


def test_malformed_body_is_400_with_a_reason(client):
    answer = post_github(client, SECRET, b"{not json")
    assert answer.status_code == 400
    assert answer.json["error"]


def test_body_over_the_limit_is_413(client_for):
    client = client_for(AUTOBUILD_MAX_BODY_BYTES="1000")
    payload = github_push(REPO, "refs/heads/master", SHA, message="x" * 5000)
    assert post_github(client, SECRET, payload).status_code == 413


def test_ping_is_answered_200(client):
    payload = {"zen": "Keep it logically awesome.", "hook_id": 1, "repository": {"full_name": REPO}}
    answer = post_github(client, SECRET, payload, event="ping")
    assert answer.status_code == 200
    assert "ignored" in answer.json


def test_branch_deletion_is_ignored(client, redis_conn, settings):
    answer = post_github(client, SECRET, github_push(REPO, "refs/heads/master", ZERO, before=SHA))
    assert answer.status_code == 200
    assert "ignored" in answer.json
    assert build_queue(redis_conn, settings.queue_name).count == 0


def test_push_matching_no_rule_is_ignored_with_a_reason(client):
    answer = post_github(client, SECRET, github_push(REPO, "refs/heads/feature", SHA))
    assert answer.status_code == 200
    assert "feature" in answer.json["ignored"]


def test_skip_marker_is_ignored_naming_the_marker(client):
    payload = github_push(REPO, "refs/heads/master", SHA, message="docs only [skip ci]")
    answer = post_github(client, SECRET, payload)
    assert answer.status_code == 200
    assert "[skip ci]" in answer.json["ignored"]


def test_redelivery_queues_nothing_and_answers_the_original_builds(client, clean_redis, settings):
    delivery = str(uuid.uuid4())
    payload = github_push(REPO, "refs/heads/master", SHA)
    first = post_github(client, SECRET, payload, delivery=delivery)
    again = post_github(client, SECRET, payload, delivery=delivery)
    assert first.status_code == 202
    assert again.status_code == 200
    assert [b["id"] for b in again.json["builds"]] == [b["id"] for b in first.json["builds"]]
    assert build_queue(clean_redis, settings.queue_name).count == 1


def test_form_encoded_delivery_is_accepted(client):
    body = urlencode({"payload": json.dumps(github_push(REPO, "refs/heads/master", SHA))}).encode()
    answer = post_github(client, SECRET, body, content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 202, answer.json


def test_clone_url_in_the_payload_is_never_used(client):
    payload = github_push(REPO, "refs/heads/master", SHA)
    payload["repository"]["clone_url"] = "https://evil.invalid/x.git"
    build = post_github(client, SECRET, payload).json["builds"][0]
    assert "evil" not in json.dumps(build)


def test_builds_are_listed_newest_first_and_filtered(client):
    post_github(client, SECRET, github_push(REPO, "refs/heads/master", SHA))
    post_github(client, SECRET, github_push(REPO, "refs/tags/v9", SHA))
    listed = client.get(f"/api/v1/builds?repository={REPO}&limit=2").json["builds"]
    assert [b["source_name"] for b in listed] == ["v9", "master"]
    assert client.get("/api/v1/builds?status=success&repository=" + REPO).json["builds"] == []
    assert client.get("/api/v1/builds?status=bogus").status_code == 400
    assert client.get("/api/v1/builds/doesnotexist").status_code == 404


def test_healthz_answers(client):
    assert client.get("/healthz").json == {"status": "ok"}
