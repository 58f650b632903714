"""Builds that end by a limit or fail for reasons outside the repository, on the real services:
timeouts from the YAML, workers killed mid-build, and infrastructure failures retried."""

from __future__ import annotations

import os
import signal
import uuid

import pytest

from core.build import BuildStatus
from core.queue import build_queue, enqueue_for, job_id_for, queue_for
from core.recovery import recover_lost_builds, requeue_orphans
from core.store import BuildStore
from tests.integration.control_helpers import (
    FAST_CONTROL,
    WorkerProcess,
    build_of,
    burst,
    closed_port,
    configure,
    dockerfile,
    image_path,
    push,
    repository_entry,
    running_containers_with,
    wait_for,
)
from tests.integration.webhook_helpers import registry_digest
from tests.integration.worker_helpers import (
    create_record,
    log_text,
    make_context,
    make_repository,
    unique_image,
)
from worker.jobs import execute_build

REGISTRY = ("127.0.0.1", 5000)


def test_timeout_and_no_output_timeout_from_the_yaml_end_builds_timed_out(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, registry_url
):
    ticking = f"ticking-{uuid.uuid4().hex[:8]}"  # talks every second: only the wall clock stops it
    silent = f"silent-{uuid.uuid4().hex[:8]}"
    talking = f"RUN for i in $(seq 60); do echo {ticking}; sleep 1; done"
    wall_repo = make_git_repo({"Dockerfile": dockerfile(base_image, talking)})
    quiet_repo = make_git_repo(
        {"Dockerfile": dockerfile(base_image, f"RUN echo {silent}; sleep 60")}
    )
    wall, quiet = f"octo/wall-{uuid.uuid4().hex[:6]}", f"octo/quiet-{uuid.uuid4().hex[:6]}"
    wall_image, quiet_image = (
        unique_image(registry_url, "wall"),
        unique_image(registry_url, "quiet"),
    )
    settings, client = configure(
        tmp_path,
        redis_url,
        [
            repository_entry(wall, wall_repo.url, wall_image, timeout="5s"),
            repository_entry(quiet, quiet_repo.url, quiet_image, no_output_timeout="3s"),
        ],
    )
    (by_wall,) = push(client, wall, wall_repo.head())
    (by_silence,) = push(client, quiet, quiet_repo.head())
    burst(settings)

    timed_out = build_of(client, by_wall["id"])
    assert timed_out["status"] == "timed_out", timed_out
    assert "the repository's timeout of 5 seconds was reached" in timed_out["error"]
    assert "timeout of 5 seconds" in log_text(clean_redis, by_wall["id"]).splitlines()[-1]
    silenced = build_of(client, by_silence["id"])
    assert silenced["status"] == "timed_out", silenced
    assert "the repository's no_output_timeout of 3 seconds was reached" in silenced["error"]
    assert "no_output_timeout" in log_text(clean_redis, by_silence["id"]).splitlines()[-1]
    assert silent in log_text(clean_redis, by_silence["id"])
    for marker in (ticking, silent):  # the daemon removed the RUN containers
        wait_for(lambda m=marker: not running_containers_with(docker_api, m), 10, marker)  # type: ignore[misc]
    assert registry_digest("127.0.0.1:5000", image_path(wall_image), "latest") is None
    assert registry_digest("127.0.0.1:5000", image_path(quiet_image), "latest") is None


def test_a_build_whose_worker_is_killed_runs_again_on_another_worker(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, registry_url
):
    marker = f"killed-{uuid.uuid4().hex[:8]}"
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, f"RUN echo {marker} && sleep 5")})
    name, image = f"octo/killed-{uuid.uuid4().hex[:6]}", unique_image(registry_url, "killed")
    settings, client = configure(
        tmp_path,
        redis_url,
        [repository_entry(name, repo.url, image, builder="legacy")],
        **FAST_CONTROL,
    )
    (build,) = push(client, name, repo.head())

    first = WorkerProcess(settings, tmp_path / "first.log").start()
    try:
        wait_for(lambda: running_containers_with(docker_api, marker), 60, "the RUN step")
        assert build_of(client, build["id"])["status"] == "building"
        first.kill()  # SIGKILL, worker and work horse: the machine is gone
    finally:
        first.stop()
    # Its connection to the daemon died with it: the daemon aborts the build.
    wait_for(lambda: not running_containers_with(docker_api, marker), 10, "the RUN container")

    with WorkerProcess(settings, tmp_path / "second.log"):
        done = wait_for(
            lambda: (b := build_of(client, build["id"]))["status"] in ("success", "error") and b,
            120,
            "the build to end on the second worker",
        )
    assert done["status"] == "success", done
    assert done["attempt"] == 2
    log = log_text(clean_redis, build["id"])
    assert "Attempt 2 of 3 after: The worker running this build was lost" in log
    assert registry_digest("127.0.0.1:5000", image_path(image), "latest") == done["digest"]


def test_a_killed_work_horse_is_queued_again_by_its_worker(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, registry_url
):
    marker = f"horse-{uuid.uuid4().hex[:8]}"
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, f"RUN echo {marker} && sleep 5")})
    name, image = f"octo/horse-{uuid.uuid4().hex[:6]}", unique_image(registry_url, "horse")
    settings, client = configure(
        tmp_path,
        redis_url,
        [repository_entry(name, repo.url, image, builder="legacy")],
        **FAST_CONTROL,
    )
    (build,) = push(client, name, repo.head())

    with WorkerProcess(settings, tmp_path / "worker.log") as worker:
        wait_for(lambda: running_containers_with(docker_api, marker), 60, "the RUN step")
        (horse,) = worker.horses()
        os.kill(horse, signal.SIGKILL)  # the OOM killer's way
        done = wait_for(
            lambda: (b := build_of(client, build["id"]))["status"] in ("success", "error") and b,
            60,
            "the build to end",
        )
    assert (done["status"], done["attempt"]) == ("success", 2), done
    assert "Attempt 2 of 3 after: The worker process running this build died unexpectedly" in (
        log_text(clean_redis, build["id"])
    )


def test_a_registry_down_for_the_first_push_is_retried_and_the_retry_pushes(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN echo retried")})
    name = f"octo/flaky-{uuid.uuid4().hex[:6]}"
    with closed_port(REGISTRY) as registry:
        image = f"{registry.host}/autobuild-test/flaky-{uuid.uuid4().hex[:10]}"
        settings, client = configure(
            tmp_path,
            redis_url,
            [repository_entry(name, repo.url, image)],
            **{**FAST_CONTROL, "AUTOBUILD_RETRY_BACKOFF": "2"},
        )
        (build,) = push(client, name, repo.head())

        # A burst worker also works off the retries that wait for their backoff.
        with WorkerProcess(settings, tmp_path / "worker.log", burst=True) as worker:
            retrying = "Attempt 2 of 3 after: Push of"
            wait_for(lambda: retrying in log_text(clean_redis, build["id"]), 60, retrying)
            assert build_of(client, build["id"])["status"] == "queued"
            registry.open()  # the registry is back before the retry's backoff is over
            assert worker.wait(timeout=120) == 0, worker.output()[-3000:]
        assert registry.connections > 0

    done = build_of(client, build["id"])
    assert (done["status"], done["attempt"]) == ("success", 2), done
    assert "connection refused" in log_text(clean_redis, build["id"])
    assert "Trying again in 2 seconds." in log_text(clean_redis, build["id"])
    assert registry_digest("127.0.0.1:5000", image_path(image), "latest") == done["digest"]


# --- recovery, step by step ---------------------------------------------------------------------


def test_a_lost_build_is_queued_again_while_it_has_attempts_left_then_ends_error(
    tmp_path, redis_url, clean_redis, make_git_repo
):
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    repository = make_repository(repo.url, unique_image("127.0.0.1:5000", "lost"), retries=1)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    queue = build_queue(clean_redis, context.settings.queue_name)
    index = {repository.key: repository}
    record = create_record(context.store, repository, repo.head())
    context.store.transition(record.id, BuildStatus.BUILDING)  # its worker never beats

    (again,) = recover_lost_builds(context.store, queue, index, grace_seconds=0)
    assert again.requeued and again.record.status is BuildStatus.QUEUED
    assert again.record.attempt == 2 and again.record.started_at is None
    assert queue.fetch_job(job_id_for(again.record)) is not None  # a new job for attempt 2
    assert execute_build(context, record.id, attempt=1) == "queued"  # the old job is ignored

    context.store.transition(record.id, BuildStatus.CLONING)
    (ended,) = recover_lost_builds(context.store, queue, index, grace_seconds=0)
    assert not ended.requeued and ended.record.status is BuildStatus.ERROR
    assert "worker running this build was lost" in ended.record.error
    assert log_text(clean_redis, record.id).splitlines()[-1].startswith("Build error: The worker")


def test_a_queued_build_without_a_job_is_queued_again_once_seen_twice(
    tmp_path, redis_url, clean_redis, make_git_repo
):
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    repository = make_repository(repo.url, unique_image("127.0.0.1:5000", "orphan"))
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    queue = build_queue(clean_redis, context.settings.queue_name)
    index = {repository.key: repository}
    record = create_record(context.store, repository, repo.head())  # recorded, never enqueued

    requeued, suspects = requeue_orphans(context.store, queue, index, set())
    assert requeued == [] and suspects == {record.id}  # it may be being enqueued right now
    requeued, suspects = requeue_orphans(context.store, queue, index, suspects)
    assert [r.id for r in requeued] == [record.id] and suspects == set()
    assert queue.fetch_job(job_id_for(record)) is not None
    assert requeue_orphans(context.store, queue, index, {record.id}) == ([], set())
    assert BuildStore(clean_redis).require(record.id).status is BuildStatus.QUEUED


@pytest.mark.parametrize("needs", [(), ("big-memory",)], ids=["build-queue", "needs-queue"])
def test_a_build_taken_off_the_queue_by_a_worker_that_lost_redis_is_queued_again(
    tmp_path, redis_url, clean_redis, make_git_repo, needs
):
    """rq moves a job to its intermediate queue when a worker takes it; a worker whose Redis
    went away before it started the job leaves it there, holding its repository's slot (rq
    gives it up only minutes later). Seen twice, it is queued again and gets the slot first;
    on the queue of its needs when it has some."""
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    repository = make_repository(repo.url, unique_image("127.0.0.1:5000", "taken"))
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    base = build_queue(clean_redis, context.settings.queue_name)
    index = {repository.key: repository}
    taken = create_record(context.store, repository, repo.head(), needs=needs)
    waiting = create_record(context.store, repository, repo.commit({"a": "1"}), needs=needs)
    queue = queue_for(base, taken)
    assert (queue.name != base.name) == bool(needs)
    enqueue_for(base, taken, repository)
    enqueue_for(base, waiting, repository)  # max_concurrent_builds 1: it waits for the slot
    assert queue.get_job_ids() == [job_id_for(taken)]
    clean_redis.lmove(queue.key, queue.intermediate_queue_key)  # the worker's BLMOVE, then gone

    requeued, suspects = requeue_orphans(context.store, base, index, set())
    assert requeued == [] and suspects == {taken.id}  # a worker may be starting it right now
    requeued, suspects = requeue_orphans(context.store, base, index, suspects)
    assert [r.id for r in requeued] == [taken.id]
    assert queue.intermediate_queue.get_job_ids() == []
    assert queue.get_job_ids() == [job_id_for(taken)]  # the slot is its own again, not leaked
    assert queue.fetch_job(job_id_for(waiting)).get_status() == "rate_limited"
