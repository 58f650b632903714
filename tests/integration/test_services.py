"""The integration fixtures work: each one against the real service it stands for."""

from __future__ import annotations

import uuid
from typing import Any

import docker
import pytest
import redis

from tests.integration.services import (
    AuthRegistry,
    basic_auth,
    build_context,
    http_request,
    manifest_digest,
    push_digest,
    stream_errors,
)


def unique_repository(prefix: str) -> str:
    return f"autobuild-test/{prefix}-{uuid.uuid4().hex[:10]}"


def build(api: docker.APIClient, dockerfile: str, tag: str) -> list[dict[str, Any]]:
    context = build_context({"Dockerfile": dockerfile})
    return list(
        api.build(fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True, decode=True)
    )


def test_redis_answers_on_a_test_database_with_aof_and_noeviction(redis_url, redis_conn):
    assert redis_url.startswith("redis://127.0.0.1:6379/")
    assert redis_url.rsplit("/", 1)[1] != "0"
    assert redis_conn.ping()
    assert redis_conn.config_get("appendonly") == {"appendonly": "yes"}
    assert redis_conn.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}


def test_clean_redis_starts_empty(clean_redis: redis.Redis):
    clean_redis.set("autobuild-test:probe", "1")
    assert clean_redis.dbsize() == 1


def test_docker_client_and_api_reach_the_same_daemon(docker_client, docker_api):
    assert docker_client.ping()
    assert docker_api.version()["ApiVersion"] == docker_client.version()["ApiVersion"]


def test_registry_answers_v2(registry_url):
    status, _, _ = http_request(f"http://{registry_url}/v2/")
    assert status == 200


def test_base_image_is_in_the_registry(base_image, registry_url):
    name, tag = base_image.removeprefix(f"{registry_url}/").rsplit(":", 1)
    assert manifest_digest(registry_url, name, tag) is not None


def test_a_build_from_the_base_image_runs_shell_steps(docker_api, base_image, registry_url):
    tag = f"{registry_url}/{unique_repository('run-step')}:latest"
    chunks = build(
        docker_api,
        f"FROM {base_image}\nRUN echo built-by-autobuild-tests > /marker && cat /marker\n",
        tag,
    )
    try:
        assert stream_errors(chunks) == []
        output = "".join(str(chunk.get("stream", "")) for chunk in chunks)
        assert "built-by-autobuild-tests" in output
    finally:
        docker_api.remove_image(tag, force=True)


def test_a_failing_run_step_shows_as_an_error_in_the_stream(docker_api, base_image):
    chunks = build(docker_api, f"FROM {base_image}\nRUN exit 3\n", "autobuild-test/fails:latest")
    errors = stream_errors(chunks)
    assert errors and "returned a non-zero code: 3" in errors[0]


def test_auth_registry_requires_credentials_over_http(auth_registry: AuthRegistry):
    status, _, _ = http_request(f"http://{auth_registry.host}/v2/")
    assert status == 401
    creds = basic_auth(auth_registry.username, auth_registry.password)
    status, _, _ = http_request(f"http://{auth_registry.host}/v2/", headers=creds)
    assert status == 200
    wrong = basic_auth(auth_registry.username, "not-the-password")
    status, _, _ = http_request(f"http://{auth_registry.host}/v2/", headers=wrong)
    assert status == 401


@pytest.fixture
def image_for_auth_registry(docker_api, base_image, auth_registry):
    repository = f"{auth_registry.host}/{unique_repository('auth-push')}"
    chunks = build(
        docker_api, f"FROM {base_image}\nRUN echo pushed > /pushed\n", f"{repository}:v1"
    )
    assert stream_errors(chunks) == []
    yield repository
    docker_api.remove_image(f"{repository}:v1", force=True)


def test_push_to_auth_registry_without_credentials_fails(
    docker_api, auth_registry, image_for_auth_registry
):
    chunks = list(docker_api.push(image_for_auth_registry, tag="v1", stream=True, decode=True))
    errors = stream_errors(chunks)
    assert errors, chunks
    assert "auth" in errors[0].lower()
    assert push_digest(chunks) is None
    name = image_for_auth_registry.removeprefix(f"{auth_registry.host}/")
    assert (
        manifest_digest(
            auth_registry.host, name, "v1", auth_registry.username, auth_registry.password
        )
        is None
    )


def test_push_to_auth_registry_with_wrong_credentials_fails(
    docker_api, auth_registry, image_for_auth_registry
):
    wrong = {"username": auth_registry.username, "password": "not-the-password"}
    chunks = list(
        docker_api.push(
            image_for_auth_registry, tag="v1", stream=True, decode=True, auth_config=wrong
        )
    )
    assert stream_errors(chunks), chunks
    assert push_digest(chunks) is None


def test_push_to_auth_registry_with_credentials_succeeds(
    docker_api, auth_registry, image_for_auth_registry
):
    chunks = list(
        docker_api.push(
            image_for_auth_registry,
            tag="v1",
            stream=True,
            decode=True,
            auth_config=auth_registry.auth_config,
        )
    )
    assert stream_errors(chunks) == []
    digest = push_digest(chunks)
    assert digest is not None and digest.startswith("sha256:")
    name = image_for_auth_registry.removeprefix(f"{auth_registry.host}/")
    registry_digest = manifest_digest(
        auth_registry.host, name, "v1", auth_registry.username, auth_registry.password
    )
    assert registry_digest == digest


def test_make_git_repo_commits_tags_and_deletes(make_git_repo):
    repo = make_git_repo({"Dockerfile": "FROM scratch\n", "app/main.txt": "one"}, branch="main")
    assert repo.url.startswith("file://")
    assert repo.git("rev-parse", "--abbrev-ref", "HEAD") == "main"
    first = repo.head()
    second = repo.commit({"app/main.txt": "two", "Dockerfile": None}, "second")
    assert second != first and repo.head() == second
    assert repo.git("ls-files").splitlines() == ["app/main.txt"]
    assert repo.tag("v1.0") == second
    assert repo.tag("v1.1", message="annotated") == second
    listed = repo.git("ls-remote", "--tags", repo.url)
    assert "refs/tags/v1.0" in listed and "refs/tags/v1.1" in listed
    other = make_git_repo({"README": "x"})
    assert other.path != repo.path and other.branch == "master"
