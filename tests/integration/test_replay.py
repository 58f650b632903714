"""Replays cannot move a tag back: a signed body replayed under a new delivery id is a duplicate,
the push phase asks the git mirror which commit is newer, and an old git-hook document is refused.
Real Redis, real git repositories, the real registry."""

from __future__ import annotations

import hashlib
import hmac
import json
import textwrap
import time
import uuid

import pytest

from core.queue import build_queue
from core.store import BuildStore
from tests.integration.control_helpers import dockerfile, image_path
from tests.integration.webhook_helpers import (
    github_push,
    make_settings,
    post_github,
    registry_digest,
)
from tests.integration.worker_helpers import (
    create_record,
    log_text,
    make_context,
    make_repository,
    unique_image,
)
from worker.jobs import execute_build

SECRET = "webhook-secret-for-replay-tests"
REPO = "Octo/Replay"
GIT_REPO = "team/replay"


@pytest.fixture
def settings(tmp_path, redis_url):
    config = tmp_path / "autobuild.yml"
    config.write_text(
        textwrap.dedent(
            f"""
            repositories:
              - provider: github
                name: {REPO}
                clone_url: https://git.example.invalid/octo/replay.git
                image: 127.0.0.1:5000/octo/replay
                webhook_secret_env: REPLAY_SECRET
                build_rules:
                  - source_type: branch
                    source: master
                    docker_tag: latest
              - provider: git
                name: {GIT_REPO}
                clone_url: https://git.example.invalid/team/replay.git
                image: 127.0.0.1:5000/team/replay
                webhook_secret_env: REPLAY_SECRET
                build_rules:
                  - source_type: branch
                    source: main
                    docker_tag: latest
            """
        )
    )
    return make_settings(config, redis_url, tmp_path, REPLAY_SECRET=SECRET)


def test_a_replayed_body_with_a_new_delivery_id_is_a_duplicate(client, clean_redis, settings):
    body = json.dumps(github_push(REPO, "refs/heads/master", "1" * 40)).encode()
    first = post_github(client, SECRET, body, delivery="d-original-1")
    replay = post_github(client, SECRET, body, delivery="d-attacker-replay-2")
    assert first.status_code == 202, first.json
    assert replay.status_code == 200, replay.json
    assert "already received" in replay.json["ignored"]
    assert [b["id"] for b in replay.json["builds"]] == [b["id"] for b in first.json["builds"]]
    assert build_queue(clean_redis, settings.queue_name).count == 1
    other = json.dumps(github_push(REPO, "refs/heads/master", "2" * 40)).encode()
    assert post_github(client, SECRET, other, delivery="d-original-1b").status_code == 202


def test_a_redelivery_queues_the_builds_a_failed_dispatch_claimed_but_never_recorded(
    client, clean_redis, settings
):
    """The first copy claimed the delivery, then Redis failed over before its builds were written
    and before the claim could be forgotten: the claim names builds that do not exist. The
    redelivery is neither lost as a duplicate nor refused as a replay: it queues the builds."""
    body = json.dumps(github_push(REPO, "refs/heads/master", "3" * 40)).encode()
    digest = hashlib.sha256(body).hexdigest()
    store = BuildStore(clean_redis)
    never = uuid.uuid4().hex
    ref = ("github", REPO, "branch", "master")
    view = store.read_for_dispatch("github", "d-stale", [never], [ref], body_digest=digest)
    assert view.earlier is None  # claimed, and nothing written after it

    again = post_github(client, SECRET, body, delivery="d-stale")
    assert again.status_code == 202, again.json
    (build,) = again.json["builds"]
    assert build["id"] != never and store.get(build["id"]) is not None
    assert build_queue(clean_redis, settings.queue_name).count == 1
    duplicate = post_github(client, SECRET, body, delivery="d-stale")
    assert duplicate.status_code == 200 and duplicate.json["builds"] == [build]


def _git_document(timestamp: float | None) -> tuple[bytes, dict[str, str]]:
    document: dict[str, object] = {
        "repository": GIT_REPO,
        "delivery_id": str(uuid.uuid4()),
        "pushes": [{"ref": "refs/heads/main", "before": "1" * 40, "after": "2" * 40}],
    }
    if timestamp is not None:
        document["timestamp"] = int(timestamp)
    body = json.dumps(document).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Autobuild-Signature": signature, "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("age", "reason"),
    [
        (3600, "was sent 3600 s ago, more than 300 s"),
        (None, "has no 'timestamp'"),
        (-3600, "in the future"),
    ],
    ids=["an-hour-old", "without-timestamp", "an-hour-ahead"],
)
def test_the_git_hook_document_must_be_recent(client, clean_redis, settings, age, reason):
    timestamp = None if age is None else time.time() - age
    body, headers = _git_document(timestamp)
    answer = client.post("/webhooks/git", data=body, headers=headers)
    assert answer.status_code == 400, answer.json
    assert reason in answer.json["error"]
    assert build_queue(clean_redis, settings.queue_name).count == 0
    fresh, headers = _git_document(time.time())
    assert client.post("/webhooks/git", data=fresh, headers=headers).status_code == 202


@pytest.fixture
def image(registry_url):
    return unique_image(registry_url, "replay")


def test_a_build_of_an_ancestor_queued_later_never_overwrites_the_tag(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    """The replay's build is queued after the real newest one, but its commit is an ancestor
    of the one that pushed ``latest``: the mirror says so and the tag is skipped."""
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN echo old")})
    old_commit = repo.head()
    new_commit = repo.commit({"Dockerfile": dockerfile(base_image, "RUN echo new")})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    newer = create_record(context.store, repository, new_commit, ("latest",))
    assert execute_build(context, newer.id) == "success"
    newest_digest = context.store.require(newer.id).digest

    replayed = create_record(context.store, repository, old_commit, ("latest", "replayed"))
    assert execute_build(context, replayed.id) == "success"  # its other tag is pushed

    done = context.store.require(replayed.id)
    assert done.skipped_tags == ("latest",)
    assert registry_digest("127.0.0.1:5000", image_path(image), "latest") == newest_digest
    assert f"it descends from {old_commit[:7]}" in log_text(clean_redis, replayed.id)


def test_a_descendant_queued_earlier_still_moves_the_tag_forward(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    """Queue time alone would skip it (the tag's last push was queued later); the commit graph
    says it is newer, so it pushes."""
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN echo old")})
    old_commit = repo.head()
    new_commit = repo.commit({"Dockerfile": dockerfile(base_image, "RUN echo new")})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    newer_first = create_record(context.store, repository, new_commit, ("latest",))
    older_later = create_record(context.store, repository, old_commit, ("latest",))
    assert execute_build(context, older_later.id) == "success"
    assert execute_build(context, newer_first.id) == "success"
    digest = context.store.require(newer_first.id).digest
    assert registry_digest("127.0.0.1:5000", image_path(image), "latest") == digest
