"""The workers on the build queue, with a real ``autobuild worker`` process on the real Redis and
Docker: the build record names the worker's host and daemon, ``/api/v1/workers`` and ``/workers``
list it with its current build, a worker gone quiet shows as lost, and ``autobuild worker
--drain`` lets the running build finish, takes no new one and ends the worker with status 0."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from core.workers import list_workers
from tests.integration.control_helpers import (
    FAST_CONTROL,
    WorkerProcess,
    build_of,
    configure,
    dockerfile,
    push,
    repository_entry,
    wait_for,
)
from tests.integration.webhook_helpers import PROJECT_ROOT
from tests.integration.worker_helpers import log_text, unique_image


@pytest.fixture
def image(registry_url):
    return unique_image(registry_url, "workers")


def drain_command(settings, *names: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "cli.main", "worker", "--drain"]
    for name in names:
        argv += ["--name", name]
    return subprocess.run(
        argv,
        cwd=PROJECT_ROOT,
        env={**os.environ, **dict(settings.environ)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_drain_finishes_the_running_build_takes_no_new_one_and_exits_zero(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, image
):
    marker = f"drain-me-{uuid.uuid4().hex[:8]}"
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, f"RUN echo {marker} && sleep 4")})
    name = f"octo/drain-{uuid.uuid4().hex[:6]}"
    entry = repository_entry(name, repo.url, image, builder="legacy")
    settings, client = configure(tmp_path, redis_url, [entry], **FAST_CONTROL)
    (running,) = push(client, name, repo.head())
    daemon = docker_api.info()["ID"]

    with WorkerProcess(settings, tmp_path / "worker.log") as worker:
        wait_for(lambda: marker in log_text(clean_redis, running["id"]), 60, "the RUN step")
        (queued,) = push(client, name, repo.head(), "refs/tags/v1.0")

        (listed,) = client.get("/api/v1/workers").json["workers"]
        assert listed["host"] == socket.gethostname() and listed["daemon"] == daemon
        assert listed["current_build"] == running["id"]
        assert listed["state"] == "busy" and listed["lost"] is False
        page = client.get("/workers").get_data(as_text=True)
        assert listed["name"] in page and running["id"][:8] in page

        drained = drain_command(settings)  # every worker of this host on this queue
        assert drained.returncode == 0, drained.stderr
        assert listed["name"] in drained.stdout
        assert worker.wait(timeout=30) == 0

    done = build_of(client, running["id"])
    assert done["status"] == "success"
    assert done["worker"] == {"host": socket.gethostname(), "daemon": daemon}
    assert build_of(client, queued["id"])["status"] == "queued"  # taken by no one
    assert client.get("/api/v1/workers").json["workers"] == []  # a drained worker is unlisted
    page = client.get(f"/builds/{running['id']}").get_data(as_text=True)
    assert socket.gethostname() in page and daemon[:12] in page


def test_a_worker_whose_heartbeat_is_older_than_its_ttl_is_lost(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN true")})
    name = f"octo/lost-{uuid.uuid4().hex[:6]}"
    settings, client = configure(tmp_path, redis_url, [repository_entry(name, repo.url, image)])

    with WorkerProcess(settings, tmp_path / "worker.log") as worker:
        (alive,) = wait_for(
            lambda: [
                w for w in client.get("/api/v1/workers").json["workers"] if w["state"] == "idle"
            ],
            60,
            "an idle worker",
        )
        assert alive["lost"] is False
        worker.kill()  # the machine is gone: no goodbye
    later = datetime.now(UTC) + timedelta(seconds=alive["ttl_seconds"] + 1)
    (lost,) = list_workers(clean_redis, settings.queue_name, now=later)
    assert lost.name == alive["name"] and lost.lost and lost.state == "lost"
    assert lost.host == socket.gethostname()
    # rq drops its entry once the TTL runs out; ours keeps the worker listed as lost
    clean_redis.delete(f"rq:worker:{alive['name']}")
    (still,) = list_workers(clean_redis, settings.queue_name)
    assert still.lost and still.daemon == alive["daemon"]


def test_an_idle_worker_drains_at_once_and_a_drain_of_no_worker_says_so(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN true")})
    name = f"octo/idle-{uuid.uuid4().hex[:6]}"
    settings, client = configure(tmp_path, redis_url, [repository_entry(name, repo.url, image)])

    with WorkerProcess(settings, tmp_path / "worker.log") as worker:
        (idle,) = wait_for(lambda: client.get("/api/v1/workers").json["workers"], 60, "a worker")
        drained = drain_command(settings, idle["name"])
        assert drained.returncode == 0, drained.stderr
        assert worker.wait(timeout=30) == 0
    nobody = drain_command(settings, idle["name"])
    assert nobody.returncode == 1
    assert f"no running worker named {idle['name']}" in nobody.stderr
