"""Faults survived, on real services: each test starts its own instance of what it breaks (a
redis-server, a registry, a dockerd, a git host port) and breaks only that one, by its PID; the
shared services other sessions use are never touched.

A worker SIGKILLed mid-build, and a registry down for a first push only, are proven in
test_build_recovery.py (see RELIABILITY.md).
"""

from __future__ import annotations

import contextlib
import socket
import time
import uuid
from collections import Counter

import docker
import pytest
import redis
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from core.queue import build_queue
from core.store import BuildStore, tag_lock_key
from tests.integration.control_helpers import (
    ADMIN,
    FAST_CONTROL,
    WorkerProcess,
    build_of,
    burst,
    configure,
    dockerfile,
    free_port,
    image_path,
    push,
    repository_entry,
    running_containers_with,
    wait_for,
)
from tests.integration.fault_helpers import OwnDockerd, OwnRedis, OwnRegistry
from tests.integration.services import ServiceError, unavailable
from tests.integration.webhook_helpers import registry_digest
from tests.integration.worker_helpers import log_text, phase_markers, unique_image

pytestmark = pytest.mark.integration

TERMINAL = ("success", "failed", "error", "timed_out", "canceled", "superseded")


def own(service):
    """Start a service of the test's own, or skip (fail in CI) saying why it could not."""
    try:
        return service.start()
    except ServiceError as err:
        unavailable(str(err))


# --- Redis ------------------------------------------------------------------------------------


def test_redis_killed_with_20_builds_queued_loses_none_and_runs_none_twice(
    tmp_path, base_image, make_git_repo, registry_url
):
    server = own(OwnRedis(tmp_path / "redis"))
    try:
        repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN echo survived")})
        commit = repo.head()
        for number in range(20):
            repo.tag(f"v1.{number}")
        name, image = f"octo/restart-{uuid.uuid4().hex[:6]}", unique_image(registry_url, "aof")
        entry = repository_entry(name, repo.url, image, max_concurrent_builds=3)
        settings, client = configure(tmp_path, server.url, [entry], **FAST_CONTROL)
        builds = [
            push(client, name, commit, ref=f"refs/tags/v1.{number}")[0] for number in range(20)
        ]
        ids = {build["id"] for build in builds}
        assert len(ids) == 20

        server.kill()  # SIGKILL: no shutdown save, only what the AOF already holds
        down = client.get("/readyz")
        assert down.status_code == 503 and "Redis" in down.json["checks"]["redis"], down.json
        assert client.get(f"/api/v1/builds/{builds[0]['id']}").status_code == 503
        server.start()  # the same port and data directory: Redis replays its AOF

        connection = redis.Redis.from_url(server.url)
        store, queue = BuildStore(connection), build_queue(connection, settings.queue_name)
        assert {r.id for r in store.queued()} == ids  # every record survived, still queued
        jobs = Job.fetch_many([f"build-{i}-1" for i in ids], connection, JSONSerializer)
        # every job too: three for the workers, the others waiting for the repository's limit
        statuses = Counter(job.get_status() for job in jobs if job is not None)
        assert statuses == {JobStatus.QUEUED: 3, JobStatus.RATE_LIMITED: 17}, statuses
        assert client.get("/readyz").status_code == 200  # the same app, reconnected

        workers = [
            WorkerProcess(settings, tmp_path / f"worker{n}.log", burst=True).start()
            for n in range(3)
        ]
        try:
            for worker in workers:
                assert worker.wait(timeout=240) == 0, worker.output()[-3000:]
        finally:
            for worker in workers:
                worker.stop()

        for build in builds:
            done = build_of(client, build["id"])
            assert (done["status"], done["attempt"]) == ("success", 1), done
            assert phase_markers(connection, build["id"]).count("clone") == 1  # ran once
            tag = done["docker_tags"][0]
            assert registry_digest(registry_url, image_path(image), tag) == done["digest"]
        finished = FinishedJobRegistry(queue=queue).get_job_ids()
        assert sorted(finished) == sorted(f"build-{i}-1" for i in ids)  # each job ran once
        assert FailedJobRegistry(queue=queue).get_job_ids() == []
        assert StartedJobRegistry(queue=queue).get_job_ids() == []
        assert queue.count == 0
        connection.close()
    finally:
        server.stop()


def test_a_worker_busy_when_redis_restarts_stays_up_and_runs_the_stopped_build_again(
    tmp_path, docker_api, base_image, make_git_repo, registry_url
):
    server = own(OwnRedis(tmp_path / "redis"))
    try:
        marker = f"redis-gone-{uuid.uuid4().hex[:8]}"
        # a step that talks all the time: its log lines cannot be stored while Redis is down
        step = f"RUN echo {marker}; for i in $(seq 16); do echo tick $i; sleep 0.25; done"
        repo = make_git_repo({"Dockerfile": dockerfile(base_image, step)})
        commit = repo.head()
        for number in range(3):
            repo.tag(f"v2.{number}")
        name, image = f"octo/busy-{uuid.uuid4().hex[:6]}", unique_image(registry_url, "busy")
        settings, client = configure(
            tmp_path,
            server.url,
            [repository_entry(name, repo.url, image, builder="legacy")],
            **FAST_CONTROL,
        )
        builds = [push(client, name, commit, ref=f"refs/tags/v2.{n}")[0] for n in range(3)]

        with WorkerProcess(settings, tmp_path / "worker.log") as worker:
            wait_for(lambda: running_containers_with(docker_api, marker), 60, "the RUN step")
            running = [b["id"] for b in builds if build_of(client, b["id"])["status"] == "building"]
            server.kill()
            wait_for(
                lambda: b"Redis unreachable" in worker.log_path.read_bytes(),
                30,
                "the worker to notice that Redis is gone",
            )
            server.start()
            done = wait_for(
                lambda: (
                    all(build_of(client, b["id"])["status"] in TERMINAL for b in builds)
                    and [build_of(client, b["id"]) for b in builds]
                ),
                90,
                "every build to end",
            )
            assert worker.process is not None and worker.process.poll() is None  # still up
            output = worker.output()
        connection = redis.Redis.from_url(server.url)
        assert len(running) == 1, running
        for build in done:
            assert build["status"] == "success", (build, output[-3000:])
            markers = phase_markers(connection, build["id"]).count("clone")
            if build["id"] in running:  # stopped with Redis, run again: at least once
                assert (build["attempt"], markers) == (2, 2), build
                assert "Attempt 2 of 3 after:" in log_text(connection, build["id"])
            else:  # queued meanwhile: exactly once
                assert (build["attempt"], markers) == (1, 1), build
            tag = build["docker_tags"][0]
            assert registry_digest(registry_url, image_path(image), tag) == build["digest"]
        connection.close()
    finally:
        server.stop()


# --- the registry -----------------------------------------------------------------------------


def test_a_registry_stopped_during_a_push_ends_error_and_a_retry_pushes_once_it_is_back(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo
):
    registry = own(OwnRegistry(tmp_path / "registry"))
    try:
        repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN echo registry-fault")})
        name = f"octo/stopped-{uuid.uuid4().hex[:6]}"
        image = f"{registry.host}/autobuild-test/stopped-{uuid.uuid4().hex[:10]}"
        settings, client = configure(
            tmp_path, redis_url, [repository_entry(name, repo.url, image)], **FAST_CONTROL
        )
        (build,) = push(client, name, repo.head())

        # Hold the push at its start, as another build pushing the same tag would (the tag lock
        # of worker/tagorder.py), so the registry stops while this build is pushing, every time.
        gate = tag_lock_key(image, "latest")
        clean_redis.set(gate, "another-build:1", ex=60)
        with WorkerProcess(settings, tmp_path / "worker.log", burst=True) as worker:
            waiting = f"Waiting for build another-build to finish pushing {image}:latest"
            wait_for(lambda: waiting in log_text(clean_redis, build["id"]), 60, waiting)
            assert build_of(client, build["id"])["status"] == "pushing"
            registry.kill()  # SIGKILL; it stays down for every retry
            clean_redis.delete(gate)
            assert worker.wait(timeout=120) == 0, worker.output()[-3000:]

        failed = build_of(client, build["id"])
        log = log_text(clean_redis, build["id"])
        assert (failed["status"], failed["attempt"]) == ("error", 3), failed
        assert failed["error"].startswith(f"Push of {image}:latest failed"), failed["error"]
        assert registry.host in failed["error"] and "connection refused" in failed["error"]
        assert "Attempt 2 of 3 after: Push of" in log and "Attempt 3 of 3 after: Push of" in log
        assert log.splitlines()[-1] == f"Build error: {failed['error']}"

        registry.start()  # the same port and storage
        answer = client.post(f"/api/v1/builds/{build['id']}/retry", headers=ADMIN)
        assert answer.status_code == 202, answer.json
        (retried,) = answer.json["builds"]
        burst(settings)

        done = build_of(client, retried["id"])
        assert (done["status"], done["retry_of"]) == ("success", build["id"]), done
        assert registry_digest(registry.host, image_path(image), "latest") == done["digest"]
        assert build_of(client, build["id"])["status"] == "error"  # terminal: never changes
    finally:
        registry.kill()


# --- the Docker daemon ------------------------------------------------------------------------


def test_a_stopped_docker_daemon_ends_builds_error_fails_readyz_and_is_used_again_once_back(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url
):
    daemon = OwnDockerd()
    try:
        own(daemon)
        api = docker.APIClient(base_url=daemon.docker_host, version="auto", timeout=30)
        marker = f"daemon-stop-{uuid.uuid4().hex[:8]}"
        talking = f"RUN echo {marker}; for i in $(seq 120); do echo tick $i; sleep 0.25; done"
        repo = make_git_repo({"Dockerfile": dockerfile(base_image, talking)})
        name, image = f"octo/daemon-{uuid.uuid4().hex[:6]}", unique_image(registry_url, "daemon")
        settings, client = configure(
            tmp_path,
            redis_url,
            [repository_entry(name, repo.url, image, builder="legacy")],
            DOCKER_HOST=daemon.docker_host,  # the app's /readyz and the worker both use it
            **FAST_CONTROL,
        )
        assert client.get("/readyz").status_code == 200

        with WorkerProcess(settings, tmp_path / "worker.log") as worker:
            (first,) = push(client, name, repo.head())
            wait_for(lambda: running_containers_with(api, marker), 60, "the RUN step")
            daemon.stop()  # SIGTERM, as systemctl stop docker: the RUN container goes with it

            ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.json["ready"] is False, ready.json
            assert ready.json["checks"]["docker"].startswith("Docker daemon unreachable at unix:")
            failed = wait_for(
                lambda: (b := build_of(client, first["id"]))["status"] in TERMINAL and b,
                60,
                "the build to end",
            )
            assert (failed["status"], failed["attempt"]) == ("error", 3), failed
            assert failed["error"].startswith("Docker daemon unreachable"), failed["error"]
            assert "Attempt 3 of 3 after: Docker daemon unreachable" in log_text(
                clean_redis, first["id"]
            )

            daemon.start()  # the same socket and data root; Autobuild is not restarted
            assert client.get("/readyz").status_code == 200
            fixed = repo.commit({"Dockerfile": dockerfile(base_image, "RUN echo back")})
            (second,) = push(client, name, fixed)
            done = wait_for(
                lambda: (b := build_of(client, second["id"]))["status"] in TERMINAL and b,
                60,
                "the build after the daemon came back",
            )
            assert worker.process is not None and worker.process.poll() is None  # same worker
        assert (done["status"], done["attempt"]) == ("success", 1), done
        assert registry_digest(registry_url, image_path(image), "latest") == done["digest"]
        assert api.inspect_image(done["image_id"])["Id"] == done["image_id"]  # built there
        api.close()
    finally:
        daemon.remove()


# --- the git host -----------------------------------------------------------------------------


def test_an_unreachable_git_host_ends_error_naming_the_host_and_never_shows_the_credentials(
    tmp_path, redis_url, clean_redis, registry_url
):
    # The worker's git credentials, where an administrator keeps them (the loader refuses
    # credentials in clone URLs): a credential helper in the worker's git configuration.
    token = f"ghp_{uuid.uuid4().hex}"
    gitconfig = tmp_path / "gitconfig"
    helper = f"!f() {{ echo username=x-access-token; echo password={token}; }}; f"
    gitconfig.write_text(f'[credential]\n\thelper = "{helper}"\n')
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    name, image = f"octo/unreachable-{uuid.uuid4().hex[:6]}", unique_image(registry_url, "git")
    entry = repository_entry(name, f"http://{host}/octo/private.git", image)
    settings, client = configure(
        tmp_path, redis_url, [entry], GIT_CONFIG_GLOBAL=str(gitconfig), **FAST_CONTROL
    )
    (build,) = push(client, name, "a1" * 20)

    with WorkerProcess(settings, tmp_path / "worker.log", burst=True) as worker:
        assert worker.wait(timeout=120) == 0, worker.output()[-3000:]
        output = worker.output()

    done = build_of(client, build["id"])
    log = log_text(clean_redis, build["id"])
    assert (done["status"], done["attempt"]) == ("error", 3), done
    assert done["error"].startswith(f"Could not fetch commit a1a1a1a from {host}"), done["error"]
    assert "Attempt 3 of 3 after: Could not fetch commit" in log
    for where, text in (("the build", str(done)), ("its log", log), ("the worker", output)):
        assert token not in text, f"the git token leaked into {where}"


def test_a_git_host_that_never_answers_is_given_up_at_the_no_output_timeout(
    tmp_path, redis_url, clean_redis, registry_url
):
    with contextlib.closing(socket.create_server(("127.0.0.1", 0))) as silent:  # accepts, mute
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        name, image = f"octo/silent-{uuid.uuid4().hex[:6]}", unique_image(registry_url, "git")
        entry = repository_entry(
            name, f"http://{host}/octo/x.git", image, no_output_timeout="2s", retries=0
        )
        settings, client = configure(tmp_path, redis_url, [entry], **FAST_CONTROL)
        (build,) = push(client, name, "b2" * 20)
        started = time.monotonic()
        burst(settings)
        took = time.monotonic() - started

    done = build_of(client, build["id"])
    assert done["status"] == "timed_out", done
    assert "no_output_timeout of 2 seconds" in done["error"] and "fetch" in done["error"], done
    assert took < 30, took
