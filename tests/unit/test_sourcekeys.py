"""The submodules, ssh_key_env and pull keys of a repository."""

from __future__ import annotations

import pytest

from buildrules.loader import ConfigError, load_text

CONFIG = """\
repositories:
  - provider: git
    name: a/b
    clone_url: https://example.com/a.git
    image: 127.0.0.1:5000/a/b
{repository}
    build_rules:
      - source_type: branch
        source: main
"""


def load(repository: str = ""):
    return load_text(CONFIG.format(repository=repository), "autobuild.yml")


def test_the_defaults_fetch_no_submodules_use_no_key_and_pull_nothing():
    repository = load().repositories[0]
    assert (repository.submodules, repository.ssh_key_env, repository.pull) == (
        "false",
        None,
        False,
    )


@pytest.mark.parametrize(
    ("written", "mode"),
    [("true", "true"), ("false", "false"), ("recursive", "recursive"), ("Recursive", "recursive")],
)
def test_submodules_takes_a_boolean_or_recursive(written, mode):
    assert load(f"    submodules: {written}").repositories[0].submodules == mode


def test_ssh_key_env_and_pull_are_read_and_the_key_counts_as_a_secret():
    config = load("    ssh_key_env: DEPLOY_KEY\n    pull: true")
    repository = config.repositories[0]
    assert repository.ssh_key_env == "DEPLOY_KEY"
    assert repository.pull is True
    assert "DEPLOY_KEY" in config.secret_env_names()


@pytest.mark.parametrize(
    ("repository", "message"),
    [
        ("    submodules: always", "autobuild.yml:6: submodules must be false, true or recursive"),
        ("    submodules: [a]", "autobuild.yml:6: submodules must be"),
        ("    pull: yes please", "autobuild.yml:6: pull must be true or false"),
        (
            "    ssh_key_env: '-----BEGIN OPENSSH PRIVATE KEY-----'",
            "autobuild.yml:6: ssh_key_env must name an environment variable",
        ),
    ],
)
def test_bad_values_name_file_line_and_key(repository, message):
    with pytest.raises(ConfigError) as caught:
        load(repository)
    assert message in str(caught.value)
