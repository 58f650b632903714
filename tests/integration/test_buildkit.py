"""BuildKit builds on the real daemon and registry: cache mounts and parallel stages, the plain
log of a failing step, cancel and time limits of a running step (its process is gone after),
the inline layer cache, and the legacy builder still selectable."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
import requests

from core.build import BuildStatus, new_build_id
from tests.integration.control_helpers import (
    ADMIN,
    FAST_CONTROL,
    WorkerProcess,
    build_of,
    burst,
    configure,
    push,
    repository_entry,
    wait_for,
)
from tests.integration.worker_helpers import (
    create_record,
    log_text,
    make_context,
    make_repository,
    registry_digest,
    unique_image,
)
from worker.jobs import execute_build

pytestmark = pytest.mark.integration
CANCEL_SECONDS = 10


@pytest.fixture
def image(registry_url):
    return unique_image(registry_url, "buildkit")


def dockerfile(base_image: str, *lines: str) -> str:
    bust = f"ENV AUTOBUILD_TEST_RUN={uuid.uuid4().hex}"  # every build runs its steps
    return "\n".join([f"FROM {base_image}", bust, *lines]) + "\n"


def build(context, repository, commit, **fields):
    record = create_record(context.store, repository, commit, **fields)
    status = execute_build(context, record.id)
    return status, context.store.require(record.id)


def processes_with(marker: str) -> list[int]:
    """Processes on this machine whose command line holds ``marker`` (a RUN step's shell)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in command:
            found.append(int(entry.name))
    return found


def registry_json(image: str, reference: str, kind: str = "manifests") -> dict:
    host, _, path = image.partition("/")
    accept = (
        "application/vnd.docker.distribution.manifest.v2+json,"
        "application/vnd.docker.distribution.manifest.list.v2+json,"
        "application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json"
    )
    response = requests.get(
        f"http://{host}/v2/{path}/{kind}/{reference}", headers={"Accept": accept}, timeout=10
    )
    response.raise_for_status()
    return response.json()


PARALLEL_STAGES = """\
FROM {base} AS left
ENV BUST={bust}
RUN --mount=type=cache,target=/cache echo left >> /cache/runs && echo left-stage-ran > /left
FROM {base} AS right
ENV BUST={bust}
RUN echo right-stage-ran > /right
FROM {base}
ARG GREETING
COPY --from=left /left /left
COPY --from=right /right /right
RUN echo "final-says $GREETING" && cat /left /right
"""


def test_a_buildkit_build_with_a_cache_mount_and_parallel_stages_is_pushed_and_verified(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, image
):
    text = PARALLEL_STAGES.format(base=base_image, bust=uuid.uuid4().hex)
    repo = make_git_repo({"Dockerfile": text})
    repository = make_repository(repo.url, image)  # builder: buildkit is the default
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(
        context, repository, repo.head(), tags=("latest", "extra"), build_args=[("GREETING", "hi")]
    )

    assert status == "success", record.error
    for tag in ("latest", "extra"):
        assert registry_digest(image, tag) == record.digest
    log = log_text(clean_redis, record.id)
    assert "with buildkit" in log
    assert "final-says hi" in log and "left-stage-ran" in log and "right-stage-ran" in log
    for stage in ("[left 2/2] RUN --mount=type=cache", "[right 2/2] RUN echo right", "[stage-2"):
        assert any(line.startswith("#") and stage in line for line in log.splitlines()), stage
    assert any(line.endswith("DONE") or " DONE " in line for line in log.splitlines())
    labels = docker_api.inspect_image(record.image_id)["Config"]["Labels"]
    assert labels["org.opencontainers.image.revision"] == repo.head()
    assert labels["io.autobuild.build-id"] == record.id
    # the inline cache metadata a cold worker reads back through cache_from
    manifest = registry_json(image, record.digest)
    config = registry_json(image, manifest["config"]["digest"], "blobs")
    assert "moby.buildkit.cache.v0" in config


def test_a_rebuild_names_the_pushed_image_as_its_inline_cache_source(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": f"FROM {base_image}\nRUN echo cached-step\n"})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    status, first = build(context, repository, repo.head())
    assert status == "success", first.error
    repo.commit({"other.txt": "x\n"})

    status, second = build(context, repository, repo.head())

    assert status == "success", second.error
    log = log_text(clean_redis, second.id)
    assert f"inline cache of {image}:latest in the registry" in log
    importing = [
        line for line in log.splitlines() if f"importing cache manifest from {image}" in line
    ]
    assert importing and not any("ERROR" in line for line in log.splitlines())


def test_build_caching_false_runs_every_step_with_buildkit(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": f"FROM {base_image}\nRUN echo always-runs\n"})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    assert build(context, repository, repo.head())[0] == "success"  # the cache is warm
    again = create_record(context.store, repository, repo.head()).with_changes(
        id=new_build_id(), build_caching=False
    )
    context.store.create([again])

    status = execute_build(context, again.id)

    assert status == "success"
    log = log_text(clean_redis, again.id)
    assert "Layer cache: off (build_caching: false)" in log
    lines = log.splitlines()
    step = next(line.split()[0] for line in lines if "RUN echo always-runs" in line)
    assert f"{step} CACHED" not in lines
    assert any(line.startswith(f"{step} ") and line.endswith(" always-runs") for line in lines)


def test_a_failing_buildkit_step_fails_with_its_message_and_last_output(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo(
        {
            "Dockerfile": dockerfile(
                base_image, "RUN echo about-to-fail && echo last-words && exit 3", "RUN echo never"
            )
        }
    )
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, repo.head())

    assert status == "failed"
    assert record.status is BuildStatus.FAILED
    assert record.error.startswith("Step #")
    assert "RUN echo about-to-fail && echo last-words && exit 3 failed:" in record.error
    assert "exit code: 3" in record.error
    assert "(last output: about-to-fail; last-words)" in record.error
    log = log_text(clean_redis, record.id).splitlines()
    step = next(line.split()[0] for line in log if "RUN echo about-to-fail" in line)
    assert any(line.startswith(f"{step} ") and line.endswith("last-words") for line in log)
    assert any(line.startswith(f"{step} ERROR: ") and "exit code: 3" in line for line in log)
    assert not any(line.endswith(" never") for line in log)
    assert registry_digest(image, "latest") is None


def test_a_running_buildkit_step_is_canceled_within_ten_seconds_and_its_process_is_gone(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    marker = f"bk-cancel-{uuid.uuid4().hex[:8]}"
    repo = make_git_repo(
        {
            "Dockerfile": dockerfile(
                base_image, f"RUN echo {marker} && sleep 60 && echo {marker}-never"
            )
        }
    )
    name = f"octo/bk-cancel-{uuid.uuid4().hex[:6]}"
    settings, client = configure(
        tmp_path, redis_url, [repository_entry(name, repo.url, image)], **FAST_CONTROL
    )
    (build_,) = push(client, name, repo.head())

    with WorkerProcess(settings, tmp_path / "worker.log"):
        wait_for(lambda: marker in log_text(clean_redis, build_["id"]), 60, "the RUN step")
        wait_for(lambda: processes_with(marker), 10, "the RUN process")
        canceled_at = time.monotonic()
        answer = client.post(f"/api/v1/builds/{build_['id']}/cancel", headers=ADMIN)
        assert answer.status_code == 200 and answer.json["status"] == "canceled"

        stopped = "Build stopped while building the image: it is now canceled"
        wait_for(lambda: stopped in log_text(clean_redis, build_["id"]), CANCEL_SECONDS, stopped)
        wait_for(
            lambda: not processes_with(marker),
            CANCEL_SECONDS - (time.monotonic() - canceled_at),
            "the RUN process to go",
        )
        assert build_of(client, build_["id"])["status"] == "canceled"
    assert registry_digest(image, "latest") is None


def test_a_killed_worker_takes_its_buildkit_step_with_it(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    marker = f"bk-killed-{uuid.uuid4().hex[:8]}"
    step = f"RUN echo {marker} && sleep 60 && echo {marker}-never"
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, step)})
    name = f"octo/bk-killed-{uuid.uuid4().hex[:6]}"
    settings, client = configure(
        tmp_path, redis_url, [repository_entry(name, repo.url, image)], **FAST_CONTROL
    )
    (_build,) = push(client, name, repo.head())

    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: processes_with(marker), 60, "the RUN process")
        worker.kill()  # SIGKILL: its connection to the daemon dies with it
    finally:
        worker.stop()

    wait_for(lambda: not processes_with(marker), CANCEL_SECONDS, "the RUN process to go")
    assert registry_digest(image, "latest") is None


def test_a_buildkit_step_past_the_timeout_ends_timed_out_and_its_process_is_gone(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, registry_url
):
    ticking = f"bk-ticking-{uuid.uuid4().hex[:8]}"  # trace records keep the watchdog quiet
    silent = f"bk-silent-{uuid.uuid4().hex[:8]}"
    wall_repo = make_git_repo(
        {
            "Dockerfile": dockerfile(
                base_image, f"RUN for i in $(seq 60); do echo {ticking}; sleep 1; done"
            )
        }
    )
    quiet_repo = make_git_repo(
        {"Dockerfile": dockerfile(base_image, f"RUN echo {silent}; sleep 60; echo {silent}-never")}
    )
    wall, quiet = f"octo/bk-wall-{uuid.uuid4().hex[:6]}", f"octo/bk-quiet-{uuid.uuid4().hex[:6]}"
    wall_image = unique_image(registry_url, "bk-wall")
    quiet_image = unique_image(registry_url, "bk-quiet")
    settings, client = configure(
        tmp_path,
        redis_url,
        [
            repository_entry(wall, wall_repo.url, wall_image, timeout="6s"),
            repository_entry(quiet, quiet_repo.url, quiet_image, no_output_timeout="3s"),
        ],
    )
    (by_wall,) = push(client, wall, wall_repo.head())
    (by_silence,) = push(client, quiet, quiet_repo.head())
    burst(settings)

    timed_out = build_of(client, by_wall["id"])
    assert timed_out["status"] == "timed_out", timed_out
    assert "timeout of 6 seconds was reached" in timed_out["error"]
    assert log_text(clean_redis, by_wall["id"]).count(ticking) >= 3  # it ran, talking, until cut
    silenced = build_of(client, by_silence["id"])
    assert silenced["status"] == "timed_out", silenced
    assert "no_output_timeout of 3 seconds was reached" in silenced["error"]
    for marker in (ticking, silent):
        wait_for(
            lambda m=marker: not processes_with(m),  # type: ignore[misc]
            10,
            f"the RUN process of {marker}",
        )
    assert registry_digest(wall_image, "latest") is None
    assert registry_digest(quiet_image, "latest") is None


def test_the_legacy_builder_is_still_selectable(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN echo legacy-ran")})
    repository = make_repository(repo.url, image, builder="legacy")
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, repo.head())

    assert status == "success", record.error
    log = log_text(clean_redis, record.id)
    assert "with legacy" in log and "Step 3/3 : RUN echo legacy-ran" in log
    assert registry_digest(image, "latest") == record.digest


def test_a_dockerfile_needing_buildkit_on_the_legacy_builder_fails_with_a_sentence_saying_so(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo(
        {"Dockerfile": dockerfile(base_image, "RUN --mount=type=cache,target=/c echo hi")}
    )
    repository = make_repository(repo.url, image, builder="legacy")
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, repo.head())

    assert status == "failed"
    assert record.error == (
        "RUN --mount needs BuildKit: remove builder: legacy (Dockerfile line 3 uses it)."
    ) or record.error.startswith("RUN --mount needs BuildKit: remove builder: legacy")
    assert registry_digest(image, "latest") is None


def test_the_build_record_of_a_single_platform_build_has_no_platforms(
    tmp_path, redis_url, clean_redis, base_image, make_git_repo, image
):
    repo = make_git_repo({"Dockerfile": dockerfile(base_image, "RUN true")})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, repo.head())

    assert status == "success", record.error
    data = json.loads(record.dumps())
    assert data["platforms"] == [] and data["platform_digests"] == {}
