"""Guarantees of RELIABILITY.md that no fault test shows on its own: a build that ended never
changes again, whoever asks; and building a commit again is idempotent and cheap."""

from __future__ import annotations

import uuid

import pytest

from app import create_app
from buildrules.model import Config
from core.build import TERMINAL_STATUSES, BuildStatus
from core.queue import build_queue
from core.recovery import requeue_or_end
from core.store import StaleTransitionError
from tests.integration.control_helpers import (
    ADMIN,
    ADMIN_TOKEN,
    build_of,
    burst,
    configure,
    dockerfile,
    image_path,
    push,
    repository_entry,
)
from tests.integration.webhook_helpers import registry_digest
from tests.integration.worker_helpers import (
    create_record,
    log_text,
    make_context,
    make_repository,
    unique_image,
)
from worker.jobs import execute_build, record_lost_build

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("final", sorted(TERMINAL_STATUSES))
def test_a_build_that_ended_never_changes_again(tmp_path, redis_url, clean_redis, final):
    repository = make_repository("file:///x.git", "127.0.0.1:5000/autobuild-test/x", retries=2)
    context = make_context(
        tmp_path,
        redis_url,
        clean_redis,
        [repository],
        environ={"AUTOBUILD_ADMIN_TOKEN": ADMIN_TOKEN},
    )
    record = create_record(context.store, repository, "e" * 40)
    context.store.transition(record.id, final, error=None if final is BuildStatus.SUCCESS else "x")
    ended = context.store.require(record.id).to_json()

    for status in BuildStatus:  # the store refuses every change, whatever the caller expects
        with pytest.raises(StaleTransitionError):
            context.store.transition(record.id, status)
    client = create_app(context.settings, Config(repositories=(repository,))).test_client()
    assert client.post(f"/api/v1/builds/{record.id}/cancel", headers=ADMIN).status_code == 409
    assert execute_build(context, record.id) == final.value  # a stale job: left alone
    assert execute_build(context, record.id, attempt=1) == final.value
    assert record_lost_build(context, record.id, "its worker died") is False
    queue = build_queue(clean_redis, context.settings.queue_name)
    current = context.store.require(record.id)
    assert requeue_or_end(context.store, queue, repository, current, "retry") is None
    assert context.store.require(record.id).to_json() == ended
    assert queue.count == 0


def test_the_same_commit_built_again_pushes_the_same_tags_and_no_layer_twice(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, registry_url
):
    marker = uuid.uuid4().hex
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, f"RUN echo {marker} > /built")})
    name, image = f"octo/again-{uuid.uuid4().hex[:6]}", unique_image(registry_url, "again")
    settings, client = configure(tmp_path, redis_url, [repository_entry(name, repo.url, image)])
    (first,) = push(client, name, repo.head())
    burst(settings)
    again = client.post(f"/api/v1/builds/{first['id']}/retry", headers=ADMIN)
    assert again.status_code == 202, again.json
    (second,) = again.json["builds"]
    burst(settings)

    one, two = build_of(client, first["id"]), build_of(client, second["id"])
    assert (one["status"], two["status"]) == ("success", "success"), (one, two)
    assert one["docker_tags"] == two["docker_tags"] == ["latest"]
    assert registry_digest(registry_url, image_path(image), "latest") == two["digest"]
    push_log = log_text(clean_redis, second["id"]).split("==> Pushing", 1)[1]
    images = [docker_api.inspect_image(build["image_id"]) for build in (one, two)]
    for config in images:  # both are images of the commit...
        assert config["Config"]["Labels"]["org.opencontainers.image.revision"] == repo.head()
    assert images[0]["RootFS"]["Layers"] == images[1]["RootFS"]["Layers"]  # ...with one content
    existing = [line for line in push_log.splitlines() if line.endswith(": Layer already exists")]
    pushed = [line for line in push_log.splitlines() if line.endswith(": Pushed")]
    # the second push sent no layer again: only its new config (labels) and manifest
    assert len(existing) == len(images[1]["RootFS"]["Layers"]) and pushed == [], push_log
