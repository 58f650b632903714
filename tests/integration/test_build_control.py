"""Build control end to end on the real services: manual triggers, supersede, cancel (queued and
running), the queue cap, retry, max_concurrent_builds and tags that never move backwards."""

from __future__ import annotations

import time
import uuid

import pytest

from core.store import BuildStore
from tests.integration.control_helpers import (
    ADMIN,
    FAST_CONTROL,
    SECRET,
    TRIGGER,
    WorkerProcess,
    build_of,
    burst,
    configure,
    dockerfile,
    image_path,
    push,
    repository_entry,
    running_containers_with,
    wait_for,
)
from tests.integration.webhook_helpers import (
    github_push,
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

CANCEL_SECONDS = 10  # the bound: a running build stops within this long of a cancel


@pytest.fixture
def image(registry_url):
    return unique_image(registry_url, "control")


# --- manual triggers ----------------------------------------------------------------------------


def test_trigger_by_tag_by_docker_tag_and_build_true(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN echo triggered")})
    tagged = repo.tag("v1.0")
    newest = repo.commit({"README": "after the tag"})
    name = f"octo/trigger-{uuid.uuid4().hex[:6]}"
    settings, client = configure(tmp_path, redis_url, [repository_entry(name, repo.url, image)])
    url = f"/api/v1/repositories/github/{name}/trigger"

    assert client.post(url, json={"build": True}).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert client.post(url, json={"build": True}, headers=wrong).status_code == 401
    unknown = client.post(url, json={"source_type": "Tag", "source_name": "v9.9"}, headers=TRIGGER)
    assert unknown.status_code == 404 and "v9.9" in unknown.json["error"]

    by_tag = client.post(url, json={"source_type": "Tag", "source_name": "v1.0"}, headers=TRIGGER)
    assert by_tag.status_code == 202, by_tag.json
    (tag_build,) = by_tag.json["builds"]
    assert (tag_build["commit"], tag_build["docker_tags"]) == (tagged, ["1.0"])
    assert tag_build["trigger"] == "manual"
    by_docker_tag = client.post(url, json={"docker_tag": "latest"}, headers=TRIGGER)
    assert by_docker_tag.status_code == 202, by_docker_tag.json
    (latest_build,) = by_docker_tag.json["builds"]
    assert (latest_build["commit"], latest_build["source_name"]) == (newest, "master")
    burst(settings)

    for build, tag in ((tag_build, "1.0"), (latest_build, "latest")):
        done = build_of(client, build["id"])
        assert done["status"] == "success", done
        assert registry_digest("127.0.0.1:5000", image_path(image), tag) == done["digest"]

    everything = client.post(url, json={"build": True}, headers=ADMIN)  # the admin token works too
    assert everything.status_code == 202, everything.json
    (again,) = everything.json["builds"]  # every rule with a literal source: master
    assert (again["commit"], again["docker_tags"]) == (newest, ["latest"])
    burst(settings)
    assert build_of(client, again["id"])["status"] == "success"


# --- supersede ----------------------------------------------------------------------------------


def test_five_quick_pushes_build_only_the_newest_commit(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN echo pushed")})
    name = f"octo/five-{uuid.uuid4().hex[:6]}"
    settings, client = configure(tmp_path, redis_url, [repository_entry(name, repo.url, image)])

    commits, builds = [], []
    for number in range(5):
        commits.append(repo.commit({"n.txt": str(number)}, message=f"push {number}"))
        (build,) = push(client, name, commits[-1])
        builds.append(build)
        if number:  # each push supersedes the build the previous one queued
            older = build_of(client, builds[-2]["id"])
            assert older["status"] == "superseded", older
            assert build["id"] in older["error"] and commits[-1][:7] in older["error"]
    burst(settings)

    final = [build_of(client, build["id"]) for build in builds]
    assert [b["status"] for b in final] == ["superseded"] * 4 + ["success"]
    assert all(b["started_at"] is None for b in final[:4])  # they never ran
    newest = final[-1]
    assert newest["commit"] == commits[-1]
    assert registry_digest("127.0.0.1:5000", image_path(image), "latest") == newest["digest"]
    labels = docker_api.inspect_image(newest["image_id"])["Config"]["Labels"]
    assert labels["org.opencontainers.image.revision"] == commits[-1]


# --- cancel -------------------------------------------------------------------------------------


def test_a_canceled_queued_build_never_runs(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN echo never")})
    name = f"octo/cancel-queued-{uuid.uuid4().hex[:6]}"
    settings, client = configure(tmp_path, redis_url, [repository_entry(name, repo.url, image)])
    (build,) = push(client, name, repo.head())

    assert client.post(f"/api/v1/builds/{build['id']}/cancel").status_code == 401
    canceled = client.post(f"/api/v1/builds/{build['id']}/cancel", headers=ADMIN)
    assert canceled.status_code == 200 and canceled.json["status"] == "canceled"
    assert client.post(f"/api/v1/builds/{build['id']}/cancel", headers=ADMIN).status_code == 409
    burst(settings)

    done = build_of(client, build["id"])
    assert done["status"] == "canceled" and done["started_at"] is None
    assert log_text(clean_redis, build["id"]) == ""
    assert registry_digest("127.0.0.1:5000", image_path(image), "latest") is None


def test_a_running_build_is_canceled_within_ten_seconds(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, image
):
    marker = f"cancel-me-{uuid.uuid4().hex[:8]}"
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, f"RUN echo {marker} && sleep 60")})
    name = f"octo/cancel-running-{uuid.uuid4().hex[:6]}"
    settings, client = configure(
        tmp_path,
        redis_url,
        [repository_entry(name, repo.url, image, builder="legacy")],  # BuildKit: test_buildkit
        **FAST_CONTROL,
    )
    (build,) = push(client, name, repo.head())

    with WorkerProcess(settings, tmp_path / "worker.log"):
        wait_for(lambda: marker in log_text(clean_redis, build["id"]), 60, "the RUN step")
        wait_for(lambda: running_containers_with(docker_api, marker), 10, "the RUN container")
        canceled_at = time.monotonic()
        answer = client.post(f"/api/v1/builds/{build['id']}/cancel", headers=ADMIN)
        assert answer.status_code == 200 and answer.json["status"] == "canceled"

        stopped = "Build stopped while building the image: it is now canceled"
        wait_for(lambda: stopped in log_text(clean_redis, build["id"]), CANCEL_SECONDS, stopped)
        wait_for(
            lambda: not running_containers_with(docker_api, marker),
            CANCEL_SECONDS - (time.monotonic() - canceled_at),
            "the RUN container to go",
        )
        assert build_of(client, build["id"])["status"] == "canceled"
        assert registry_digest("127.0.0.1:5000", image_path(image), "latest") is None

        # The worker is free again at once (it is not sitting out the sleep).
        repo.commit({"Dockerfile": dockerfile(base_image, "RUN echo next")})
        (following,) = push(client, name, repo.head())
        wait_for(
            lambda: build_of(client, following["id"])["status"] == "success", 60, "the next build"
        )
    assert (
        registry_digest("127.0.0.1:5000", image_path(image), "latest")
        == (build_of(client, following["id"])["digest"])
    )


def test_cancel_running_stops_the_older_build_when_a_newer_push_arrives(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, image
):
    marker = f"superseded-{uuid.uuid4().hex[:8]}"
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, f"RUN echo {marker} && sleep 60")})
    name = f"octo/cancel-running-{uuid.uuid4().hex[:6]}"
    entry = repository_entry(name, repo.url, image, cancel_running=True)
    settings, client = configure(tmp_path, redis_url, [entry], **FAST_CONTROL)
    (older,) = push(client, name, repo.head())

    with WorkerProcess(settings, tmp_path / "worker.log"):
        wait_for(lambda: marker in log_text(clean_redis, older["id"]), 60, "the RUN step")
        newer_commit = repo.commit({"Dockerfile": dockerfile(base_image, "RUN echo newer")})
        (newer,) = push(client, name, newer_commit)
        assert build_of(client, older["id"])["status"] == "superseded"

        wait_for(lambda: not running_containers_with(docker_api, marker), CANCEL_SECONDS, "RUN")
        wait_for(lambda: build_of(client, newer["id"])["status"] == "success", 60, "the newer")
    assert "it is now superseded" in log_text(clean_redis, older["id"])
    assert (
        registry_digest("127.0.0.1:5000", image_path(image), "latest")
        == (build_of(client, newer["id"])["digest"])
    )


# --- the queue cap and retry --------------------------------------------------------------------


def test_over_the_queue_cap_webhooks_and_triggers_answer_429_with_retry_after(
    tmp_path, redis_url, clean_redis, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    name = f"octo/cap-{uuid.uuid4().hex[:6]}"
    _, client = configure(
        tmp_path, redis_url, [repository_entry(name, repo.url, image)], AUTOBUILD_MAX_QUEUED="1"
    )
    push(client, name, repo.head())

    refused = post_github(client, SECRET, github_push(name, "refs/tags/v1.0", repo.head()))
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert "cap is 1" in refused.json["error"]
    trigger = client.post(
        f"/api/v1/repositories/github/{name}/trigger", json={"build": True}, headers=TRIGGER
    )
    assert trigger.status_code == 429 and trigger.headers["Retry-After"] == "60"


def test_retry_queues_a_new_build_of_the_same_plan_linked_to_the_old_one(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN exit 3")})
    name = f"octo/retry-{uuid.uuid4().hex[:6]}"
    settings, client = configure(tmp_path, redis_url, [repository_entry(name, repo.url, image)])
    (build,) = push(client, name, repo.head())
    assert client.post(f"/api/v1/builds/{build['id']}/retry", headers=ADMIN).status_code == 409
    burst(settings)
    failed = build_of(client, build["id"])
    assert (failed["status"], failed["attempt"]) == ("failed", 1)  # user failures: no retries

    answer = client.post(f"/api/v1/builds/{build['id']}/retry", headers=ADMIN)
    assert answer.status_code == 202
    (retry,) = answer.json["builds"]
    assert retry["retry_of"] == build["id"] and retry["id"] != build["id"]
    assert (retry["commit"], retry["docker_tags"], retry["status"]) == (
        build["commit"],
        build["docker_tags"],
        "queued",
    )


# --- max_concurrent_builds ----------------------------------------------------------------------


def test_max_concurrent_builds_runs_a_repositorys_builds_one_at_a_time_in_order(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url
):
    def slow() -> str:  # not in the layer cache: each repository's first build takes 2 s
        return dockerfile(base_image, f"RUN echo {uuid.uuid4().hex} && sleep 2")

    limited_repo = make_git_repo({"Dockerfile": slow()})
    other_repo = make_git_repo({"Dockerfile": slow()})
    limited = f"octo/limited-{uuid.uuid4().hex[:6]}"
    other = f"octo/other-{uuid.uuid4().hex[:6]}"
    entries = [
        repository_entry(limited, limited_repo.url, unique_image(registry_url, "limited")),
        repository_entry(other, other_repo.url, unique_image(registry_url, "other")),
    ]
    settings, client = configure(tmp_path, redis_url, entries, **FAST_CONTROL)
    queued = []
    for branch in ("master", "v1.0", "v2.0"):  # three refs: nothing supersedes anything
        ref = "refs/heads/master" if branch == "master" else f"refs/tags/{branch}"
        (build,) = push(client, limited, limited_repo.head(), ref)
        queued.append(build)
    (other_build,) = push(client, other, other_repo.head())

    with (
        WorkerProcess(settings, tmp_path / "worker1.log"),
        WorkerProcess(settings, tmp_path / "worker2.log"),
    ):
        ids = [b["id"] for b in [*queued, other_build]]
        wait_for(
            lambda: all(build_of(client, i)["status"] == "success" for i in ids), 120, "builds"
        )
    store = BuildStore(clean_redis)
    first, second, third = (store.require(b["id"]) for b in queued)
    assert first.finished_at <= second.started_at  # one at a time ...
    assert second.finished_at <= third.started_at  # ... in the order they were queued
    other_done = store.require(other_build["id"])
    assert other_done.started_at < first.finished_at  # other repositories do not wait


# --- tags never move backwards ------------------------------------------------------------------


def test_an_older_commits_build_never_overwrites_a_tag_a_newer_one_pushed(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN echo old")})
    old_commit = repo.head()
    new_commit = repo.commit({"Dockerfile": dockerfile(base_image, "RUN echo new")})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    sha_tag = f"sha-{old_commit[:7]}"
    older = create_record(context.store, repository, old_commit, ("latest", sha_tag))
    oldest_alone = create_record(context.store, repository, old_commit, ("latest",))
    newer = create_record(context.store, repository, new_commit, ("latest",))
    assert older.created_at < oldest_alone.created_at < newer.created_at

    assert execute_build(context, newer.id) == "success"
    newest_digest = context.store.require(newer.id).digest
    assert execute_build(context, older.id) == "success"  # its other tag is still pushed
    assert execute_build(context, oldest_alone.id) == "superseded"  # nothing left to push

    done = context.store.require(older.id)
    assert done.skipped_tags == ("latest",)
    assert registry_digest("127.0.0.1:5000", image_path(image), sha_tag) == done.digest
    assert registry_digest("127.0.0.1:5000", image_path(image), "latest") == newest_digest
    assert f"build {newer.id} of the newer commit {new_commit[:7]}" in log_text(
        clean_redis, older.id
    )
    alone = context.store.require(oldest_alone.id)
    assert alone.digest is None and "Nothing was pushed" in alone.error
