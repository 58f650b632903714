"""Untrusted builds contained, on the real Docker daemon: a repository's network, memory and CPU
limits reach the RUN containers, a context over the limit fails with both sizes, and a Docker data
directory past the threshold is pruned.

About the network: the daemon of ``make services`` runs with ``--bridge=none``, so even the
``default`` network gives RUN containers nothing but loopback, and "reaches the registry with
``default``, not with ``none``" cannot be shown here. What is shown: with ``network: none`` the RUN
container is attached to Docker's ``none`` network (the daemon's own network events say so) and a
step that needs the registry fails; the same probe succeeds when a container does have a network
(``host``, through the raw API: Autobuild never uses it), so the probe does detect a network.
"""

from __future__ import annotations

import os
import re
import time
import uuid

import docker.errors
import pytest

from core.metrics import read_snapshot
from tests.integration.worker_helpers import (
    create_record,
    log_text,
    make_context,
    make_repository,
    unique_image,
)
from worker.containment import housekeeping, prune_if_needed
from worker.jobs import execute_build

pytestmark = pytest.mark.integration

# Prints "registry-reached-42" (not in the step's own text) only when the registry answers.
REGISTRY_PROBE = (
    "printf 'GET /v2/ HTTP/1.0\\r\\n\\r\\n' | nc -w 3 127.0.0.1 5000 | grep -q '200 OK'"
    " && echo registry-reached-$((40+2))"
)
MEMORY_LIMIT_FILES = "/sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max"
CPU_LIMIT_FILES = (
    "/sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us"
    " /sys/fs/cgroup/cpu.max"
)


def dockerfile(base_image: str, *lines: str) -> str:
    bust = f"ENV AUTOBUILD_TEST_RUN={uuid.uuid4().hex}"
    return "\n".join([f"FROM {base_image}", bust, *lines]) + "\n"


def run(context, repository, commit):
    record = create_record(context.store, repository, commit)
    status = execute_build(context, record.id)
    return status, context.store.require(record.id)


@pytest.fixture
def image(registry_url):
    return unique_image(registry_url, "contained")


def test_network_none_attaches_run_steps_to_no_network_and_a_step_needing_it_fails(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, f"RUN {REGISTRY_PROBE}")})
    repository = make_repository(repo.url, image, network="none", builder="legacy")
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    since = int(time.time()) - 1

    status, record = run(context, repository, repo.head())

    assert status == "failed", record.error
    assert "returned a non-zero code" in record.error
    log = log_text(clean_redis, record.id)
    assert "registry-reached-42" not in log
    containers = re.findall(r"Running in ([0-9a-f]{12})", log)  # ENV and RUN steps
    events = docker_api.events(
        since=since, until=int(time.time()) + 1, filters={"type": "network"}, decode=True
    )
    attached: dict[str, set[str]] = {}
    for event in events:
        attributes = event["Actor"]["Attributes"]
        for container in containers:
            if attributes.get("container", "").startswith(container):
                attached.setdefault(container, set()).add(attributes.get("name", ""))
    assert attached[containers[-1]] == {"none"}  # the RUN step that needed the network
    assert set().union(*attached.values()) == {"none"}


def test_the_registry_probe_does_detect_a_network_when_there_is_one(
    tmp_path, docker_api, base_image
):
    (tmp_path / "Dockerfile").write_text(dockerfile(base_image, f"RUN {REGISTRY_PROBE}"))
    chunks = list(
        docker_api.build(
            path=str(tmp_path), rm=True, forcerm=True, decode=True, network_mode="host"
        )
    )
    output = "".join(chunk.get("stream", "") for chunk in chunks)
    assert "registry-reached-42" in output, chunks[-3:]
    image_id = next(c["aux"]["ID"] for c in chunks if "aux" in c and "ID" in c["aux"])
    docker_api.remove_image(image_id, force=True)


def test_memory_and_cpu_limits_reach_the_run_containers(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo(
        {
            "Dockerfile": dockerfile(
                base_image,
                f'RUN echo "memory-limit=$(cat {MEMORY_LIMIT_FILES} 2>/dev/null)"',
                f'RUN echo "cpu-limit=$(cat {CPU_LIMIT_FILES} 2>/dev/null | tr "\\n" " ")"',
            )
        }
    )
    # the legacy builder's containers (BuildKit ignores the limits: docs/buildkit.md)
    repository = make_repository(repo.url, image, memory="64m", cpus=0.5, builder="legacy")
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = run(context, repository, repo.head())

    assert status == "success", record.error
    log = log_text(clean_redis, record.id)
    assert f"memory-limit={64 * 1024 * 1024}" in log
    assert re.search(r"cpu-limit=50000 100000", log), log


def test_a_step_over_the_memory_limit_is_killed_and_the_build_fails(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo(
        {"Dockerfile": dockerfile(base_image, "RUN head -c 300m /dev/zero | tail > /dev/null")}
    )
    repository = make_repository(repo.url, image, memory="64m", builder="legacy")
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = run(context, repository, repo.head())

    assert status == "failed", record.error
    assert "returned a non-zero code: 137" in record.error  # SIGKILL from the OOM killer
    assert record.error.endswith("(the step was killed: the repository's memory limit is 64 MiB).")
    assert record.digest is None


def test_without_limits_the_same_step_succeeds(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo(
        {"Dockerfile": dockerfile(base_image, "RUN head -c 100m /dev/zero | tail > /dev/null")}
    )
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = run(context, repository, repo.head())

    assert status == "success", record.error


def test_a_context_over_the_limit_fails_with_both_sizes_before_anything_is_sent(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo(
        {"Dockerfile": dockerfile(base_image, "COPY . /src"), "big.bin": os.urandom(3 << 20)}
    )
    repository = make_repository(repo.url, image)
    context = make_context(
        tmp_path,
        redis_url,
        clean_redis,
        [repository],
        environ={"AUTOBUILD_MAX_CONTEXT_BYTES": str(1 << 20)},
    )

    status, record = run(context, repository, repo.head())

    assert status == "failed"
    assert record.error.startswith("The build context is 3 MiB; the limit is 1 MiB")
    assert "Step 1/" not in log_text(clean_redis, record.id)  # Docker never saw it


def test_files_the_dockerignore_excludes_do_not_count_toward_the_limit(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo(
        {
            "Dockerfile": dockerfile(base_image, "COPY . /src", "RUN test ! -e /src/big.bin"),
            ".dockerignore": "big.bin\n",
            "big.bin": os.urandom(3 << 20),
        }
    )
    repository = make_repository(repo.url, image)
    context = make_context(
        tmp_path,
        redis_url,
        clean_redis,
        [repository],
        environ={"AUTOBUILD_MAX_CONTEXT_BYTES": str(1 << 20)},
    )

    status, record = run(context, repository, repo.head())

    assert status == "success", record.error


def _dangling_image(docker_api, base_image: str, tmp_path) -> str:
    folder = tmp_path / f"dangling-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    (folder / "Dockerfile").write_text(
        f"FROM {base_image}\nLABEL autobuild-test-dangling={uuid.uuid4().hex}\n"
    )
    chunks = list(docker_api.build(path=str(folder), rm=True, decode=True))
    return next(c["aux"]["ID"] for c in chunks if "aux" in c and "ID" in c["aux"])


def test_past_the_threshold_dangling_images_are_pruned_and_counted(
    tmp_path, redis_url, clean_redis, docker_api, base_image
):
    dangling = _dangling_image(docker_api, base_image, tmp_path)
    assert docker_api.inspect_image(dangling)["RepoTags"] == []
    time.sleep(3)  # older than the minimum age below; builds running now keep their images

    result = prune_if_needed(docker_api, 1, 2, clean_redis)

    assert result is not None and result.pruned, result
    with pytest.raises(docker.errors.ImageNotFound):
        docker_api.inspect_image(dangling)
    snapshot = read_snapshot(clean_redis)
    assert snapshot.docker["prunes"] == 1
    assert 0 < snapshot.docker["used_bytes"] < snapshot.docker["total_bytes"]


def test_below_the_threshold_nothing_is_pruned(
    tmp_path, redis_url, clean_redis, docker_api, base_image
):
    dangling = _dangling_image(docker_api, base_image, tmp_path)
    try:
        result = prune_if_needed(docker_api, 100, 0, clean_redis)
        assert result is not None and not result.pruned
        docker_api.inspect_image(dangling)  # still there
        assert "prunes" not in read_snapshot(clean_redis).docker
    finally:
        docker_api.remove_image(dangling, force=True)


def test_the_worker_housekeeping_uses_the_settings(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": "FROM scratch\n"})
    context = make_context(
        tmp_path,
        redis_url,
        clean_redis,
        [make_repository(repo.url, image)],
        environ={"AUTOBUILD_PRUNE_THRESHOLD_PERCENT": "1", "AUTOBUILD_PRUNE_MIN_AGE": "2"},
    )
    dangling = _dangling_image(docker_api, base_image, tmp_path)
    time.sleep(3)

    housekeeping(context.docker, context.settings, context.redis)

    with pytest.raises(docker.errors.ImageNotFound):
        docker_api.inspect_image(dangling)
    assert read_snapshot(clean_redis).docker["prunes"] == 1
