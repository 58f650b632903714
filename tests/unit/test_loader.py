"""The configuration loader: what loads, what is refused, and that every problem names FILE:LINE."""

from __future__ import annotations

import contextlib
import os
import textwrap
import threading
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from buildrules.errors import ConfigError, Problem
from buildrules.loader import load, load_text
from buildrules.model import DEFAULT_TIMEOUT_SECONDS, Config, PathFilter
from core.events import RefType

REPO = """\
repositories:
  - provider: github
    name: Codertocat/Hello-World
    clone_url: https://github.com/Codertocat/Hello-World.git
    image: 127.0.0.1:5000/codertocat/hello-world
    webhook_secret_env: HELLO_WEBHOOK_SECRET
"""


def config_with(extra_repo: str = "", rules: str | None = None) -> str:
    """A valid configuration with extra repository keys and the given build_rules body."""
    if rules is None:
        rules = "      - source_type: branch\n        source: master\n        docker_tag: latest\n"
    extra = textwrap.indent(textwrap.dedent(extra_repo), "    ") if extra_repo else ""
    return REPO + extra + "    build_rules:\n" + rules


def rules_yaml(text: str) -> str:
    return textwrap.indent(textwrap.dedent(text), "      ")


def problems_of(text: str, file: str = "autobuild.yml") -> list[Problem]:
    with pytest.raises(ConfigError) as raised:
        load_text(text, file)
    return list(raised.value.problems)


def one_problem(text: str) -> Problem:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


def only_rule(text: str) -> Config:
    return load_text(config_with(rules=rules_yaml(text)))


# -- the contract's example --------------------------------------------------------------------

CONTRACT = r"""
registries:                         # optional; credentials per registry host
  - host: 127.0.0.1:5000
    username_env: REGISTRY_USERNAME
    password_env: REGISTRY_PASSWORD
repositories:
  - provider: github                # github | bitbucket | gitlab | gitea | git
    name: Codertocat/Hello-World    # full name as the host reports it (case-insensitive)
    clone_url: https://github.com/Codertocat/Hello-World.git   # the only place a clone URL
    image: 127.0.0.1:5000/codertocat/hello-world               # registry/repository, no tag
    webhook_secret_env: HELLO_WEBHOOK_SECRET    # required for webhooks: no secret, no webhook
    trigger_token_env: HELLO_TRIGGER_TOKEN      # optional: enables the manual trigger endpoint
    build_rules:
      - source_type: branch         # branch | tag (case-insensitive, as Docker Hub's Branch/Tag)
        source: master              # a name, or a regex between slashes: /^v([0-9.]+)$/
        docker_tag: latest          # a template: {sourceref}, {\1}..{\9}; a list: one build
        dockerfile: Dockerfile      # relative to the context
        context: /                  # path in the repository; / is the root
      - source_type: tag
        source: /^v([0-9.]+)$/
        docker_tag: '{\1}'
"""


def test_contract_example_loads_with_every_value(tmp_path: Path) -> None:
    path = tmp_path / "autobuild.yml"
    path.write_text(CONTRACT)
    config = load(path)
    assert config.sources == (path,)
    (repository,) = config.repositories
    assert repository.provider == "github"
    assert repository.name == "Codertocat/Hello-World"
    assert repository.image == "127.0.0.1:5000/codertocat/hello-world"
    assert repository.webhook_secret_env == "HELLO_WEBHOOK_SECRET"
    assert repository.trigger_token_env == "HELLO_TRIGGER_TOKEN"
    assert repository.location is not None and repository.location.line == 7
    branch, tag = repository.build_rules
    assert (branch.source_type, branch.source, branch.docker_tags) == (
        RefType.BRANCH,
        "master",
        ("latest",),
    )
    assert (branch.dockerfile, branch.context) == ("Dockerfile", "/")
    assert (tag.source_type, tag.source, tag.docker_tags) == (
        RefType.TAG,
        "/^v([0-9.]+)$/",
        (r"{\1}",),
    )
    assert config.registry_auth("127.0.0.1:5000") is not None
    assert config.secret_env_names() == (
        "HELLO_WEBHOOK_SECRET",
        "HELLO_TRIGGER_TOKEN",
        "REGISTRY_USERNAME",
        "REGISTRY_PASSWORD",
    )
    assert config.find_repository("github", "codertocat/hello-world") is repository


def test_optional_keys_have_documented_defaults() -> None:
    config = load_text(config_with())
    repository = config.repositories[0]
    rule = repository.build_rules[0]
    assert repository.timeout_seconds == DEFAULT_TIMEOUT_SECONDS == 3600
    assert repository.no_output_timeout_seconds == 20 * 60
    assert repository.max_concurrent_builds == 1
    assert repository.cancel_running is False
    assert repository.network == "default"
    assert repository.memory is None and repository.cpus is None
    assert repository.retries == 2
    assert repository.trigger_token_env is None
    assert (rule.dockerfile, rule.context, rule.build_args) == ("Dockerfile", "/", ())
    assert rule.autobuild is True and rule.build_caching is True
    assert rule.paths == PathFilter() and rule.image is None


def test_repository_level_keys_are_read() -> None:
    config = load_text(
        config_with(
            """
            trigger_token_env: HELLO_TRIGGER
            timeout: 2h
            no_output_timeout: 90m
            max_concurrent_builds: 3
            cancel_running: true
            network: none
            memory: 2g
            cpus: 1.5
            retries: 0
            """
        )
    )
    repository = config.repositories[0]
    assert repository.timeout_seconds == 7200
    assert repository.no_output_timeout_seconds == 5400
    assert repository.max_concurrent_builds == 3
    assert repository.cancel_running is True
    assert repository.network == "none"
    assert repository.memory == "2g"
    assert repository.cpus == 1.5
    assert repository.retries == 0


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("3600", 3600), ("45s", 45), ("90m", 5400), ("2h", 7200), ("1h30m", 5400), ('"600"', 600)],
)
def test_timeout_takes_seconds_or_a_duration(written: str, seconds: int) -> None:
    config = load_text(config_with(f"timeout: {written}\n"))
    assert config.repositories[0].timeout_seconds == seconds


@pytest.mark.parametrize("written", ["0", "-5", "5x", "1.5h", "soon", "''"])
def test_timeout_that_is_not_a_positive_duration_is_refused(written: str) -> None:
    problem = one_problem(config_with(f"timeout: {written}\n"))
    assert problem.line == 7 and "timeout" in problem.message


@pytest.mark.parametrize(
    ("key_value", "expected"),
    [
        ("max_concurrent_builds: 0", "max_concurrent_builds must be at least 1"),
        ("retries: -1", "retries must be at least 0"),
        ("retries: two", "retries must be a whole number"),
        ("cancel_running: 'true'", "cancel_running must be true or false"),
        ("network: host", "network must be one of default, none"),
        ("memory: 2 lots", "memory must be like"),
        ("memory: 1m", "at least 6m"),
        ("cpus: 0", "cpus must be a number above zero"),
        ("cpus: many", "cpus must be a number"),
    ],
)
def test_repository_limits_are_checked(key_value: str, expected: str) -> None:
    problem = one_problem(config_with(key_value + "\n"))
    assert problem.line == 7
    assert expected in problem.message


# -- required keys, unknown keys, secrets --------------------------------------------------------


@pytest.mark.parametrize("key", ["provider", "name", "clone_url", "image", "build_rules"])
def test_missing_required_repository_key_is_named(key: str) -> None:
    text = config_with().replace("  - provider:", "  -\n    provider:")
    lines = [line for line in text.splitlines() if not line.strip().startswith(key + ":")]
    if key == "build_rules":
        lines = lines[:7]
    problems = problems_of("\n".join(lines) + "\n")
    assert any(f"needs {key!r}" in p.message and p.line == 3 for p in problems), problems


def test_empty_build_rules_is_refused() -> None:
    problem = one_problem(REPO + "    build_rules: []\n")
    assert problem.line == 7 and "at least one rule" in problem.message


def test_unknown_key_names_file_line_and_key() -> None:
    problem = one_problem(config_with("colour: blue\n"))
    assert str(problem).startswith("autobuild.yml:7: unknown key 'colour' in a repository")


def test_unknown_key_suggests_the_close_known_key() -> None:
    problem = one_problem(config_with("imagee: x\n"))
    assert "did you mean 'image'?" in problem.message


def test_unknown_key_at_top_level_is_refused() -> None:
    problem = one_problem("version: 2\n" + config_with())
    assert problem.line == 1 and "'version'" in problem.message


def test_docker_hub_field_names_get_a_hint() -> None:
    problem = one_problem(
        config_with(rules=rules_yaml("- source_type: Branch\n  source: master\n  tag: latest\n"))
    )
    assert problem.line == 10 and "'tag'" in problem.message and "docker_tag" in problem.message


@pytest.mark.parametrize("key", ["webhook_secret", "trigger_token"])
def test_literal_secret_key_says_to_use_the_env_key(key: str) -> None:
    problem = one_problem(config_with(f"{key}: hunter2-hunter2\n"))
    assert f"{key}_env" in problem.message
    assert "hunter2" not in problem.message


def test_literal_registry_password_says_to_use_password_env() -> None:
    text = "registries:\n  - host: r.example.com\n    password: s3cr3t\n" + config_with()
    problem = one_problem(text)
    assert (
        problem.line == 3 and "password_env" in problem.message and "s3cr3t" not in problem.message
    )


@pytest.mark.parametrize("value", ["ghp_abc-123", "my secret", "1ABC", "'$TOKEN'"])
def test_env_key_must_name_a_variable_and_the_value_is_not_repeated(value: str) -> None:
    text = config_with().replace("HELLO_WEBHOOK_SECRET", value)
    problem = one_problem(text)
    assert problem.line == 6 and "must name an environment variable" in problem.message
    assert value.strip("'") not in problem.message


def test_registry_needs_both_env_names_or_neither() -> None:
    text = "registries:\n  - host: r.example.com\n    username_env: USER\n" + config_with()
    assert "both username_env and password_env" in one_problem(text).message


def test_registry_host_is_normalised_and_docker_hub_aliases_become_docker_io() -> None:
    text = "registries:\n  - host: Index.Docker.IO\n  - host: R.example.com:5000\n" + config_with()
    config = load_text(text)
    assert [r.host for r in config.registries] == ["docker.io", "r.example.com:5000"]


def test_registry_host_with_a_scheme_is_refused() -> None:
    text = "registries:\n  - host: https://r.example.com\n" + config_with()
    assert "without the scheme" in one_problem(text).message


def test_same_registry_twice_names_both_places() -> None:
    text = "registries:\n  - host: r.example.com\n  - host: r.example.com\n" + config_with()
    problem = one_problem(text)
    assert problem.line == 3 and "autobuild.yml:2" in problem.message


# -- provider, name, clone_url, image -----------------------------------------------------------


def test_provider_is_case_insensitive_and_must_be_known() -> None:
    assert (
        load_text(config_with().replace("github", "GitHub", 1)).repositories[0].provider == "github"
    )
    problem = one_problem(config_with().replace("provider: github", "provider: sourceforge"))
    assert problem.line == 2 and "github, bitbucket, gitlab, gitea, git" in problem.message


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/a/b.git",
        "http://git.example.com/a/b",
        "ssh://git@git.example.com:2222/a/b.git",
        "git://git.example.com/a/b.git",
        "file:///srv/git/demo.git",
        "git@github.com:a/b.git",
    ],
)
def test_clone_url_accepts_the_usual_forms(url: str) -> None:
    text = config_with().replace("https://github.com/Codertocat/Hello-World.git", url)
    assert load_text(text).repositories[0].clone_url == url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pa55word@github.com/a/b.git", "must not contain credentials"),
        ("https://ghp_token@github.com/a/b.git", "must not contain credentials"),
        ("ssh://git:pa55word@host/a/b.git", "must not contain credentials"),
        ("ext::sh -c touch% /tmp/pwned", "whitespace"),
        ("ext::nc", "remote helper"),
        ("--upload-pack=touch /tmp/x", "must not start with '-'"),
        ("ftp://example.com/a.git", "scheme 'ftp' is not allowed"),
        ("/srv/git/demo.git", "file:///path/to/repo"),
        ("file://host/srv/demo.git", "file:///path/to/repo"),
        ("https:///a/b.git", "has no host"),
        ("https://gitlab.example.com/a/b.git?private_token=ghp_token", "query string"),
        ("https://example.com/a/b.git?access_token=ghp_token&x=1", "query string"),
        ("http://example.com/a.git?ghp_token", "query string"),
        ("ssh://git@host/a/b.git?ghp_token", "query string"),
        ("https://example.com/a/b.git#ghp_token", "query string or fragment"),
    ],
)
def test_clone_url_refuses_credentials_helpers_and_options(url: str, expected: str) -> None:
    text = config_with().replace("https://github.com/Codertocat/Hello-World.git", f"'{url}'")
    problem = one_problem(text)
    assert problem.line == 4 and expected in problem.message
    assert "pa55word" not in problem.message and "ghp_token" not in problem.message


@pytest.mark.parametrize(
    "image",
    [
        "alpine",
        "library/alpine",
        "localhost/a",
        "localhost:5000/a/b",
        "registry.example.com/a-b/c__d.e",
        "127.0.0.1:5000/x",
    ],
)
def test_image_accepts_repository_names(image: str) -> None:
    text = config_with().replace("127.0.0.1:5000/codertocat/hello-world", image)
    assert load_text(text).repositories[0].image == image


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (
            "127.0.0.1:5000/Codertocat/Hello-World",
            "must be lowercase: write '127.0.0.1:5000/codertocat/hello-world'",
        ),
        ("127.0.0.1:5000/codertocat/hello-world:latest", "has a tag"),
        ("alpine@sha256:abcd", "has a digest"),
        ("registry.example.com/a_-b", "not a valid repository name component"),
        ("registry.example.com/-a", "not a valid repository name component"),
        ("a//b", "not a valid repository name component"),
        ("-bad.example.com/a", "not a valid registry host"),
    ],
)
def test_image_that_is_not_a_lowercase_repository_name_is_refused(
    image: str, expected: str
) -> None:
    text = config_with().replace("127.0.0.1:5000/codertocat/hello-world", image)
    problem = one_problem(text)
    assert problem.line == 5 and expected in problem.message


def test_image_longer_than_255_characters_is_refused() -> None:
    text = config_with().replace(
        "127.0.0.1:5000/codertocat/hello-world", "r.example.com/" + "a" * 250
    )
    assert "longer than 255" in one_problem(text).message


def test_name_with_whitespace_is_refused() -> None:
    text = config_with().replace("name: Codertocat/Hello-World", "name: 'Codertocat / Hello'")
    problem = one_problem(text)
    assert problem.line == 3 and "whitespace" in problem.message


# -- rules: source type, source, docker_tag ----------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [("Branch", RefType.BRANCH), ("TAG", RefType.TAG), ("tag", RefType.TAG)],
)
def test_source_type_is_case_insensitive(written: str, expected: RefType) -> None:
    config = only_rule(f"- source_type: {written}\n  source: v1\n")
    assert config.repositories[0].build_rules[0].source_type is expected


def test_unknown_source_type_is_refused() -> None:
    problem = one_problem(config_with(rules=rules_yaml("- source_type: commit\n  source: x\n")))
    assert problem.line == 8 and "'branch', 'tag' or 'pull_request'" in problem.message


def test_missing_source_type_and_source_are_both_reported() -> None:
    problems = problems_of(config_with(rules=rules_yaml("- docker_tag: latest\n")))
    messages = " | ".join(p.message for p in problems)
    assert "needs 'source_type'" in messages and "needs 'source'" in messages


def test_invalid_regex_names_file_line_and_rule() -> None:
    text = config_with(rules=rules_yaml("- source_type: tag\n  source: /^v([0-9/\n"))
    problem = one_problem(text)
    assert str(problem).startswith("autobuild.yml:9: source /^v([0-9/ is not a valid regex")


def test_empty_regex_is_refused() -> None:
    assert (
        "empty regex"
        in one_problem(config_with(rules=rules_yaml("- source_type: tag\n  source: //\n"))).message
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("refs/heads/main", "write 'main'"),
        ("/^v.*$/i", "without flags"),
        ("release/*", "write a regex"),
        ("a..b", "not a valid git branch or tag name"),
        ("main.lock", "not a valid git branch or tag name"),
        ("'-x'", "not a valid git branch or tag name"),
    ],
)
def test_literal_source_that_cannot_be_a_ref_name_is_refused(source: str, expected: str) -> None:
    problem = one_problem(
        config_with(rules=rules_yaml(f"- source_type: branch\n  source: {source}\n"))
    )
    assert problem.line == 9 and expected in problem.message


def test_numeric_source_is_kept_as_written() -> None:
    config = only_rule("- source_type: tag\n  source: 1.10\n")
    assert config.repositories[0].build_rules[0].source == "1.10"


def test_docker_tag_takes_a_list_and_the_comma_separated_form() -> None:
    config = only_rule(
        "- source_type: branch\n  source: main\n"
        "  docker_tag: ['{sourceref},latest', stable, latest]\n"
    )
    assert config.repositories[0].build_rules[0].docker_tags == ("{sourceref}", "latest", "stable")


def test_docker_tag_defaults_to_the_source_ref() -> None:
    config = only_rule("- source_type: branch\n  source: main\n")
    assert config.repositories[0].build_rules[0].docker_tags == ("{sourceref}",)


@pytest.mark.parametrize(
    ("docker_tag", "expected"),
    [
        ("'latest,'", "empty tag between commas"),
        ("[]", "at least one tag"),
        ("'my tag'", "contains ' '"),
        ("'-{sourceref}'", "must not start with '.' or '-'"),
        ("'.hidden'", "must not start with '.' or '-'"),
        ("'x" + "y" * 128 + "'", "longer than 128"),
        ("'{sourceref'", "never closed"),
        ("'{source ref}'", "is not a variable"),
        ("true", "quote"),
    ],
)
def test_docker_tag_that_cannot_become_a_tag_is_refused(docker_tag: str, expected: str) -> None:
    text = config_with(
        rules=rules_yaml(f"- source_type: branch\n  source: main\n  docker_tag: {docker_tag}\n")
    )
    problem = one_problem(text)
    assert problem.line == 10 and expected in problem.message


# -- templates checked against the source at load time -----------------------------------------


def test_group_the_regex_lacks_is_a_load_time_error() -> None:
    text = config_with(
        rules=rules_yaml(
            "- source_type: tag\n  source: /^v([0-9]+)$/\n  docker_tag: '{\\1}.{\\2}'\n"
        )
    )
    problem = one_problem(text)
    assert problem.line == 10
    assert "{\\2} refers to group 2, but /^v([0-9]+)$/ has only 1 group" in problem.message


def test_group_reference_on_a_literal_source_is_a_load_time_error() -> None:
    text = config_with(
        rules=rules_yaml("- source_type: tag\n  source: v1\n  docker_tag: '{\\1}'\n")
    )
    assert "needs a regex source" in one_problem(text).message


def test_unknown_variable_lists_the_available_ones() -> None:
    text = config_with(
        rules=rules_yaml(
            "- source_type: tag\n  source: /^v(?P<major>[0-9]+)$/\n  docker_tag: '{minor}'\n"
        )
    )
    message = one_problem(text).message
    assert "no group named 'minor'" in message
    assert "{sourceref}, {sha}, {short_sha}, {base_ref}, {\\1}, {major}" in message


def test_named_groups_and_builtins_are_accepted() -> None:
    config = only_rule(
        "- source_type: tag\n  source: /^v(?P<major>[0-9]+)\\.([0-9]+)$/\n"
        "  docker_tag: ['{major}', '{\\2}', '{sourceref}-{short_sha}', 'sha-{sha}']\n"
    )
    assert len(config.repositories[0].build_rules[0].docker_tags) == 4


def test_named_group_that_hides_a_builtin_is_refused() -> None:
    text = config_with(rules=rules_yaml("- source_type: tag\n  source: /^(?P<sha>.*)$/\n"))
    assert "hides the built-in variable {sha}" in one_problem(text).message


def test_build_arg_templates_are_checked_against_the_source() -> None:
    text = config_with(
        rules=rules_yaml("- source_type: branch\n  source: main\n  build_args:\n    V: '{\\1}'\n")
    )
    problem = one_problem(text)
    assert problem.line == 11 and "build arg V" in problem.message


# -- per-rule keys -----------------------------------------------------------------------------


def test_per_rule_keys_are_read() -> None:
    config = only_rule(
        """\
        - source_type: branch
          source: main
          dockerfile: docker/app.Dockerfile
          context: /services/app/
          build_args:
            VERSION: 1.10
            COMMIT: '{sha}'
            EMPTY: ''
          autobuild: false
          build_caching: false
          image: registry.example.com/other/image
          paths:
            include: services/app/
            ignore: ['**/*.md']
        """
    )
    rule = config.repositories[0].build_rules[0]
    assert rule.dockerfile == "docker/app.Dockerfile"
    assert rule.context == "/services/app"
    assert rule.build_args == (("VERSION", "1.10"), ("COMMIT", "{sha}"), ("EMPTY", ""))
    assert rule.autobuild is False and rule.build_caching is False
    assert rule.image == "registry.example.com/other/image"
    assert rule.paths == PathFilter(include=("services/app/",), ignore=("**/*.md",))
    assert config.repositories[0].images == ("127.0.0.1:5000/codertocat/hello-world", rule.image)


@pytest.mark.parametrize(
    ("key", "value"), [("autobuild", "'false'"), ("build_caching", "0"), ("autobuild", "null")]
)
def test_booleans_must_be_real_yaml_booleans(key: str, value: str) -> None:
    text = config_with(
        rules=rules_yaml(f"- source_type: branch\n  source: main\n  {key}: {value}\n")
    )
    problem = one_problem(text)
    assert problem.line == 10 and f"{key} must be true or false" in problem.message


@pytest.mark.parametrize(
    ("context", "dockerfile", "expected"),
    [
        ("/", "Dockerfile", ("Dockerfile", "/")),
        ("app", "./Dockerfile", ("Dockerfile", "/app")),
        ("./app//sub/", "build/Dockerfile", ("build/Dockerfile", "/app/sub")),
        ("''", "docker/web/Dockerfile", ("Dockerfile", "/docker/web")),
        ("''", "Dockerfile", ("Dockerfile", "/")),
    ],
)
def test_context_and_dockerfile_are_normalised(
    context: str, dockerfile: str, expected: tuple[str, str]
) -> None:
    config = only_rule(
        f"- source_type: branch\n  source: main\n  context: {context}\n  dockerfile: {dockerfile}\n"
    )
    rule = config.repositories[0].build_rules[0]
    assert (rule.dockerfile, rule.context) == expected


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("context", "../other", "must stay inside the repository"),
        ("dockerfile", "/Dockerfile", "drop the leading '/'"),
        ("dockerfile", "../Dockerfile", "must be inside the context"),
        ("dockerfile", "docker/", "names a directory"),
    ],
)
def test_context_and_dockerfile_must_stay_inside_the_repository(
    key: str, value: str, expected: str
) -> None:
    text = config_with(
        rules=rules_yaml(f"- source_type: branch\n  source: main\n  {key}: {value}\n")
    )
    problem = one_problem(text)
    assert problem.line == 10 and expected in problem.message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("{1A: x}", "build arg name '1A'"),
        ("{A: }", "build arg A must be text"),
        ("{A: [x]}", "build arg A must be text"),
        ("{A: yes}", "quote"),
        ("[A]", "build_args must be a mapping"),
        ("{A: '{'}", "never closed"),
    ],
)
def test_build_args_must_be_named_text_values(args: str, expected: str) -> None:
    text = config_with(
        rules=rules_yaml(f"- source_type: branch\n  source: main\n  build_args: {args}\n")
    )
    assert expected in one_problem(text).message


def test_paths_patterns_are_checked() -> None:
    text = config_with(
        rules=rules_yaml(
            "- source_type: branch\n  source: main\n"
            "  paths:\n    include: ['src/[a']\n    exclude: x\n"
        )
    )
    messages = [p.message for p in problems_of(text)]
    assert any("unclosed '['" in m for m in messages)
    assert any("'exclude'" in m and "write ignore" in m for m in messages)


# -- defaults ------------------------------------------------------------------------------------


DEFAULTS = """\
defaults:
  dockerfile: docker/Dockerfile
  build_caching: false
  build_args:
    COMMIT: '{sha}'
    TARGET: base
  paths:
    ignore: ['docs/']
"""


def test_defaults_apply_to_every_rule_unless_the_rule_sets_the_key() -> None:
    rules = rules_yaml(
        """\
        - source_type: branch
          source: main
        - source_type: branch
          source: dev
          dockerfile: Dockerfile.dev
          build_caching: true
          build_args: {TARGET: dev}
          paths: {include: ['src/']}
        """
    )
    config = load_text(config_with(DEFAULTS, rules))
    main, dev = config.repositories[0].build_rules
    assert main.dockerfile == "docker/Dockerfile" and main.build_caching is False
    assert main.build_args == (("COMMIT", "{sha}"), ("TARGET", "base"))
    assert main.paths == PathFilter(ignore=("docs/",))
    assert dev.dockerfile == "Dockerfile.dev" and dev.build_caching is True
    assert dev.build_args == (("COMMIT", "{sha}"), ("TARGET", "dev"))
    assert dev.paths == PathFilter(include=("src/",), ignore=("docs/",))


def test_defaults_templates_are_checked_against_each_rule() -> None:
    text = config_with(
        "defaults:\n  build_args: {V: '{\\1}'}\n",
        rules_yaml(
            "- source_type: tag\n  source: /^v(.*)$/\n- source_type: branch\n  source: main\n"
        ),
    )
    problem = one_problem(text)
    assert problem.line == 8 and "branch 'main'" in problem.message


def test_defaults_cannot_set_the_source() -> None:
    problem = one_problem(config_with("defaults:\n  source: main\n"))
    assert "unknown key 'source' in defaults" in problem.message


# -- conflicts ----------------------------------------------------------------------------------


def test_same_tag_from_two_different_builds_of_one_branch_is_refused() -> None:
    text = config_with(
        rules=rules_yaml(
            "- source_type: branch\n  source: main\n  docker_tag: latest\n"
            "- source_type: branch\n  source: main\n"
            "  docker_tag: [latest, web]\n  dockerfile: web.Dockerfile\n"
        )
    )
    problem = one_problem(text)
    assert problem.line == 11 and "'latest'" in problem.message and "line 8" in problem.message


def test_two_rules_of_one_branch_that_build_the_same_may_share_tags() -> None:
    config = only_rule(
        "- source_type: branch\n  source: main\n  docker_tag: latest\n"
        "- source_type: branch\n  source: main\n  docker_tag: [latest, stable]\n"
    )
    assert len(config.repositories[0].build_rules) == 2


# -- YAML safety and shape -----------------------------------------------------------------------


def test_aliases_are_refused() -> None:
    text = config_with("defaults: &d\n  dockerfile: x\n") + "  - <<: *d\n"
    problem = one_problem(text)
    assert "aliases" in problem.message


def test_yaml_bomb_is_refused_quickly() -> None:
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        refs = ",".join([f"*{previous}"] * 9)
        bomb += f"{level}: &{level} [{refs}]\n"
    problem = one_problem(bomb)
    assert problem.line == 2 and "aliases" in problem.message


def test_file_over_one_mebibyte_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    path.write_text(config_with() + "#" * (1024 * 1024) + "\n")
    with pytest.raises(ConfigError) as raised:
        load(path)
    (problem,) = raised.value.problems
    assert problem.file == path and "limited to 1048576 bytes" in problem.message


def test_a_huge_sparse_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.yml"
    with path.open("wb") as handle:
        handle.truncate(8 * 1024**3)  # 8 GiB that take no disk: only the size is looked at
    started = time.monotonic()
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert time.monotonic() - started < 1
    (problem,) = raised.value.problems
    assert "is 8589934592 bytes" in problem.message


def test_a_file_that_grows_past_the_limit_while_read_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "growing.yml"
    os.mkfifo(fifo)  # stat says 0 bytes; the reader gets more than the limit

    def write() -> None:
        with fifo.open("wb") as handle, contextlib.suppress(BrokenPipeError):
            handle.write(b"#" * (1024 * 1024 + 10))

    writer = threading.Thread(target=write)
    writer.start()
    with pytest.raises(ConfigError) as raised:
        load(fifo)
    writer.join(5)
    assert "larger than 1048576 bytes" in raised.value.problems[0].message


def test_billion_laughs_with_merge_keys_is_refused() -> None:
    bomb = "a: &a {x: 1, y: 2}\n"
    for level in "bcdefghij":
        previous = chr(ord(level) - 1)
        bomb += f"{level}: &{level} {{<<: [*{previous}, *{previous}, *{previous}]}}\n"
    problem = one_problem(bomb)
    assert "aliases" in problem.message


def test_deeply_nested_yaml_is_refused_not_a_crash() -> None:
    depth = 50_000
    started = time.monotonic()
    problems = problems_of("repositories: " + "[" * depth + "]" * depth + "\n")
    assert time.monotonic() - started < 10
    assert problems and all(p.line >= 1 for p in problems)


def test_duplicate_key_is_refused_with_both_lines() -> None:
    text = config_with("image: 127.0.0.1:5000/other\n")
    problem = one_problem(text)
    assert (
        problem.line == 7
        and "duplicate key 'image'" in problem.message
        and "line 5" in problem.message
    )


def test_invalid_yaml_names_the_line() -> None:
    problem = one_problem(config_with() + "  - [unclosed\n")
    assert problem.message.startswith("invalid YAML") and problem.line >= 11


def test_several_documents_in_one_file_are_refused() -> None:
    assert "invalid YAML" in one_problem(config_with() + "---\nrepositories: []\n").message


def test_empty_file_and_wrong_shapes_are_explained() -> None:
    assert "the file is empty" in one_problem("").message
    assert "must be a mapping" in one_problem("- a\n- b\n").message
    assert "repositories must be a list" in one_problem("repositories: {}\n").message


def test_configuration_without_repositories_is_refused() -> None:
    assert "no repositories are configured" in one_problem("repositories: []\n").message


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes(config_with().encode() + b"# caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(path)


def test_every_problem_is_reported_not_only_the_first() -> None:
    text = config_with(
        "colour: blue\nnetwork: host\n",
        rules_yaml("- source_type: commit\n  source: main\n- source_type: tag\n  source: /(/\n"),
    )
    problems = problems_of(text)
    assert [p.line for p in problems] == [7, 8, 10, 13]


def test_config_error_is_a_value_error_with_one_line_per_problem() -> None:
    with pytest.raises(ValueError) as raised:
        load_text(config_with("colour: blue\nnetwork: host\n"), "conf/app.yml")
    lines = str(raised.value).splitlines()
    assert lines[0].startswith("conf/app.yml:7: unknown key 'colour'")
    assert lines[1].startswith("conf/app.yml:8: network must be one of")
    assert isinstance(raised.value, ConfigError)


# -- files and directories ----------------------------------------------------------------------


def test_missing_path_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path / "nope.yml")
    assert "no such file or directory" in str(raised.value)


def test_directory_merges_every_yml_and_yaml_file(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(config_with())
    (tmp_path / "b.yaml").write_text(
        config_with()
        .replace("Codertocat/Hello-World", "Octo/Other")
        .replace("hello-world", "other")
    )
    (tmp_path / "registries.yml").write_text("registries:\n  - host: 127.0.0.1:5000\n")
    (tmp_path / ".hidden.yml").write_text("broken: [")
    (tmp_path / "notes.txt").write_text("broken: [")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yml").write_text("broken: [")
    config = load(tmp_path)
    assert [r.name for r in config.repositories] == ["Codertocat/Hello-World", "Octo/Other"]
    assert [r.host for r in config.registries] == ["127.0.0.1:5000"]
    assert config.sources == (tmp_path / "a.yml", tmp_path / "b.yaml", tmp_path / "registries.yml")


def test_same_repository_in_two_files_names_both(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(config_with())
    (tmp_path / "b.yml").write_text(
        config_with().replace("Codertocat/Hello-World", "CODERTOCAT/hello-world")
    )
    with pytest.raises(ConfigError) as raised:
        load(tmp_path)
    (problem,) = raised.value.problems
    assert problem.file == tmp_path / "b.yml" and problem.line == 2
    assert f"already configured at {tmp_path / 'a.yml'}:2" in problem.message


def test_same_repository_twice_in_one_file_is_refused() -> None:
    text = config_with()
    repo_block = text.split("repositories:\n", 1)[1]
    problem = one_problem(text + repo_block)
    assert "already configured at autobuild.yml:2" in problem.message


def test_problems_from_several_files_are_all_reported(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(config_with("colour: blue\n"))
    (tmp_path / "b.yml").write_text("repositories: [\n")
    with pytest.raises(ConfigError) as raised:
        load(tmp_path)
    assert [p.file.name for p in raised.value.problems] == ["a.yml", "b.yml"]


def test_empty_directory_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no \*.yml or \*.yaml files"):
        load(tmp_path)


# -- robustness: any structure gives a Config or a ConfigError, nothing else -------------------

_KEYS = [
    "repositories",
    "registries",
    "provider",
    "name",
    "clone_url",
    "image",
    "build_rules",
    "defaults",
    "source_type",
    "source",
    "docker_tag",
    "dockerfile",
    "context",
    "build_args",
    "autobuild",
    "build_caching",
    "paths",
    "include",
    "ignore",
    "timeout",
    "memory",
    "cpus",
    "network",
    "retries",
    "host",
    "username_env",
    "webhook_secret_env",
    "x",
]
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5000),
    st.floats(allow_nan=True),
    st.sampled_from(["github", "main", "/^v(.*)$/", "{\\1}", "{sourceref}", "a/b", "", "/("]),
    st.text(max_size=12),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYS), _values, max_size=4))
def test_any_yaml_structure_loads_or_raises_config_error(document: dict[str, object]) -> None:
    text = yaml.safe_dump(document, allow_unicode=True)
    try:
        load_text(text, "fuzz.yml")
    except ConfigError as error:
        assert error.problems
        assert all(str(p).startswith("fuzz.yml:") for p in error.problems)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_loads_or_raises_config_error(text: str) -> None:
    try:
        load_text(text, "fuzz.yml")
    except ConfigError as error:
        assert error.problems


_rule_values = st.one_of(
    _scalars,
    st.lists(_scalars, max_size=3),
    st.dictionaries(st.sampled_from(["include", "ignore", "A", "B_1", "1x"]), _scalars, max_size=3),
)
_rules = st.dictionaries(
    st.sampled_from(
        [
            "source_type",
            "source",
            "docker_tag",
            "dockerfile",
            "context",
            "build_args",
            "autobuild",
            "build_caching",
            "paths",
            "image",
            "tag",
        ]
    ),
    _rule_values,
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_rules, max_size=3),
    _rules,
    st.dictionaries(st.sampled_from(_KEYS), _values, max_size=3),
)
def test_any_rule_values_load_or_raise_config_error(
    rules: list[dict[str, object]], defaults: dict[str, object], extra: dict[str, object]
) -> None:
    repository: dict[str, object] = {
        "provider": "github",
        "name": "a/b",
        "clone_url": "https://example.com/a/b.git",
        "image": "r.example.com/a/b",
        "build_rules": rules,
        "defaults": defaults,
    }
    repository.update(extra)
    text = yaml.safe_dump({"repositories": [repository]}, allow_unicode=True)
    try:
        load_text(text, "fuzz.yml")
    except ConfigError as error:
        assert error.problems


def test_an_invalid_version_filter_is_a_problem_naming_file_and_line() -> None:
    text = config_with(
        rules=rules_yaml(
            "- source_type: tag\n  source: /^v(?P<version>.+)$/\n"
            "  docker_tag: ['{version}', '{version|semver:mayor}']\n"
        )
    )
    problem = one_problem(text)
    assert problem.file.name == "autobuild.yml"
    assert (
        problem.line
        == text.splitlines().index("        docker_tag: ['{version}', '{version|semver:mayor}']")
        + 1
    )
    assert "semver:mayor" in problem.message


def test_version_filters_and_base_ref_load_in_tags() -> None:
    config = only_rule(
        "- source_type: tag\n  source: /^v(.+)$/\n"
        "  docker_tag: ['{\\1|semver:major.minor}', '{\\1|pep440}', '{base_ref}-{short_sha}']\n"
    )
    (rule,) = config.repositories[0].build_rules
    assert rule.docker_tags == (
        "{\\1|semver:major.minor}",
        "{\\1|pep440}",
        "{base_ref}-{short_sha}",
    )


def test_rebuild_on_base_change_is_read_on_the_repository_and_a_rule_overrides_it() -> None:
    text = config_with(
        extra_repo="rebuild_on_base_change: true\n",
        rules=rules_yaml(
            "- source_type: branch\n  source: master\n  docker_tag: latest\n"
            "- source_type: branch\n  source: legacy\n  docker_tag: legacy\n"
            "  rebuild_on_base_change: false\n"
        ),
    )
    repository = load_text(text).repositories[0]
    first, second = repository.build_rules
    assert repository.rebuild_on_base_change is True
    assert repository.rebuilds_on_base_change(first) is True
    assert repository.rebuilds_on_base_change(second) is False


def test_rebuild_on_base_change_is_off_by_default_and_defaults_may_turn_it_on() -> None:
    plain = only_rule("- source_type: branch\n  source: master\n").repositories[0]
    assert plain.rebuilds_on_base_change(plain.build_rules[0]) is False
    text = config_with(
        extra_repo="defaults:\n  rebuild_on_base_change: true\n",
        rules=rules_yaml("- source_type: branch\n  source: master\n"),
    )
    repository = load_text(text).repositories[0]
    assert repository.rebuilds_on_base_change(repository.build_rules[0]) is True


def test_rebuild_on_base_change_must_be_a_boolean() -> None:
    problem = one_problem(config_with(extra_repo="rebuild_on_base_change: 'yes'\n"))
    assert "rebuild_on_base_change must be true or false" in problem.message
