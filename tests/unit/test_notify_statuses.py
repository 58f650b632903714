"""Commit status requests as each git host documents them: path, auth header, body, states."""

from __future__ import annotations

import base64

import pytest

from buildrules.model import BuildRule, Repository
from core.build import BuildRecord, BuildStatus
from core.events import RefType
from worker.notify.statuses import (
    STATES,
    bitbucket_key,
    description_of,
    status_api,
    status_request,
)

SHA = "a" * 40
URL = "https://autobuild.example.com/builds/b1"


def repo(provider: str, name: str = "octo/hello", **options) -> Repository:
    return Repository(
        provider=provider,
        name=name,
        clone_url="https://example.com/x.git",
        image="registry.example.com/octo/hello",
        build_rules=(BuildRule(RefType.BRANCH, "master", ("latest",)),),
        status=True,
        status_token_env="TOKEN",
        **options,
    )


def record(status=BuildStatus.QUEUED, **fields) -> BuildRecord:
    base = BuildRecord(
        id="b1",
        provider="github",
        repository="octo/hello",
        source_type=RefType.BRANCH,
        source_name="master",
        commit=SHA,
        image="registry.example.com/octo/hello",
        docker_tags=("latest", "1.0"),
        dockerfile="Dockerfile",
        context="/",
    )
    return base.with_changes(status=status, **fields)


def test_github_posts_to_the_statuses_endpoint_with_a_bearer_token():
    request = status_request(repo("github"), record(), "tok", URL)
    assert request.url == f"https://api.github.com/repos/octo/hello/statuses/{SHA}"
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.body == {
        "state": "pending",
        "target_url": URL,
        "description": "Queued.",
        "context": "autobuild/registry.example.com/octo/hello:latest",
    }


def test_github_enterprise_uses_the_configured_api_root():
    request = status_request(
        repo("github", api_url="https://ghe.example.com/api/v3/"), record(), "t", URL
    )
    assert request.url == f"https://ghe.example.com/api/v3/repos/octo/hello/statuses/{SHA}"


def test_gitlab_addresses_the_project_by_its_encoded_path_with_a_private_token():
    request = status_request(
        repo("gitlab", "group/sub/hello"), record(BuildStatus.BUILDING), "tok", URL
    )
    assert request.url == (f"https://gitlab.com/api/v4/projects/group%2Fsub%2Fhello/statuses/{SHA}")
    assert request.headers["PRIVATE-TOKEN"] == "tok"
    assert "Authorization" not in request.headers
    assert request.body["state"] == "running"
    assert request.body["ref"] == "master"
    assert request.body["name"] == "autobuild/registry.example.com/octo/hello:latest"


def test_bitbucket_cloud_posts_a_build_status_with_key_and_url():
    request = status_request(repo("bitbucket", "work/hello"), record(BuildStatus.SUCCESS), "t", URL)
    assert request.url == (
        f"https://api.bitbucket.org/2.0/repositories/work/hello/commit/{SHA}/statuses/build"
    )
    assert request.headers["Authorization"] == "Bearer t"
    assert request.body["state"] == "SUCCESSFUL"
    assert request.body["url"] == URL
    assert request.body["refname"] == "master"
    assert len(request.body["key"]) <= 40


def test_bitbucket_cloud_user_and_app_password_go_as_basic_auth():
    request = status_request(repo("bitbucket", "work/hello"), record(), "me:app-pass", URL)
    expected = base64.b64encode(b"me:app-pass").decode()
    assert request.headers["Authorization"] == f"Basic {expected}"


def test_a_bitbucket_api_url_under_rest_api_is_a_data_center():
    repository = repo("bitbucket", "PROJ/hello", api_url="https://bb.example.com/rest/api/latest")
    assert status_api(repository) == "bitbucket-server"
    request = status_request(
        repository, record(BuildStatus.CANCELED, source_type=RefType.TAG), "t", URL
    )
    assert request.url == (
        f"https://bb.example.com/rest/api/latest/projects/PROJ/repos/hello/commits/{SHA}/builds"
    )
    assert request.body["state"] == "CANCELLED"
    assert request.body["ref"] == "refs/tags/master"


def test_gitea_uses_its_token_scheme():
    repository = repo("gitea", api_url="https://gitea.example.com/api/v1")
    request = status_request(repository, record(BuildStatus.FAILED, error="RUN failed."), "t", URL)
    assert request.url == f"https://gitea.example.com/api/v1/repos/octo/hello/statuses/{SHA}"
    assert request.headers["Authorization"] == "token t"
    assert request.body["state"] == "failure"
    assert request.body["description"] == "RUN failed."


@pytest.mark.parametrize("api", sorted(STATES))
def test_every_status_of_ours_maps_to_a_state_of_every_host(api):
    assert set(STATES[api]) == set(BuildStatus)


def test_a_configured_context_replaces_the_default():
    request = status_request(repo("github", status_context="ci/autobuild"), record(), "t", URL)
    assert request.body["context"] == "ci/autobuild"


def test_the_description_is_one_short_sentence():
    assert description_of(record(BuildStatus.SUCCESS)) == "Pushed latest, 1.0."
    long_error = "The build failed because " + "it did " * 40 + "."
    text = description_of(record(BuildStatus.ERROR, error=long_error))
    assert len(text) <= 140 and text.endswith("…")
    assert description_of(record(BuildStatus.TIMED_OUT)) == "Build timed out."


def test_a_long_bitbucket_key_is_shortened_stably():
    long_context = "autobuild/registry.example.com/a/very/long/image/name:latest"
    assert bitbucket_key(long_context) == bitbucket_key(long_context)
    assert len(bitbucket_key(long_context)) == 40
    assert bitbucket_key("autobuild/x:latest") == "autobuild/x:latest"
