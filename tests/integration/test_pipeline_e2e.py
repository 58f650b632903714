"""End to end on the real services: a signed push becomes an image in a real registry."""

from __future__ import annotations

import textwrap
import uuid

import pytest

from core.logs import read_log
from tests.integration.webhook_helpers import (
    github_push,
    make_app,
    make_settings,
    post_github,
    registry_digest,
    run_burst_worker,
)

SECRET = "e2e-webhook-secret-value-0123"
REPO = "octo/e2e"


def write_config(tmp_path, clone_url, image, registries=""):
    config = tmp_path / "autobuild.yml"
    repositories = textwrap.dedent(
        f"""
        repositories:
          - provider: github
            name: {REPO}
            clone_url: {clone_url}
            image: {image}
            webhook_secret_env: E2E_SECRET
            build_rules:
              - source_type: branch
                source: master
                docker_tag: latest
              - source_type: tag
                source: /^v([0-9.]+)$/
                docker_tag: '{{\\1}}'
        """
    )
    config.write_text(registries + repositories)
    return config


def push_and_build(settings, ref, commit):
    client = make_app(settings).test_client()
    answer = post_github(client, SECRET, github_push(REPO, ref, commit))
    assert answer.status_code == 202, answer.json
    (build,) = answer.json["builds"]
    worker = run_burst_worker(settings)
    assert worker.returncode == 0, worker.stderr[-2000:]
    return client.get(f"/api/v1/builds/{build['id']}").json


@pytest.fixture
def image_path():
    return f"autobuild-test/e2e-{uuid.uuid4().hex[:10]}"


def test_branch_push_lands_in_the_registry_with_the_reported_digest(
    tmp_path, redis_url, registry_url, base_image, make_git_repo, image_path, redis_conn
):
    repo = make_git_repo({"Dockerfile": f"FROM {base_image}\nRUN echo built > /built.txt\n"})
    config = write_config(tmp_path, repo.url, f"{registry_url}/{image_path}")
    settings = make_settings(config, redis_url, tmp_path, E2E_SECRET=SECRET)
    build = push_and_build(settings, "refs/heads/master", repo.head())
    assert build["status"] == "success", build
    assert build["digest"].startswith("sha256:")
    assert registry_digest(registry_url, image_path, "latest") == build["digest"]
    assert build["started_at"] and build["finished_at"] and build["error"] is None
    log = "\n".join(line.text for line in read_log(redis_conn, build["id"]))
    assert "RUN echo built" in log


def test_tag_push_builds_the_tagged_commit(
    tmp_path, redis_url, registry_url, base_image, make_git_repo, image_path
):
    repo = make_git_repo({"Dockerfile": f"FROM {base_image}\nRUN echo one > /v.txt\n"})
    tagged = repo.tag("v1.4")
    repo.commit({"Dockerfile": f"FROM {base_image}\nRUN echo two > /v.txt\n"}, "after the tag")
    config = write_config(tmp_path, repo.url, f"{registry_url}/{image_path}")
    settings = make_settings(config, redis_url, tmp_path, E2E_SECRET=SECRET)
    build = push_and_build(settings, "refs/tags/v1.4", tagged)
    assert build["status"] == "success", build
    assert build["commit"] == tagged
    assert registry_digest(registry_url, image_path, "1.4") == build["digest"]
    assert registry_digest(registry_url, image_path, "latest") is None


def test_failing_run_step_fails_the_build_and_pushes_nothing(
    tmp_path, redis_url, registry_url, base_image, make_git_repo, image_path, redis_conn
):
    repo = make_git_repo({"Dockerfile": f"FROM {base_image}\nRUN echo about to fail && exit 3\n"})
    config = write_config(tmp_path, repo.url, f"{registry_url}/{image_path}")
    settings = make_settings(config, redis_url, tmp_path, E2E_SECRET=SECRET)
    build = push_and_build(settings, "refs/heads/master", repo.head())
    assert build["status"] == "failed", build
    assert "3" in build["error"]
    assert build["digest"] is None
    log = "\n".join(line.text for line in read_log(redis_conn, build["id"]))
    assert "about to fail" in log
    assert registry_digest(registry_url, image_path, "latest") is None


def test_push_to_an_authenticated_registry_needs_the_configured_credentials(
    tmp_path, redis_url, auth_registry, base_image, make_git_repo, image_path
):
    repo = make_git_repo({"Dockerfile": f"FROM {base_image}\nRUN echo private > /p.txt\n"})
    image = f"{auth_registry.host}/{image_path}"
    registries = textwrap.dedent(
        f"""
        registries:
          - host: {auth_registry.host}
            username_env: REG_USER
            password_env: REG_PASSWORD
        """
    )
    config = write_config(tmp_path, repo.url, image, registries)

    without = make_settings(config, redis_url, tmp_path, E2E_SECRET=SECRET)
    refused = push_and_build(without, "refs/heads/master", repo.head())
    assert refused["status"] == "error", refused
    assert refused["digest"] is None
    assert refused["error"]

    with_credentials = make_settings(
        config,
        redis_url,
        tmp_path,
        E2E_SECRET=SECRET,
        REG_USER=auth_registry.username,
        REG_PASSWORD=auth_registry.password,
    )
    # a new push: the same body again would be a duplicate of the first delivery
    newer = repo.commit({"README": "pushed again\n"})
    accepted = push_and_build(with_credentials, "refs/heads/master", newer)
    assert accepted["status"] == "success", accepted
    auth = (auth_registry.username, auth_registry.password)
    assert (
        registry_digest(auth_registry.host, image_path, "latest", auth=auth) == accepted["digest"]
    )
    assert auth_registry.password not in str(accepted)
