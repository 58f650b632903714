"""The build environment of hooks and tests: Docker Hub's variables with Hub's meanings, then the
repository's ``env:`` (an unset secret fails the build naming it)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from buildrules.hookfields import EnvVar
from buildrules.model import BuildRule, Repository
from core.build import BuildRecord
from core.events import PullRequest, RefType
from core.settings import Settings
from worker.buildenv import build_environment, hub_variables
from worker.checkout import BuildContext
from worker.commits import CommitInfo
from worker.errors import WorkerError
from worker.mirror import FetchResult

COMMIT = "a" * 40
PEELED = "b" * 40


def repository(*env: EnvVar) -> Repository:
    return Repository(
        provider="github",
        name="octo/app",
        clone_url="https://user:hunter2@git.example/octo/app.git",
        image="127.0.0.1:5000/octo/app",
        build_rules=(BuildRule(source_type=RefType.TAG, source="v1", docker_tags=("1",)),),
        env=env,
    )


def record(**changes: object) -> BuildRecord:
    fields: dict[str, object] = {
        "id": "0123abcd",
        "provider": "github",
        "repository": "octo/app",
        "source_type": RefType.TAG,
        "source_name": "v1.2",
        "commit": COMMIT,
        "image": "127.0.0.1:5000/octo/app",
        "docker_tags": ("1.2", "1", "latest"),
        "dockerfile": "docker/Dockerfile",
        "context": "/src",
        **changes,
    }
    return BuildRecord(**fields)  # type: ignore[arg-type]


def checkout(tmp_path: Path) -> BuildContext:
    when = datetime(2026, 12, 4, tzinfo=UTC)
    info = CommitInfo(PEELED, "Fix the build\n\nLonger text\n", "Fix the build", "Ann", when, when)
    return BuildContext(tmp_path, tmp_path, "Dockerfile", PEELED, FetchResult("commit"), info)


def test_hubs_variables_carry_hubs_meanings(tmp_path: Path) -> None:
    assert hub_variables(record(), repository(), checkout(tmp_path)) == {
        "SOURCE_BRANCH": "v1.2",  # the branch or tag built
        "SOURCE_COMMIT": PEELED,  # the commit built (a tag object peels to it)
        "COMMIT_MSG": "Fix the build\n\nLonger text",
        "DOCKER_REPO": "127.0.0.1:5000/octo/app",  # with the registry host
        "DOCKERFILE_PATH": "docker/Dockerfile",
        "DOCKER_TAG": "1.2",  # the first tag only
        "IMAGE_NAME": "127.0.0.1:5000/octo/app:1.2",
        "CACHE_TAG": "1.2",
        "BUILD_PATH": "/src",
        "BUILD_CODE": "0123abcd",
        "SOURCE_TYPE": "git",
        "SOURCE_URL": "https://git.example/octo/app.git",  # never the credentials
        "PUSH": "TRUE",
    }


def test_without_build_caching_cache_tag_is_empty_and_before_the_clone_the_record_speaks() -> None:
    found = hub_variables(record(build_caching=False), repository(), None)
    assert found["CACHE_TAG"] == "" and found["SOURCE_COMMIT"] == COMMIT
    assert found["COMMIT_MSG"] == ""


def test_env_values_come_first_and_secrets_are_read_from_the_workers_environment() -> None:
    repo = repository(EnvVar("GREETING", "hi"), EnvVar("TOKEN", secret_env="HOOK_TOKEN"))
    settings = Settings.from_env({"HOOK_TOKEN": "s3cret-value"})
    environment = build_environment(record(), repo, None, settings)
    assert environment.variables["GREETING"] == "hi"
    assert environment.variables["TOKEN"] == "s3cret-value"
    assert environment.secret_names == {"TOKEN"}
    assert environment.image_name == "127.0.0.1:5000/octo/app:1.2"
    assert "s3cret-value" not in repr(environment)


def test_an_unset_secret_env_variable_fails_the_build_naming_it() -> None:
    repo = repository(EnvVar("TOKEN", secret_env="HOOK_TOKEN_UNSET"))
    with pytest.raises(WorkerError) as caught:
        build_environment(record(), repo, None, Settings.from_env({}))
    assert "HOOK_TOKEN_UNSET" in caught.value.message and "TOKEN_env" in caught.value.message


def test_a_forks_pull_request_gets_the_plain_env_values_and_no_secret(tmp_path: Path) -> None:
    repo = repository(EnvVar("GREETING", "hi"), EnvVar("TOKEN", secret_env="HOOK_TOKEN"))
    settings = Settings.from_env({"HOOK_TOKEN": "s3cret-value-of-the-hook"})
    fork = PullRequest(7, "feature", "main", fork=True, fetch_ref="refs/pull/7/head")
    found = build_environment(record(pull_request=fork), repo, checkout(tmp_path), settings)
    assert found.variables["GREETING"] == "hi"
    assert "TOKEN" not in found.variables
    assert "s3cret-value-of-the-hook" not in found.variables.values()
    inside = PullRequest(8, "feature", "main", fork=False, fetch_ref="refs/pull/8/head")
    trusted = build_environment(record(pull_request=inside), repo, checkout(tmp_path), settings)
    assert trusted.variables["TOKEN"] == "s3cret-value-of-the-hook"
