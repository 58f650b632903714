"""A build gets only the credentials of its repository's registries (issue 18, item 6): its push
registries and its ``pull_registries``. Repository B cannot build ``FROM`` repository A's private
image until it lists A's registry, with BuildKit and with the legacy builder."""

from __future__ import annotations

import uuid

import pytest

from buildrules.model import RegistryAuth, Repository
from tests.integration.services import AuthRegistry, stream_errors
from tests.integration.worker_helpers import (
    create_record,
    make_context,
    make_repository,
    registry_digest,
    unique_image,
)
from worker.jobs import execute_build

pytestmark = pytest.mark.integration


def private_image(docker_api, base_image: str, registry: AuthRegistry) -> str:
    """The base image pushed to the authenticated registry (repository A's private image), and
    its tag removed from the daemon again, so a build must pull it."""
    image = unique_image(registry.host, "private")
    docker_api.tag(base_image, image, tag="latest")
    try:
        chunks = list(
            docker_api.push(
                image, tag="latest", stream=True, decode=True, auth_config=registry.auth_config
            )
        )
    finally:
        docker_api.remove_image(f"{image}:latest")
    assert not stream_errors(chunks), stream_errors(chunks)
    return f"{image}:latest"


def build_b(
    tmp_path, redis_url, clean_redis, registry: AuthRegistry, repository_b: Repository, commit: str
):
    """Build repository B with A's registry configured (credentials set) for repository A."""
    repository_a = make_repository("https://git.example/a.git", unique_image(registry.host, "a"))
    registries = [RegistryAuth(registry.host, "A_REG_USER", "A_REG_PASSWORD")]
    environ = {"A_REG_USER": registry.username, "A_REG_PASSWORD": registry.password}
    context = make_context(
        tmp_path, redis_url, clean_redis, [repository_a, repository_b], registries, environ
    )
    record = create_record(context.store, repository_b, commit)
    status = execute_build(context, record.id)
    return status, context.store.require(record.id)


@pytest.mark.parametrize("builder", ["buildkit", "legacy"])
def test_a_build_cannot_pull_another_repositorys_private_image(
    tmp_path,
    redis_url,
    clean_redis,
    docker_api,
    base_image,
    make_git_repo,
    registry_url,
    auth_registry,
    builder,
):
    private = private_image(docker_api, base_image, auth_registry)
    repo = make_git_repo({"Dockerfile": f"FROM {private}\nRUN echo {uuid.uuid4().hex}\n"})
    repository_b = make_repository(repo.url, unique_image(registry_url, "b"), builder=builder)

    status, record = build_b(
        tmp_path, redis_url, clean_redis, auth_registry, repository_b, repo.head()
    )

    assert status == "failed", record.error
    name = private.rsplit(":", 1)[0].rsplit("/", 1)[1]  # the daemon quotes a URL, BuildKit a ref
    assert auth_registry.host in record.error and name in record.error, record.error
    assert f"registry credentials only for {registry_url};" in record.error
    assert "pull_registries" in record.error
    assert registry_digest(repository_b.image, "latest") is None


@pytest.mark.parametrize("builder", ["buildkit", "legacy"])
def test_a_build_pulls_a_private_image_from_a_registry_its_repository_lists(
    tmp_path,
    redis_url,
    clean_redis,
    docker_api,
    base_image,
    make_git_repo,
    registry_url,
    auth_registry,
    builder,
):
    private = private_image(docker_api, base_image, auth_registry)
    repo = make_git_repo({"Dockerfile": f"FROM {private}\nRUN echo {uuid.uuid4().hex}\n"})
    repository_b = make_repository(
        repo.url,
        unique_image(registry_url, "b"),
        builder=builder,
        pull_registries=(auth_registry.host,),
    )

    status, record = build_b(
        tmp_path, redis_url, clean_redis, auth_registry, repository_b, repo.head()
    )

    assert status == "success", record.error
    assert registry_digest(repository_b.image, "latest") == record.digest
