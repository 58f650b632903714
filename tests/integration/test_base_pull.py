"""``pull: true`` on the real daemon and registry: a base image moved to a new digest under the
same tag is built from at once, and the log names the digest; ``pull: false`` keeps the daemon's."""

from __future__ import annotations

import uuid

import pytest

from buildrules.model import RegistryAuth
from tests.integration.buildkit_helpers import push_private_base
from tests.integration.services import build_context, stream_errors
from tests.integration.worker_helpers import (
    create_record,
    log_text,
    make_context,
    make_repository,
    phase_markers,
    registry_digest,
    unique_image,
)
from worker.jobs import execute_build

pytestmark = pytest.mark.integration


@pytest.fixture
def image(registry_url):
    return unique_image(registry_url, "pull")


def build_base(docker_api, base_image: str, reference: str, version: str) -> str:
    """Build a base image whose /base-version says ``version``, tagged ``reference``; its id."""
    dockerfile = f"FROM {base_image}\nRUN echo base-version-{version} > /base-version\n"
    chunks = list(
        docker_api.build(
            fileobj=build_context({"Dockerfile": dockerfile}),
            custom_context=True,
            tag=reference,
            rm=True,
            forcerm=True,
            decode=True,
            labels={"test.run": uuid.uuid4().hex},
        )
    )
    assert stream_errors(chunks) == []
    return str(docker_api.inspect_image(reference)["Id"])


def push_base(docker_api, reference: str) -> str:
    """Push ``reference`` (host/path:tag) and return the registry's digest for it."""
    name, _, tag = reference.rpartition(":")
    assert stream_errors(list(docker_api.push(name, tag=tag, stream=True, decode=True))) == []
    digest = registry_digest(name, tag)
    assert digest is not None
    return digest


def app_repo(make_git_repo, base: str):
    bust = f"ENV AUTOBUILD_TEST_RUN={uuid.uuid4().hex}"
    return make_git_repo({"Dockerfile": f"FROM {base}\n{bust}\nRUN cat /base-version\n"})


def build(context, repository, commit):
    record = create_record(context.store, repository, commit)
    status = execute_build(context, record.id)
    return status, context.store.require(record.id)


@pytest.mark.parametrize("builder", ["legacy", "buildkit"])
def test_pull_true_builds_from_the_base_images_new_digest_and_logs_it(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, image, builder
):
    base = f"{image}-base:stable"
    build_base(docker_api, base_image, base, "v1")
    first_digest = push_base(docker_api, base)
    app = app_repo(make_git_repo, base)
    repository = make_repository(app.url, image, pull=True, builder=builder)
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, first = build(context, repository, app.head())
    assert status == "success", first.error
    assert first_digest in log_text(clean_redis, first.id)

    build_base(docker_api, base_image, base, "v2")
    second_digest = push_base(docker_api, base)
    assert second_digest != first_digest
    status, second = build(context, repository, app.commit({"again.txt": "rebuild\n"}))

    assert status == "success", second.error
    log = log_text(clean_redis, second.id)
    assert "base-version-v2" in log
    assert "base-version-v1" not in log
    assert second_digest in log
    assert first_digest not in log
    assert phase_markers(clean_redis, second.id)[:3] == ["clone", "pull", "build"]


@pytest.mark.parametrize("builder", ["legacy", "buildkit"])
def test_pull_false_builds_from_the_daemons_copy_of_the_tag(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, image, builder
):
    # The daemon's BuildKit (classic image store) resolves FROM through the daemon's own images
    # first, as the legacy builder does: both build v1 although the registry has v2.
    base = f"{image}-base:stable"
    old_id = build_base(docker_api, base_image, base, "v1")
    push_base(docker_api, base)
    build_base(docker_api, base_image, base, "v2")
    push_base(docker_api, base)  # the registry has v2 ...
    name, _, tag = base.rpartition(":")
    docker_api.tag(old_id, name, tag)  # ... the daemon's copy of the tag is v1
    app = app_repo(make_git_repo, base)
    repository = make_repository(app.url, image, builder=builder)  # pull: false is the default
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, app.head())

    assert status == "success", record.error
    log = log_text(clean_redis, record.id)
    assert "base-version-v1" in log
    assert "pull" not in phase_markers(clean_redis, record.id)


def test_a_base_image_the_registry_does_not_have_fails_the_pull_with_a_sentence(
    tmp_path, redis_url, clean_redis, docker_api, base_image, make_git_repo, image
):
    app = app_repo(make_git_repo, f"{image}-missing:nope")
    repository = make_repository(app.url, image, pull=True, builder="legacy")
    context = make_context(tmp_path, redis_url, clean_redis, [repository])

    status, record = build(context, repository, app.head())

    assert status == "failed"
    assert record.error is not None
    assert record.error.startswith(f"Could not pull base image {image}-missing:nope: ")


@pytest.mark.parametrize("builder", ["legacy", "buildkit"])
def test_pull_true_uses_the_configured_credentials_of_the_base_images_registry(
    tmp_path,
    redis_url,
    clean_redis,
    docker_api,
    base_image,
    make_git_repo,
    image,
    auth_registry,
    builder,
):
    private = push_private_base(docker_api, base_image, auth_registry)
    name, _, tag = private.rpartition(":")
    digest = registry_digest(name, tag, auth_registry.username, auth_registry.password)
    app = make_git_repo({"Dockerfile": f"FROM {private}\nRUN echo {uuid.uuid4().hex}\n"})
    commit = app.head()
    repository = make_repository(
        app.url, image, pull=True, builder=builder, pull_registries=(auth_registry.host,)
    )
    registries = [RegistryAuth(auth_registry.host, "PULL_REG_USER", "PULL_REG_PASSWORD")]
    environ = {
        "PULL_REG_USER": auth_registry.username,
        "PULL_REG_PASSWORD": auth_registry.password,
    }
    context = make_context(
        tmp_path, redis_url, clean_redis, [repository], registries, environ=environ
    )

    status, record = build(context, repository, commit)

    assert status == "success", record.error
    log = log_text(clean_redis, record.id)
    assert digest is not None and digest in log
    assert auth_registry.password not in log
