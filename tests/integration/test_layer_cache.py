"""Warm layers on cold workers, on the real daemon and registries: a rebuild on a worker whose
local images are gone pulls the image last pushed for the tag and reuses its layers; with
``build_caching: false`` nothing is pulled and every step runs."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import replace

import docker.errors
import pytest

from buildrules.model import RegistryAuth
from core.build import BuildRecord, new_build_id
from core.logs import read_log
from tests.integration.worker_helpers import (
    create_record,
    make_context,
    make_repository,
    registry_digest,
    unique_image,
)
from worker.jobs import execute_build

pytestmark = pytest.mark.integration

EXPENSIVE_MARK = "expensive-step-ran"


def cached_dockerfile(base_image: str) -> str:
    """An expensive first step (unique to this test run, so only our own images can cache it),
    then the sources."""
    token = uuid.uuid4().hex
    return (
        "\n".join(
            [
                f"FROM {base_image}",
                f'RUN echo "{EXPENSIVE_MARK} {token}" && i=0 && while [ $i -lt 20000 ]; do'
                " i=$((i+1)); done && echo done > /expensive",
                "COPY app.txt /app.txt",
                "RUN cat /app.txt",
            ]
        )
        + "\n"
    )


def step_outputs(connection, build_id: str) -> dict[str, list[str]]:
    """The lines after each ``Step n/m : INSTRUCTION`` line of a build log, by instruction."""
    steps: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in read_log(connection, build_id):
        if line.text.startswith("Step "):
            current = steps.setdefault(line.text.split(" : ", 1)[1], [])
        elif current is not None:
            current.append(line.text)
    return steps


def expensive_step(steps: dict[str, list[str]]) -> list[str]:
    return next(lines for instruction, lines in steps.items() if EXPENSIVE_MARK in instruction)


def forget_local_images(api, image: str, *image_ids: str) -> None:
    """Remove this test's tags and images (and so their untagged parents): a cold worker."""
    for reference in (f"{image}:latest", *image_ids):
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_image(reference, force=True)
    for image_id in image_ids:
        with pytest.raises(docker.errors.NotFound):
            api.inspect_image(image_id)


def remove_images_of(api, image: str) -> None:
    """Every local image of this test's own repository: built, pulled, or left dangling when a
    newer build took the tag (never another test's images)."""
    for local in api.images(all=True):
        references = [*(local.get("RepoTags") or []), *(local.get("RepoDigests") or [])]
        if any(ref.startswith((f"{image}:", f"{image}@")) for ref in references):
            with contextlib.suppress(docker.errors.APIError):
                api.remove_image(local["Id"], force=True)


def run(context, record: BuildRecord) -> BuildRecord:
    status = execute_build(context, record.id)
    final = context.store.require(record.id)
    assert status == "success", final.error
    return final


def test_a_rebuild_on_a_worker_without_local_images_reuses_the_pushed_layers(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, registry_url
):
    image = unique_image(registry_url, "cache")
    repo = make_git_repo({"Dockerfile": cached_dockerfile(base_image), "app.txt": "one\n"})
    repository = make_repository(repo.url, image, builder="legacy")  # BuildKit: test_buildkit
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    try:
        first = run(context, create_record(context.store, repository, repo.head()))
        first_log = "\n".join(line.text for line in read_log(clean_redis, first.id))
        assert "is not in the registry yet" in first_log  # a first build: not an error
        assert "Using cache" not in "\n".join(expensive_step(step_outputs(clean_redis, first.id)))

        forget_local_images(docker_api, image, first.image_id)
        repo.commit({"app.txt": "two\n"})
        second = run(context, create_record(context.store, repository, repo.head()))

        log = "\n".join(line.text for line in read_log(clean_redis, second.id))
        assert f"Pulling {image}:latest ({first.digest[:19]}" in log
        assert f"Layer cache: {image}:latest" in log and "pulled from the registry" in log
        assert " ---> Using cache" in expensive_step(step_outputs(clean_redis, second.id))
        steps = step_outputs(clean_redis, second.id)
        assert " ---> Using cache" not in steps["RUN cat /app.txt"]  # the changed part ran
        assert registry_digest(image, "latest") == second.digest != first.digest
        labels = docker_api.inspect_image(second.image_id)["Config"]["Labels"]
        assert labels["org.opencontainers.image.revision"] == repo.head()
        assert labels["io.autobuild.build-id"] == second.id
    finally:
        remove_images_of(docker_api, image)


def test_build_caching_false_pulls_nothing_and_runs_every_step_even_on_a_warm_worker(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, registry_url
):
    image = unique_image(registry_url, "nocache")
    repo = make_git_repo({"Dockerfile": cached_dockerfile(base_image), "app.txt": "one\n"})
    repository = make_repository(repo.url, image)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])
    try:
        run(context, create_record(context.store, repository, repo.head()))  # the cache is warm
        record = replace(
            create_record(context.store, repository, repo.head()),
            id=new_build_id(),
            build_caching=False,
        )
        context.store.create([record])

        again = run(context, record)

        log = "\n".join(line.text for line in read_log(clean_redis, again.id))
        assert "Layer cache: off (build_caching: false)" in log
        assert "Pulling" not in log
        assert "Using cache" not in log
    finally:
        remove_images_of(docker_api, image)


def test_the_cache_image_is_pulled_with_the_configured_credentials(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, auth_registry
):
    image = unique_image(auth_registry.host, "cache-auth")
    repo = make_git_repo({"Dockerfile": cached_dockerfile(base_image), "app.txt": "one\n"})
    repository = make_repository(repo.url, image, builder="legacy")
    registries = [RegistryAuth(auth_registry.host, "REG_USER", "REG_PASSWORD")]
    environ = {"REG_USER": auth_registry.username, "REG_PASSWORD": auth_registry.password}
    context = make_context(tmp_path, redis_url, clean_redis, [repository], registries, environ)
    try:
        first = run(context, create_record(context.store, repository, repo.head()))
        forget_local_images(docker_api, image, first.image_id)
        repo.commit({"app.txt": "two\n"})

        second = run(context, create_record(context.store, repository, repo.head()))

        assert " ---> Using cache" in expensive_step(step_outputs(clean_redis, second.id))
        assert auth_registry.password not in "\n".join(
            line.text for line in read_log(clean_redis, second.id)
        )
    finally:
        remove_images_of(docker_api, image)
