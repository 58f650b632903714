"""The builder and platforms keys of the configuration."""

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
{rule}
      - source_type: tag
        source: v1
"""


def load(repository: str = "", rule: str = "", defaults: str = ""):
    text = CONFIG.format(repository=repository, rule=rule)
    if defaults:
        text = text.replace("    build_rules:", f"    defaults:\n{defaults}\n    build_rules:")
    return load_text(text, "autobuild.yml").repositories[0]


def test_buildkit_is_the_default_and_no_platforms_means_one_image():
    repository = load()
    assert repository.builder == "buildkit" and repository.platforms == ()
    assert repository.builder_for(repository.build_rules[0]) == "buildkit"
    assert repository.platforms_for(repository.build_rules[0]) == ()


def test_a_rule_overrides_the_repository_and_defaults_apply_to_every_rule():
    repository = load(
        repository="    builder: legacy\n    platforms: [linux/amd64]",
        rule="        builder: BuildKit\n        platforms: [linux/amd64, Linux/ARM64]",
        defaults="      platforms: [linux/arm/v7]",
    )
    main, tag = repository.build_rules
    assert repository.builder_for(main) == "buildkit"
    assert repository.platforms_for(main) == ("linux/amd64", "linux/arm64")
    assert repository.builder_for(tag) == "legacy"
    assert repository.platforms_for(tag) == ("linux/arm/v7",)


@pytest.mark.parametrize(
    ("repository", "message"),
    [
        ("    builder: kaniko", "autobuild.yml:6: builder must be one of buildkit, legacy"),
        ("    platforms: []", "autobuild.yml:6: platforms must list at least one platform"),
        ("    platforms: [amd64]", "autobuild.yml:6: platform 'amd64' must be os/architecture"),
        (
            "    platforms: [linux/amd64, linux/amd64]",
            "autobuild.yml:6: platform linux/amd64 is listed twice",
        ),
        ("    platform: [linux/amd64]", "autobuild.yml:6: "),
    ],
)
def test_bad_values_name_file_and_line(repository, message):
    with pytest.raises(ConfigError) as error:
        load(repository=repository)
    assert message in str(error.value)


def test_rules_that_differ_only_in_builder_are_separate_builds():
    from buildrules.matcher import match
    from core.events import PushEvent, RefType

    text = CONFIG.format(repository="", rule="        docker_tag: a").replace(
        "      - source_type: tag\n        source: v1\n",
        "      - source_type: branch\n        source: main\n        docker_tag: b\n"
        "        builder: legacy\n",
    )
    config = load_text(text)
    event = PushEvent(
        provider="git",
        repository="a/b",
        ref_type=RefType.BRANCH,
        ref_name="main",
        commit="a" * 40,
    )
    plans = match(config, event).plans
    assert [p.docker_tags for p in plans] == [("a",), ("b",)]
