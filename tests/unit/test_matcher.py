"""Matching pushes against rules: which builds, with which tags, or why none."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import pytest

from buildrules.loader import load_text
from buildrules.matcher import (
    MatchResult,
    RefTarget,
    literal_targets,
    match,
    match_repository,
    plans_for_all,
    plans_for_docker_tag,
    plans_for_ref,
    targets_for_docker_tag,
)
from buildrules.model import Config
from core.events import ZERO_SHA, PushEvent, RefType

SHA = "4f2d1c9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e"
IMAGE = "127.0.0.1:5000/acme/app"


def config(rules: str, extra: str = "") -> Config:
    head = textwrap.dedent(
        f"""\
        repositories:
          - provider: github
            name: Acme/App
            clone_url: https://github.com/acme/app.git
            image: {IMAGE}
        """
    )
    body = textwrap.indent(textwrap.dedent(extra), "    ") if extra else ""
    return load_text(
        head + body + "    build_rules:\n" + textwrap.indent(textwrap.dedent(rules), "      ")
    )


def push(
    ref: str,
    *,
    tag: bool = False,
    commit: str = SHA,
    changed: tuple[str, ...] | None = None,
    message: str = "",
    repository: str = "acme/app",
) -> PushEvent:
    return PushEvent(
        provider="github",
        repository=repository,
        ref_type=RefType.TAG if tag else RefType.BRANCH,
        ref_name=ref,
        commit=commit,
        changed_files=changed,
        head_message=message,
    )


SEMVER = r"""
- source_type: tag
  source: /^v([0-9]+)\.([0-9]+)\.([0-9]+)$/
  docker_tag: ['{\1}.{\2}.{\3}', '{\1}.{\2}', '{\1}', latest]
- source_type: branch
  source: master
  docker_tag: latest
"""


def test_branch_push_matches_its_literal_rule() -> None:
    result = match(config(SEMVER), push("master"))
    (plan,) = result.plans
    assert result.reason is None
    assert plan.provider == "github" and plan.repository == "Acme/App"
    assert plan.image == IMAGE
    assert (plan.source_type, plan.source_name, plan.commit) == (RefType.BRANCH, "master", SHA)
    assert plan.docker_tags == ("latest",)
    assert (plan.dockerfile, plan.context, plan.build_args) == ("Dockerfile", "/", ())
    assert plan.build_caching is True and plan.rule_indexes == (1,)


def test_semver_fan_out_is_one_build_with_four_tags() -> None:
    (plan,) = match(config(SEMVER), push("v1.2.3", tag=True)).plans
    assert plan.docker_tags == ("1.2.3", "1.2", "1", "latest")
    assert plan.rule_indexes == (0,)


def test_semver_fan_out_written_as_one_rule_per_tag_is_still_one_build() -> None:
    rules = "".join(
        f"- source_type: tag\n  source: /^v([0-9]+)\\.([0-9]+)\\.([0-9]+)$/\n  docker_tag: '{t}'\n"
        for t in (r"{\1}.{\2}.{\3}", r"{\1}.{\2}", r"{\1}", "latest")
    )
    (plan,) = match(config(rules), push("v10.20.30", tag=True)).plans
    assert plan.docker_tags == ("10.20.30", "10.20", "10", "latest")
    assert plan.rule_indexes == (0, 1, 2, 3)


def test_regex_must_match_the_whole_name() -> None:
    cfg = config("- source_type: tag\n  source: /[0-9.]+/\n")
    assert match(cfg, push("1.2.0", tag=True)).plans
    assert not match(cfg, push("1.2.0-rc", tag=True)).plans
    assert not match(cfg, push("v1.2.0", tag=True)).plans


def test_branch_rules_do_not_fire_for_tags_and_tag_rules_not_for_branches() -> None:
    cfg = config(SEMVER)
    assert match(cfg, push("master", tag=True)).reason == "no rule matches tag 'master'"
    assert match(cfg, push("v1.2.3")).reason == "no rule matches branch 'v1.2.3'"


def test_literal_sources_are_case_sensitive() -> None:
    assert not match(config(SEMVER), push("Master")).plans


def test_repository_name_is_case_insensitive() -> None:
    assert match(config(SEMVER), push("master", repository="ACME/APP")).plans


def test_unconfigured_repository_has_a_reason() -> None:
    result = match(config(SEMVER), push("master", repository="acme/other"))
    assert result == MatchResult(reason="repository github 'acme/other' is not configured")


def test_no_matching_rule_explains_which_ref() -> None:
    result = match(config(SEMVER), push("feature/x"))
    assert result.plans == () and result.reason == "no rule matches branch 'feature/x'"


def test_deleted_ref_builds_nothing() -> None:
    assert match(config(SEMVER), push("master", commit=ZERO_SHA)).reason == (
        "the push deletes branch 'master'"
    )


def test_sourceref_is_sanitised_into_a_valid_tag() -> None:
    cfg = config("- source_type: branch\n  source: /^feature\\/.+$/\n  docker_tag: '{sourceref}'\n")
    assert match(cfg, push("feature/login")).plans[0].docker_tags == ("feature-login",)


def test_comma_separated_tags_build_once() -> None:
    cfg = config("- source_type: branch\n  source: /^.*$/\n  docker_tag: '{sourceref},latest'\n")
    assert match(cfg, push("main")).plans[0].docker_tags == ("main", "latest")


def test_tags_that_sanitise_to_the_same_value_are_pushed_once() -> None:
    cfg = config("- source_type: branch\n  source: /^.*$/\n  docker_tag: ['{sourceref}', 'a-b']\n")
    assert match(cfg, push("a/b")).plans[0].docker_tags == ("a-b",)


def test_sha_and_short_sha_render_in_tags_and_build_args() -> None:
    cfg = config(
        "- source_type: branch\n  source: main\n  docker_tag: ['sha-{short_sha}']\n"
        "  build_args: {REVISION: '{sha}', REF: '{sourceref}'}\n"
    )
    (plan,) = match(cfg, push("main")).plans
    assert plan.docker_tags == ("sha-4f2d1c9",)
    assert plan.build_args == (("REVISION", SHA), ("REF", "main"))


def test_named_groups_render_in_tags_and_build_args() -> None:
    cfg = config(
        "- source_type: tag\n  source: /^release-(?P<version>[0-9.]+)$/\n"
        "  docker_tag: '{version}'\n  build_args: {VERSION: '{version}'}\n"
    )
    (plan,) = match(cfg, push("release-2.5", tag=True)).plans
    assert plan.docker_tags == ("2.5",) and plan.build_args == (("VERSION", "2.5"),)


def test_build_arg_values_are_not_sanitised() -> None:
    cfg = config("- source_type: branch\n  source: /^.*$/\n  build_args: {BRANCH: '{sourceref}'}\n")
    assert match(cfg, push("feature/x")).plans[0].build_args == (("BRANCH", "feature/x"),)


def test_empty_rendered_tag_falls_back_to_the_short_sha() -> None:
    cfg = config("- source_type: tag\n  source: /^v([0-9]*)$/\n  docker_tag: '{\\1}'\n")
    assert match(cfg, push("v", tag=True)).plans[0].docker_tags == ("sha-4f2d1c9",)


# -- build once, tag many ---------------------------------------------------------------------


def test_rules_with_different_builds_become_separate_plans_in_rule_order() -> None:
    cfg = config(
        """\
        - source_type: branch
          source: main
          docker_tag: latest
        - source_type: branch
          source: /^ma.*$/
          docker_tag: debug
          dockerfile: Dockerfile.debug
        - source_type: branch
          source: /^main$/
          docker_tag: '{short_sha}'
        """
    )
    first, second = match(cfg, push("main")).plans
    assert first.docker_tags == ("latest", "4f2d1c9") and first.rule_indexes == (0, 2)
    assert second.docker_tags == ("debug",) and second.dockerfile == "Dockerfile.debug"
    assert second.rule_indexes == (1,)


@pytest.mark.parametrize(
    "difference",
    ["context: /sub", "build_args: {A: '1'}", "build_caching: false", "image: 127.0.0.1:5000/x"],
)
def test_any_difference_in_the_build_makes_another_plan(difference: str) -> None:
    cfg = config(
        "- source_type: branch\n  source: main\n  docker_tag: a\n"
        f"- source_type: branch\n  source: /^main$/\n  docker_tag: b\n  {difference}\n"
    )
    assert len(match(cfg, push("main")).plans) == 2


def test_build_args_that_render_equal_share_one_build() -> None:
    cfg = config(
        "- source_type: branch\n  source: main\n  docker_tag: a\n  build_args: {R: '{sourceref}'}\n"
        "- source_type: branch\n  source: /^main$/\n  docker_tag: b\n  build_args: {R: main}\n"
    )
    (plan,) = match(cfg, push("main")).plans
    assert plan.docker_tags == ("a", "b")


def test_per_rule_image_gets_its_own_plan_and_may_reuse_tag_names() -> None:
    cfg = config(
        "- source_type: branch\n  source: main\n  docker_tag: latest\n"
        "- source_type: branch\n  source: main\n  docker_tag: latest\n"
        "  image: 127.0.0.1:5000/acme/web\n  context: /web\n"
    )
    api, web = match(cfg, push("main")).plans
    assert (api.image, web.image) == (IMAGE, "127.0.0.1:5000/acme/web")
    assert api.docker_tags == web.docker_tags == ("latest",)


def test_a_tag_claimed_by_two_different_builds_stays_with_the_first_and_warns() -> None:
    cfg = config(
        "- source_type: branch\n  source: /^main$/\n  docker_tag: [latest, a]\n"
        "- source_type: branch\n  source: /^ma.*$/\n  docker_tag: [latest, b]\n  context: /b\n"
    )
    result = match(cfg, push("main"))
    first, second = result.plans
    assert first.docker_tags == ("latest", "a") and second.docker_tags == ("b",)
    (warning,) = result.warnings
    assert "'latest'" in warning and "#1" in warning and "#2" in warning


def test_a_build_left_without_tags_is_dropped() -> None:
    cfg = config(
        "- source_type: branch\n  source: /^main$/\n  docker_tag: latest\n"
        "- source_type: branch\n  source: /^ma.*$/\n  docker_tag: latest\n  context: /b\n"
    )
    result = match(cfg, push("main"))
    assert len(result.plans) == 1 and len(result.warnings) == 1


# -- autobuild, skip markers, path filters --------------------------------------------------------

MANUAL_ONLY = """\
- source_type: branch
  source: production
  docker_tag: prod
  autobuild: false
"""


def test_autobuild_false_rules_never_fire_for_webhooks() -> None:
    result = match(config(MANUAL_ONLY), push("production"))
    assert result.plans == ()
    assert result.reason is not None and "autobuild off" in result.reason


def test_autobuild_false_rules_fire_for_manual_matches() -> None:
    (plan,) = match(config(MANUAL_ONLY), push("production"), manual=True).plans
    assert plan.docker_tags == ("prod",)


def test_skip_marker_in_the_head_message_builds_nothing_and_is_named() -> None:
    result = match(config(SEMVER), push("master", message="docs: typo [Skip CI]"))
    assert result.plans == () and result.skip_marker == "[skip ci]"
    assert result.reason == "the head commit message contains [skip ci]"


def test_manual_match_ignores_skip_markers() -> None:
    assert match(config(SEMVER), push("master", message="[skip ci]"), manual=True).plans


PATHS = """\
- source_type: branch
  source: main
  docker_tag: api
  paths: {include: ['services/api/', 'lib/'], ignore: ['**/*.md']}
- source_type: branch
  source: main
  docker_tag: web
  context: /services/web
  paths: {include: ['services/web/', 'lib/'], ignore: ['**/*.md']}
"""


def test_path_filters_pick_the_rules_whose_files_changed() -> None:
    (plan,) = match(config(PATHS), push("main", changed=("services/api/main.go",))).plans
    assert plan.docker_tags == ("api",)
    plans = match(config(PATHS), push("main", changed=("lib/util.go",))).plans
    assert [p.docker_tags for p in plans] == [("api",), ("web",)]


def test_push_touching_only_ignored_paths_builds_nothing_and_says_so() -> None:
    result = match(config(PATHS), push("main", changed=("services/api/README.md",)))
    assert result.plans == () and result.reason == "changes only touch ignored paths"


def test_push_touching_nothing_included_says_so() -> None:
    result = match(config(PATHS), push("main", changed=("docs/index.html",)))
    assert result.reason == "no changed file matches paths.include"


def test_unknown_changed_files_build_every_filtered_rule() -> None:
    assert len(match(config(PATHS), push("main", changed=None)).plans) == 2


def test_manual_match_ignores_path_filters() -> None:
    assert len(match(config(PATHS), push("main", changed=("README.md",)), manual=True).plans) == 2


def test_match_repository_skips_the_lookup() -> None:
    repository = config(SEMVER).repositories[0]
    assert match_repository(repository, push("master", repository="anything")).plans


# -- manual trigger helpers ---------------------------------------------------------------------

TRIGGER = r"""
- source_type: branch
  source: master
  docker_tag: latest
- source_type: branch
  source: staging
  docker_tag: ['staging', 'sha-{short_sha}']
  autobuild: false
- source_type: tag
  source: /^v(.*)$/
  docker_tag: '{\1}'
- source_type: branch
  source: master
  docker_tag: stable
  dockerfile: Dockerfile.stable
"""
COMMITS = {
    (RefType.BRANCH, "master"): "a" * 40,
    (RefType.BRANCH, "staging"): "b" * 40,
    (RefType.TAG, "v1.1"): "c" * 40,
}


def resolve(ref_type: RefType, name: str) -> str | None:
    return COMMITS.get((ref_type, name))


def test_plans_for_ref_includes_regex_and_autobuild_false_rules() -> None:
    repository = config(TRIGGER).repositories[0]
    (tag_plan,) = plans_for_ref(repository, RefType.TAG, "v1.1", "c" * 40)
    assert tag_plan.docker_tags == ("1.1",)
    (staging,) = plans_for_ref(repository, RefType.BRANCH, "staging", "b" * 40)
    assert staging.docker_tags == ("staging", "sha-bbbbbbb")


def test_plans_for_ref_can_be_narrowed_to_some_rules() -> None:
    repository = config(TRIGGER).repositories[0]
    (plan,) = plans_for_ref(repository, RefType.BRANCH, "master", "a" * 40, rule_indexes=[3])
    assert plan.docker_tags == ("stable",)
    assert plans_for_ref(repository, RefType.BRANCH, "nope", "a" * 40) == ()


def test_literal_targets_are_what_build_true_builds() -> None:
    repository = config(TRIGGER).repositories[0]
    assert literal_targets(repository) == (
        RefTarget(RefType.BRANCH, "master", (0, 3)),
        RefTarget(RefType.BRANCH, "staging", (1,)),
    )


def test_plans_for_all_resolves_each_literal_ref() -> None:
    repository = config(TRIGGER).repositories[0]
    plans = plans_for_all(repository, resolve)
    assert [(p.source_name, p.commit[:1], p.docker_tags) for p in plans] == [
        ("master", "a", ("latest",)),
        ("master", "a", ("stable",)),
        ("staging", "b", ("staging", "sha-bbbbbbb")),
    ]


def test_targets_for_docker_tag_finds_the_rules_producing_it() -> None:
    repository = config(TRIGGER).repositories[0]
    assert targets_for_docker_tag(repository, "stable") == (
        RefTarget(RefType.BRANCH, "master", (3,)),
    )
    assert targets_for_docker_tag(repository, "staging") == (
        RefTarget(RefType.BRANCH, "staging", (1,)),
    )
    assert targets_for_docker_tag(repository, "1.1") == ()  # regex rules name no ref
    assert targets_for_docker_tag(repository, "sha-bbbbbbb") == ()  # needs the commit


def test_plans_for_docker_tag_builds_the_whole_rule() -> None:
    repository = config(TRIGGER).repositories[0]
    (plan,) = plans_for_docker_tag(repository, "staging", resolve)
    assert plan.docker_tags == ("staging", "sha-bbbbbbb") and plan.commit == "b" * 40


def test_refs_the_resolver_cannot_find_are_left_out() -> None:
    repository = config(TRIGGER).repositories[0]
    assert plans_for_docker_tag(repository, "latest", lambda t, n: None) == ()


FILTERED = r"""
- source_type: tag
  source: /^v(?P<version>.+)$/
  docker_tag: ['{version|semver}', '{version|semver:major.minor}', '{base_ref}-edge']
"""


def test_version_filters_and_base_ref_render_from_the_push() -> None:
    event = replace(push("v1.4.2", tag=True), base_ref="main")
    (plan,) = match(config(FILTERED), event).plans
    assert plan.docker_tags == ("1.4.2", "1.4", "main-edge")


def test_a_prerelease_keeps_only_its_full_version_and_unknown_base_ref_drops_its_tag() -> None:
    (plan,) = match(config(FILTERED), push("v1.5.0-rc.1", tag=True)).plans
    assert plan.docker_tags == ("1.5.0-rc.1",)
