"""Tag and build arg templates: syntax, load-time checks against the source, rendering."""

from __future__ import annotations

import re

import pytest

from buildrules.ruleregex import compile_rule_regex, rule_fullmatch
from buildrules.templates import (
    Placeholder,
    SourceVariables,
    Template,
    TemplateError,
    TemplateValues,
)

SHA = "1234567890abcdef1234567890abcdef12345678"


def render(text: str, ref: str, source: str | None = None, sha: str = SHA) -> str:
    found = rule_fullmatch(source, ref) if source else None
    return Template.parse(text).render(TemplateValues.for_ref(ref, sha, found))


def variables(source: str) -> SourceVariables:
    if source.startswith("/"):
        return SourceVariables.of(source, compile_rule_regex(source[1:-1]))
    return SourceVariables.of(source, None)


def test_parse_splits_literal_text_and_placeholders() -> None:
    template = Template.parse("release-{sourceref}-{\\1}.{major}")
    assert template.parts == (
        "release-",
        Placeholder("sourceref"),
        "-",
        Placeholder("1"),
        ".",
        Placeholder("major"),
    )
    assert template.literal_text == "release--."
    assert not template.is_literal


def test_doubled_braces_are_literal_braces() -> None:
    template = Template.parse('{{"ref": "{sourceref}"}}')
    assert template.render(TemplateValues("main", SHA)) == '{"ref": "main"}'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{sourceref", "never closed"),
        ("sourceref}", "without a matching"),
        ("{}", "is not a variable"),
        ("{\\0}", "is not a variable"),
        ("{\\10}", "is not a variable"),
        ("{source-ref}", "is not a variable"),
    ],
)
def test_malformed_templates_are_refused(text: str, expected: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(expected)):
        Template.parse(text)


def test_sourceref_sha_and_short_sha_render() -> None:
    assert render("{sourceref}", "feature/login") == "feature/login"
    assert render("{sha}", "main") == SHA
    assert render("{short_sha}", "main") == "1234567"
    assert render("build-{short_sha}", "main") == "build-1234567"


def test_numbered_groups_render_from_the_regex_match() -> None:
    source = r"v([0-9]+)\.([0-9]+)\.([0-9]+)"
    assert render("{\\1}.{\\2}.{\\3}", "v1.22.333", source) == "1.22.333"
    assert render("{\\1}.{\\2}", "v1.22.333", source) == "1.22"
    assert render("{\\1}", "v1.22.333", source) == "1"


def test_named_groups_render_from_the_regex_match() -> None:
    assert render("{major}-{rest}", "v7-rc1", r"v(?P<major>\d+)-(?P<rest>.*)") == "7-rc1"


def test_optional_group_that_did_not_match_renders_empty() -> None:
    assert render("{\\1}x{\\2}", "v1", r"v(\d)(-rc)?") == "1x"


def test_builtins_are_available_to_every_source() -> None:
    template = Template.parse("{sourceref}-{sha}-{short_sha}")
    assert template.problems(variables("main")) == []
    assert template.problems(variables("/^(.*)$/")) == []


def test_group_number_beyond_the_regex_groups_is_a_problem() -> None:
    (message,) = Template.parse("{\\3}").problems(variables("/^(a)(b)$/"))
    assert message == "{\\3} refers to group 3, but /^(a)(b)$/ has only 2 groups"


def test_group_number_on_a_regex_without_groups_is_a_problem() -> None:
    (message,) = Template.parse("{\\1}").problems(variables("/^v.*$/"))
    assert "has no groups" in message


def test_group_number_on_a_literal_source_is_a_problem() -> None:
    (message,) = Template.parse("{\\1}").problems(variables("master"))
    assert "needs a regex source, but 'master' is a literal name" in message


def test_unknown_name_is_a_problem_listing_what_exists() -> None:
    (message,) = Template.parse("{version}").problems(variables("/^v(?P<major>\\d)(\\d)$/"))
    assert "no group named 'version'" in message
    assert "{sourceref}, {sha}, {short_sha}, {base_ref}, {\\1}..{\\2}, {major}" in message


def test_each_problem_is_reported_once() -> None:
    assert len(Template.parse("{x}-{x}").problems(variables("main"))) == 1


def test_uses_commit_tells_templates_that_need_the_commit() -> None:
    assert Template.parse("sha-{short_sha}").uses_commit
    assert not Template.parse("{sourceref}").uses_commit


def test_base_ref_renders_the_hosts_branch_and_leaves_a_tag_out_when_unknown() -> None:
    template = Template.parse("{base_ref}-{sourceref}")
    known = TemplateValues.for_ref("v1.0", SHA, None, base_ref="main")
    assert template.render_tag(known) == "main-v1.0"
    unknown = TemplateValues.for_ref("v1.0", SHA, None)
    assert template.render_tag(unknown) is None
    assert template.render(unknown) == "-v1.0"
