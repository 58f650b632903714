"""Version filters ({version|semver:...}, {version|pep440}) against metadata-action's own cases.

The expected tags are docker/metadata-action's (``__tests__/meta.test.ts``, ``tagsLabelsTest``
cases tag11-tag15, tag23-tag34 and push35, at commit dc80280): each of its
``type=semver,pattern=...`` / ``type=pep440,pattern=...`` tags is written here as the
equivalent template, rendered for the same git tag. ``latest`` is metadata-action's
``latest=auto`` verdict (a release, not a pre-release), which our ``eligible`` mirrors.
"""

from __future__ import annotations

import pytest

from buildrules.model import BuildRule
from buildrules.render import render_rule
from buildrules.templates import Template, TemplateError
from buildrules.versions import FilterError, VersionFilter, pep440_parts, semver_parts
from core.events import RefType

SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"
ANY_TAG = "/^(?P<version>.*)$/"

# metadata-action pattern → our filter
SEMVER = {
    "{{version}}": "{version|semver}",
    "{{major}}.{{minor}}": "{version|semver:major.minor}",
    "{{major}}": "{version|semver:major}",
    "{{major}}.{{minor}}.{{patch}}": "{version|semver:major.minor.patch}",
    "{{raw}}": "{version|semver:raw}",
}
PEP440 = {
    "{{version}}": "{version|pep440}",
    "{{major}}.{{minor}}": "{version|pep440:major.minor}",
    "{{major}}": "{version|pep440:major}",
    "{{major}}.{{minor}}.{{patch}}": "{version|pep440:major.minor.patch}",
    "{{raw}}": "{version|pep440:raw}",
}

VERSION, MAJOR_MINOR, MAJOR = "{{version}}", "{{major}}.{{minor}}", "{{major}}"
FULL, RAW = "{{major}}.{{minor}}.{{patch}}", "{{raw}}"


def semver(*patterns: str) -> list[str]:
    return [SEMVER[p] for p in patterns]


def pep440(*patterns: str) -> list[str]:
    return [PEP440[p] for p in patterns]


# case: (git tag, [our templates], expected tags without latest, latest under latest=auto)
CASES = {
    "tag11": ("v1.1.1", semver(VERSION, MAJOR_MINOR, MAJOR), ["1.1.1", "1.1", "1"], True),
    "tag12": ("v1.1.1", semver(VERSION, FULL), ["1.1.1"], True),
    "tag13": ("v2.0.8-beta.67", semver(MAJOR_MINOR, MAJOR), ["2.0.8-beta.67"], False),
    "tag14": ("sometag", ["{sourceref}", *semver(VERSION, MAJOR_MINOR, MAJOR)], ["sometag"], False),
    "tag15": ("v2.0.8-beta.67", ["foo", *semver(VERSION)], ["foo", "2.0.8-beta.67"], False),
    "tag23": ("v1.1.1", pep440(RAW, MAJOR_MINOR), ["v1.1.1", "1.1"], True),
    "tag24": ("1.2", pep440(VERSION, MAJOR_MINOR), ["1.2"], True),
    "tag25": ("1.1beta2", pep440(MAJOR_MINOR, MAJOR), ["1.1b2"], False),
    "tag26": ("1.0dev4", pep440(MAJOR_MINOR, MAJOR), ["1.0.dev4"], False),
    "tag27": ("1.2.3rc2", pep440(RAW, VERSION, MAJOR_MINOR, MAJOR), ["1.2.3rc2"], False),
    "tag28": ("v1.1.1", pep440(VERSION, FULL, MAJOR_MINOR, MAJOR), ["1.1.1", "1.1", "1"], True),
    "tag29": ("1.2post1", pep440(VERSION, MAJOR_MINOR, MAJOR), ["1.2.post1"], False),
    "tag30": ("sometag", ["{sourceref}", *pep440(VERSION, MAJOR_MINOR, MAJOR)], ["sometag"], False),
    "tag31": ("v2.0.8-beta.67", semver(RAW), ["v2.0.8-beta.67"], False),
    "tag32": ("v1.2.3rc2", pep440(RAW, MAJOR_MINOR), ["v1.2.3rc2", "1.2.3rc2"], False),
}


def rendered_tags(git_tag: str, templates: list[str], source: str = ANY_TAG) -> list[str]:
    rule = BuildRule(RefType.TAG, source, tuple(templates))
    pattern = rule.pattern
    found = pattern.fullmatch(git_tag) if pattern else None
    rendered = render_rule(rule, index=0, image="", ref_name=git_tag, commit=SHA, found=found)
    return list(rendered.docker_tags)


def latest_eligible(git_tag: str, kind: str) -> bool:
    parts = semver_parts(git_tag) if kind == "semver" else pep440_parts(git_tag)
    return parts is not None and not parts.prerelease


@pytest.mark.parametrize("case", sorted(CASES))
def test_filters_give_metadata_actions_tags(case: str) -> None:
    git_tag, templates, expected, latest = CASES[case]
    assert rendered_tags(git_tag, templates) == expected
    kind = "pep440" if any("pep440" in t for t in templates) else "semver"
    assert latest_eligible(git_tag, kind) is latest


def test_tag34_group_of_a_prefixed_tag_goes_through_semver() -> None:
    # type=semver,pattern={{version}},"match=v(\d.\d.\d)$" on the tag p1/v1.0.0
    assert rendered_tags("p1/v1.0.0", ["{\\1|semver}"], r"/^.*v(\d.\d.\d)$/") == ["1.0.0"]


def test_push35_semver_and_pep440_of_a_matched_group_agree() -> None:
    # type=semver/pep440,pattern={{version}},value=p1/v1.2.3,"match=v(\d.\d.\d)$"
    source = r"/^p1\/v(?P<v>\d.\d.\d)$/"
    assert rendered_tags("p1/v1.2.3", ["{v|semver}", "{v|pep440}"], source) == ["1.2.3"]


def test_a_version_filter_on_a_non_version_leaves_the_tag_out_but_keeps_the_others() -> None:
    assert rendered_tags("nightly", ["{version|semver:major}", "edge"]) == ["edge"]


def test_a_build_arg_with_a_filter_on_a_non_version_renders_empty() -> None:
    rule = BuildRule(RefType.TAG, ANY_TAG, ("x",), build_args=(("V", "v={version|semver}"),))
    found = rule.pattern.fullmatch("nightly") if rule.pattern else None
    rendered = render_rule(rule, index=0, image="", ref_name="nightly", commit=SHA, found=found)
    assert rendered.build_args == (("V", "v="),)


def test_semver_build_metadata_is_not_part_of_version_and_raw_keeps_it() -> None:
    assert VersionFilter.parse("semver").apply("v1.2.3+build.7") == "1.2.3"
    assert VersionFilter.parse("semver:raw").apply("v1.2.3+build.7") == "v1.2.3+build.7"


def test_semver_refuses_leading_zeros_and_missing_parts_as_node_semver_does() -> None:
    for text in ("1.2", "01.2.3", "1.2.3-01", "v", "1.2.3.4", "V1.2.3"):
        assert semver_parts(text) is None, text


def test_slashes_become_dashes_before_parsing_as_metadata_action_does() -> None:
    assert VersionFilter.parse("semver:raw").apply("v1.2.3-rc/1") == "v1.2.3-rc-1"


def test_patterns_may_join_fields_with_dash_and_underscore() -> None:
    assert VersionFilter.parse("semver:major-minor").apply("3.4.5") == "3-4"
    assert VersionFilter.parse("pep440:major_minor_patch").apply("3.4") == "3_4_0"


@pytest.mark.parametrize(
    "text",
    ["semvar", "semver:", "semver:major..minor", "semver:build", "pep440:Major", "semver:major."],
)
def test_an_unknown_filter_or_pattern_is_refused(text: str) -> None:
    with pytest.raises(FilterError):
        VersionFilter.parse(text)


def test_a_bad_filter_in_a_template_is_a_template_error_naming_it() -> None:
    with pytest.raises(TemplateError, match="semvar"):
        Template.parse("{version|semvar:major}")


def test_a_filter_prints_back_as_written() -> None:
    (placeholder,) = Template.parse("{\\1|semver:major.minor}").placeholders
    assert str(placeholder) == "{\\1|semver:major.minor}"
    assert str(Template.parse("{v|pep440}").placeholders[0]) == "{v|pep440}"
