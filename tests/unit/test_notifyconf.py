"""The notification keys of the configuration: status keys and notify: lists, and their errors."""

from __future__ import annotations

import textwrap

import pytest

from buildrules.errors import ConfigError
from buildrules.loader import load_text
from buildrules.model import NOTIFY_EVENTS
from core.events import RefType


def config(repo_extra: str = "", top: str = "", provider: str = "github") -> str:
    extra = textwrap.indent(textwrap.dedent(repo_extra), "    ") if repo_extra else ""
    return (
        textwrap.dedent(top)
        + "repositories:\n"
        + f"  - provider: {provider}\n"
        + "    name: octo/hello\n"
        + "    clone_url: https://example.com/octo/hello.git\n"
        + "    image: 127.0.0.1:5000/octo/hello\n"
        + extra
        + "    build_rules:\n"
        + "      - {source_type: branch, source: master, docker_tag: latest}\n"
    )


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_text(text)
    return [f"{p.line}: {p.message}" for p in caught.value.problems]


def test_status_keys_load_onto_the_repository():
    repository = load_text(
        config(
            "status: true\nstatus_token_env: GH_TOKEN\napi_url: https://ghe.example.com/api/v3\n"
        )
    ).repositories[0]
    assert repository.status is True
    assert repository.status_token_env == "GH_TOKEN"
    assert repository.api_url == "https://ghe.example.com/api/v3"


def test_status_without_a_token_variable_names_the_line():
    assert problems(config("status: true\n")) == [
        "6: status: true needs status_token_env (the variable with the API token)"
    ]


def test_status_on_a_plain_git_server_is_refused():
    found = problems(config("status: true\nstatus_token_env: T\n", provider="git"))
    assert found == [
        "6: status: true needs a git host with a status API (github, gitlab, bitbucket, gitea),"
        " not 'git'"
    ]


def test_gitea_statuses_need_the_api_url():
    found = problems(config("status: true\nstatus_token_env: T\n", provider="gitea"))
    assert found == [
        "6: status: true for gitea needs api_url (like https://gitea.example.com/api/v1)"
    ]


def test_a_token_written_into_the_config_is_refused():
    found = problems(config("status: true\nstatus_token: abc\n"))
    assert any("would put a secret in the configuration" in p for p in found)


def test_notify_entries_load_with_their_defaults():
    loaded = load_text(
        config(
            """\
            notify:
              - url: https://deploy.example.com/hook
                secret_env: HOOK_SECRET
              - apprise_env: SLACK_URL
              - url: https://hub.example.com/hook
                format: dockerhub
            """
        )
    )
    hook, chat, hub = loaded.repositories[0].notify
    assert hook.events == NOTIFY_EVENTS and hook.secret_env == "HOOK_SECRET"
    assert chat.apprise_env == "SLACK_URL" and "build.queued" not in chat.events
    assert hub.format == "dockerhub" and hub.events == ("build.succeeded",)
    assert set(loaded.secret_env_names()) >= {"HOOK_SECRET", "SLACK_URL"}


def test_top_level_notify_applies_to_every_repository_after_its_own():
    loaded = load_text(
        config(
            "notify:\n  - url: https://own.example.com/\n",
            top="notify:\n  - apprise_env: TEAM_CHAT\n    events: [build.failed]\n",
        )
    )
    targets = loaded.notify_targets(loaded.repositories[0])
    assert [t.url or t.apprise_env for t in targets] == ["https://own.example.com/", "TEAM_CHAT"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("- events: [build.failed]", "a notify entry needs either url (a webhook) or apprise_env"),
        ("- url: https://a.example.com/\n  apprise_env: X", "not both"),
        ("- url: ftp://a.example.com/", "url must be an http:// or https:// URL"),
        ("- url: https://user:pw@a.example.com/", "url must not hold credentials"),
        ("- url: https://a.example.com/\n  events: [build.done]", "unknown event 'build.done'"),
        ("- url: https://a.example.com/\n  format: xml", "format must be one of json, dockerhub"),
        (
            "- url: https://a.example.com/\n  format: dockerhub\n  events: [build.failed]",
            "format: dockerhub sends only build.succeeded",
        ),
        ("- apprise_env: X\n  secret_env: Y", "secret_env is for url targets"),
        ("- url: https://a.example.com/\n  branches: ['/(/']", "is not a valid regex"),
        ("- url: https://a.example.com/\n  header: x", "unknown key 'header' in a notify entry"),
    ],
)
def test_a_bad_notify_entry_is_a_problem_naming_its_line(entry, message):
    text = config("notify:\n" + textwrap.indent(entry, "  ") + "\n")
    found = problems(text)
    assert any(message in p for p in found), found
    assert all(p.split(":")[0].isdigit() and int(p.split(":")[0]) >= 6 for p in found)


def test_branch_and_tag_filters_match_names_and_full_regexes():
    (target,) = (
        load_text(
            config(
                "notify:\n  - url: https://a.example.com/\n    branches: [master, '/release-.*/']\n"
            )
        )
        .repositories[0]
        .notify
    )
    assert target.wants_ref(RefType.BRANCH, "master")
    assert target.wants_ref(RefType.BRANCH, "release-1.2")
    assert not target.wants_ref(RefType.BRANCH, "feature/release-1")
    assert not target.wants_ref(RefType.TAG, "v1.0")  # a filter given: tags need theirs
