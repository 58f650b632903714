"""``secrets: {ID: ENV_VAR_NAME}`` on a repository, ``defaults:`` and a rule: merged per id (the
rule's winning), named as secrets for the masker, and bad ids or values refused with FILE:LINE."""

from __future__ import annotations

import textwrap

import pytest

from buildrules.errors import ConfigError
from buildrules.loader import load_text
from core.masking import Masker, masker_for
from core.settings import Settings

CONFIG = """\
repositories:
  - provider: github
    name: octo/app
    clone_url: https://github.com/octo/app.git
    image: 127.0.0.1:5000/octo/app
    secrets:
      NPM_TOKEN: NPM_TOKEN_ENV
      pip.conf: REPO_PIP_CONF
    defaults:
      secrets: {aws: DEFAULT_AWS}
    build_rules:
      - source_type: branch
        source: master
        docker_tag: latest
        secrets: {pip.conf: RULE_PIP_CONF}
      - source_type: tag
        source: /.*/
        docker_tag: "{sourceref}"
"""


def test_secrets_merge_repository_defaults_and_rule_per_id() -> None:
    repository = load_text(CONFIG).repositories[0]
    assert dict(repository.secrets) == {"NPM_TOKEN": "NPM_TOKEN_ENV", "pip.conf": "REPO_PIP_CONF"}
    branch, tag = repository.build_rules
    assert dict(branch.secrets) == {
        "NPM_TOKEN": "NPM_TOKEN_ENV",
        "pip.conf": "RULE_PIP_CONF",
        "aws": "DEFAULT_AWS",
    }
    assert dict(tag.secrets) == {
        "NPM_TOKEN": "NPM_TOKEN_ENV",
        "pip.conf": "REPO_PIP_CONF",
        "aws": "DEFAULT_AWS",
    }


def test_every_secret_variable_counts_as_a_secret_for_the_masker() -> None:
    config = load_text(CONFIG)
    names = set(config.secret_env_names())
    assert {"NPM_TOKEN_ENV", "REPO_PIP_CONF", "RULE_PIP_CONF", "DEFAULT_AWS"} <= names
    settings = Settings.from_env({"NPM_TOKEN_ENV": "npm_abcdef123456", "RULE_PIP_CONF": "[global]"})
    masker = masker_for(settings, config)
    assert masker.mask("token npm_abcdef123456 conf [global]") == "token ****** conf ******"
    assert isinstance(masker, Masker)


def test_no_secrets_is_the_default() -> None:
    text = CONFIG.replace(
        "    secrets:\n      NPM_TOKEN: NPM_TOKEN_ENV\n      pip.conf: REPO_PIP_CONF\n", ""
    )
    text = text.replace("    defaults:\n      secrets: {aws: DEFAULT_AWS}\n", "")
    text = text.replace("        secrets: {pip.conf: RULE_PIP_CONF}\n", "")
    repository = load_text(text).repositories[0]
    assert repository.secrets == ()
    assert all(rule.secrets == () for rule in repository.build_rules)


@pytest.mark.parametrize(
    ("secrets", "line", "complaint"),
    [
        ("{'bad id': X}", 6, "secret id 'bad id' must be letters, digits"),
        (
            "{NPM_TOKEN: npm_live_value-123}",
            6,
            "secret NPM_TOKEN must name an environment variable",
        ),
        ("[NPM_TOKEN]", 6, "secrets must be a mapping"),
        ("{NPM_TOKEN: [A]}", 6, "secret NPM_TOKEN must be a text value"),
    ],
)
def test_bad_secrets_are_refused_naming_file_and_line(secrets: str, line: int, complaint: str):
    text = textwrap.dedent(
        f"""\
        repositories:
          - provider: github
            name: octo/app
            clone_url: https://github.com/octo/app.git
            image: 127.0.0.1:5000/octo/app
            secrets: {secrets}
            build_rules:
              - {{source_type: branch, source: master, docker_tag: latest}}
        """
    )
    with pytest.raises(ConfigError) as caught:
        load_text(text, "autobuild.yml")
    assert f"autobuild.yml:{line}: {complaint}" in str(caught.value)


def test_a_refused_secret_value_is_not_repeated_in_the_error() -> None:
    text = CONFIG.replace("NPM_TOKEN: NPM_TOKEN_ENV", "NPM_TOKEN: npm-live-Secret-Value")
    with pytest.raises(ConfigError) as caught:
        load_text(text, "autobuild.yml")
    assert "npm-live-Secret-Value" not in str(caught.value)
