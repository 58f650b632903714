"""``hooks:`` and ``env:`` of a repository: read and checked with FILE:LINE, secret ``env`` values
named for the masker, and ``DOCKER_BUILDKIT: 0`` asking for the legacy builder."""

from __future__ import annotations

import textwrap

import pytest

from buildrules.errors import ConfigError
from buildrules.hookfields import EnvVar, legacy_requested
from buildrules.loader import load_text
from core.masking import masker_for
from core.settings import Settings

CONFIG = """\
repositories:
  - provider: github
    name: octo/app
    clone_url: https://github.com/octo/app.git
    image: 127.0.0.1:5000/octo/app
    hooks: true
    env:
      GREETING: hello world
      LEVEL: 3
      EMPTY: ""
      NPM_TOKEN_env: HOOK_NPM_TOKEN
    build_rules:
      - {source_type: branch, source: master, docker_tag: latest}
"""


def test_hooks_and_env_are_read_plain_values_as_written_and_secrets_by_name() -> None:
    repository = load_text(CONFIG).repositories[0]
    assert repository.hooks is True
    assert repository.env == (
        EnvVar("GREETING", "hello world"),
        EnvVar("LEVEL", "3"),
        EnvVar("EMPTY", ""),
        EnvVar("NPM_TOKEN", secret_env="HOOK_NPM_TOKEN"),
    )


def test_hooks_are_off_and_env_empty_unless_written() -> None:
    hook_lines = (
        "    hooks:",
        "    env:",
        "      GREETING",
        "      LEVEL",
        "      EMPTY",
        "      NPM",
    )
    text = "".join(
        line for line in CONFIG.splitlines(keepends=True) if not line.startswith(hook_lines)
    )
    repository = load_text(text).repositories[0]
    assert repository.hooks is False and repository.env == ()


def test_a_secret_env_value_is_masked_by_the_processes() -> None:
    config = load_text(CONFIG)
    assert "HOOK_NPM_TOKEN" in config.secret_env_names()
    value = "npm_0123456789abcdef0123456789"
    masker = masker_for(Settings.from_env({"HOOK_NPM_TOKEN": value}), config)
    assert value not in masker.mask(f"token {value}")


@pytest.mark.parametrize(
    ("replace", "line", "complaint"),
    [
        ("hooks: true", 6, "hooks must be true or false"),
        ("GREETING: hello world", 8, "env cannot set IMAGE_NAME: the build sets it itself"),
        ("LEVEL: 3", 9, "env name 'BAD-NAME' must be letters, digits and '_'"),
        (
            "NPM_TOKEN_env: HOOK_NPM_TOKEN",
            11,
            "env NPM_TOKEN_env must name an environment variable",
        ),
        ('EMPTY: ""', 10, "env sets GREETING twice"),
    ],
)
def test_bad_hooks_and_env_entries_are_refused_naming_file_and_line(
    replace: str, line: int, complaint: str
) -> None:
    bad = {
        "hooks: true": "hooks: yes please",
        "GREETING: hello world": "IMAGE_NAME: mine",
        "LEVEL: 3": "BAD-NAME: 3",
        "NPM_TOKEN_env: HOOK_NPM_TOKEN": "NPM_TOKEN_env: npm-live-Secret-Value",
        'EMPTY: ""': "GREETING_env: SOME_VAR",
    }[replace]
    with pytest.raises(ConfigError) as caught:
        load_text(CONFIG.replace(replace, bad), "autobuild.yml")
    assert f"autobuild.yml:{line}: {complaint}" in str(caught.value)
    assert "npm-live-Secret-Value" not in str(caught.value)


def test_an_unknown_repository_key_near_env_is_still_an_error() -> None:
    text = CONFIG.replace("    env:\n", "    envs:\n")
    with pytest.raises(ConfigError) as caught:
        load_text(textwrap.dedent(text), "autobuild.yml")
    assert "unknown key 'envs'" in str(caught.value)


@pytest.mark.parametrize(
    ("env", "legacy"),
    [
        ((EnvVar("DOCKER_BUILDKIT", "0"),), True),
        ((EnvVar("DOCKER_BUILDKIT", "false"),), True),
        ((EnvVar("DOCKER_BUILDKIT", "1"),), False),
        ((EnvVar("DOCKER_BUILDKIT", secret_env="X"),), False),
        ((), False),
    ],
)
def test_docker_buildkit_0_in_env_asks_for_the_legacy_builder(
    env: tuple[EnvVar, ...], legacy: bool
) -> None:
    assert legacy_requested(env) is legacy
