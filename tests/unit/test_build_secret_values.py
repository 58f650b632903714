"""Which secret values a build gets, and the registry credentials its BuildKit session offers."""

from __future__ import annotations

import pytest

from buildrules.model import BuildRule, Repository
from core.events import RefType
from core.settings import Settings
from worker.build_secrets import secret_values, session_credentials
from worker.errors import UserBuildError


def repository(**rules_secrets: tuple[tuple[str, str], ...]) -> Repository:
    rules = tuple(
        BuildRule(RefType.BRANCH, name, ("latest",), secrets=secrets)
        for name, secrets in rules_secrets.items()
    )
    return Repository(
        "github",
        "octo/app",
        "https://x/y.git",
        "127.0.0.1:5000/octo/app",
        rules,
        secrets=(("NPM_TOKEN", "NPM_ENV"),),
    )


def test_a_build_gets_the_secrets_of_its_rules_from_the_environment() -> None:
    repo = repository(master=(("NPM_TOKEN", "NPM_ENV"), ("aws", "AWS_ENV")), dev=())
    settings = Settings.from_env({"NPM_ENV": "npm-value", "AWS_ENV": "aws-value"})
    assert secret_values(repo, (0,), settings) == {"NPM_TOKEN": b"npm-value", "aws": b"aws-value"}
    assert secret_values(repo, (), settings) == {"NPM_TOKEN": b"npm-value"}  # the repository's


def test_an_unset_variable_fails_the_build_naming_the_secret_and_variable() -> None:
    repo = repository(master=(("NPM_TOKEN", "NPM_ENV"),))
    with pytest.raises(
        UserBuildError,
        match="Build secret NPM_TOKEN needs the environment "
        "variable NPM_ENV on the worker, and it is not set",
    ):
        secret_values(repo, (0,), Settings.from_env({}))


def test_a_secret_larger_than_buildkit_accepts_fails_the_build_by_id() -> None:
    repo = repository(master=(("BIG", "BIG_ENV"),))
    settings = Settings.from_env({"NPM_ENV": "npm-value", "BIG_ENV": "x" * 600_000})
    with pytest.raises(UserBuildError, match="Build secret BIG is larger than BuildKit's"):
        secret_values(repo, (0,), settings)


def test_a_secret_too_short_to_mask_fails_the_build() -> None:
    repo = repository(master=())
    with pytest.raises(UserBuildError, match=r"Build secret NPM_TOKEN \(NPM_ENV\) is shorter than"):
        secret_values(repo, (0,), Settings.from_env({"NPM_ENV": "abc"}))


def test_registry_credentials_become_user_password_pairs() -> None:
    found = {"r:5001": {"username": "robot", "password": "pw-value"}}
    assert session_credentials(found) == {"r:5001": ("robot", "pw-value")}
