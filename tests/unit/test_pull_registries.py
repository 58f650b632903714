"""``pull_registries: [host, ...]`` and the credentials a build is sent (issue 18, item 6): only
its repository's push registries and the ones it lists, never another repository's."""

from __future__ import annotations

import pytest

from buildrules.errors import ConfigError
from buildrules.loader import load_text
from core.settings import Settings
from worker.errors import DockerBuildError
from worker.phases.docker import registry_credentials
from worker.pull_access import explain_refused_pull

CONFIG = """\
registries:
  - {host: registry-a.example, username_env: A_USER, password_env: A_PASS}
  - {host: registry-b.example, username_env: B_USER, password_env: B_PASS}
  - {host: registry-c.example, username_env: C_USER, password_env: C_PASS}
repositories:
  - provider: github
    name: team/a
    clone_url: https://github.com/team/a.git
    image: registry-a.example/team/a
    build_rules:
      - {source_type: branch, source: master, docker_tag: latest}
  - provider: github
    name: team/b
    clone_url: https://github.com/team/b.git
    image: registry-b.example/team/b
    pull_registries: [Registry-C.example]
    build_rules:
      - {source_type: branch, source: master, docker_tag: latest}
      - {source_type: tag, source: /.*/, docker_tag: "{sourceref}", image: 127.0.0.1:5000/b}
"""
ENVIRON = {
    **{f"{x}_USER": f"{x.lower()}-bot" for x in "ABC"},
    **{f"{x}_PASS": f"{x.lower()}-password" for x in "ABC"},
}


def test_pull_registries_are_read_as_registry_hosts() -> None:
    repository = load_text(CONFIG).repositories[1]
    assert repository.pull_registries == ("registry-c.example",)
    assert repository.credential_hosts == (
        "registry-b.example",
        "127.0.0.1:5000",
        "registry-c.example",
    )


def test_a_build_gets_only_its_own_push_registry_credentials() -> None:
    config = load_text(CONFIG)
    found = registry_credentials(Settings.from_env(ENVIRON), config, config.repositories[0])
    assert found == {"registry-a.example": {"username": "a-bot", "password": "a-password"}}


def test_a_build_gets_the_credentials_of_the_registries_its_repository_lists() -> None:
    config = load_text(CONFIG)
    found = registry_credentials(Settings.from_env(ENVIRON), config, config.repositories[1])
    assert set(found) == {"registry-b.example", "registry-c.example"}  # no A, 5000 has none


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("registry-c.example", "pull_registries must be a list"),
        ("[https://registry-c.example]", "without the scheme"),
        ("[registry-c.example, REGISTRY-C.example]", "lists registry-c.example twice"),
    ],
)
def test_bad_pull_registries_are_refused_with_file_and_line(value: str, message: str) -> None:
    text = CONFIG.replace("[Registry-C.example]", value)
    with pytest.raises(ConfigError) as caught:
        load_text(text, "rules.yml")
    assert "rules.yml:" in str(caught.value)
    assert message in str(caught.value)


def test_a_refused_pull_says_which_registries_get_credentials() -> None:
    error = DockerBuildError(
        'Step 1/2 failed: Head "http://r:5001/v2/x/manifests/1": no basic auth credentials'
    )
    explained = explain_refused_pull(error, ("127.0.0.1:5000", "registry-c.example"))
    assert explained.message.startswith("Step 1/2 failed: Head")
    assert "credentials only for 127.0.0.1:5000, registry-c.example;" in explained.message
    assert "pull_registries" in explained.message


def test_other_build_errors_are_left_alone() -> None:
    error = DockerBuildError("Step 2/2 failed: The command '/bin/sh -c false' returned 1")
    assert explain_refused_pull(error, ()) is error
