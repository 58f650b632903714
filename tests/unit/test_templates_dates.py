"""``{date:FORMAT}`` and ``{commit_date:FORMAT}``: parsing, checks, rendering and deferral."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from buildrules.render import render_tag
from buildrules.templates import Placeholder, Template, TemplateError, TemplateValues

SHA = "1234567890abcdef1234567890abcdef12345678"
NOW = datetime(2026, 12, 1, 3, 4, 5, tzinfo=UTC)


def values(**extra: object) -> TemplateValues:
    return TemplateValues("main", SHA, **extra)  # type: ignore[arg-type]


def test_date_placeholder_keeps_its_format() -> None:
    template = Template.parse("nightly-{date:%Y%m%d}")
    assert template.parts == ("nightly-", Placeholder("date", "%Y%m%d"))
    assert str(template.parts[1]) == "{date:%Y%m%d}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{date:%Y%m%d}", "20261201"),
        ("{date:%Y-%m-%d.%H%M%S}", "2026-12-01.030405"),
        ("{date:%G-W%V}", "2026-W49"),
        ("{date:%Y%%%m}", "2026%12"),
        ("{date}", "20261201"),
        ("v{sourceref}-{date:%y%j}-{short_sha}", "vmain-26335-1234567"),
    ],
)
def test_date_renders_the_trigger_time_in_strftime(text: str, expected: str) -> None:
    assert Template.parse(text).render(values(now=NOW)) == expected


def test_date_is_printed_in_the_zone_of_the_time_given() -> None:
    berlin = NOW.astimezone(ZoneInfo("Europe/Berlin"))
    late = datetime(2026, 12, 1, 23, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin"))
    assert Template.parse("{date:%H}").render(values(now=berlin)) == "04"
    assert Template.parse("{date:%d}").render(values(now=late)) == "02"


def test_date_without_a_time_is_utc_now() -> None:
    before = datetime.now(UTC).strftime("%Y%m%d")
    rendered = Template.parse("{date:%Y%m%d}").render(values())
    assert rendered in (before, datetime.now(UTC).strftime("%Y%m%d"))


def test_commit_date_renders_the_committer_date_in_utc() -> None:
    committed = datetime(2026, 11, 30, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    text = "{commit_date:%Y%m%d%H}"
    assert Template.parse(text).render(values(commit_date=committed)) == "2026120101"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{date:}", "empty format"),
        ("{date:%c}", "%c"),
        ("{date:%Y%Z}", "%Z"),
        ("{commit_date:%Y%}", "a lone %"),
        ("{date:%s}", "%s"),
        ("{dates:%Y}", "is not a variable"),
    ],
)
def test_bad_date_formats_are_template_errors(text: str, expected: str) -> None:
    with pytest.raises(TemplateError, match=expected):
        Template.parse(text)


def test_literal_text_includes_what_a_format_prints_besides_the_date() -> None:
    assert Template.parse("a{date:%Y/%m}").literal_text == "a/"
    assert Template.parse("a{date:%Y%%}").literal_text == "a%"


def test_commit_date_tag_stays_a_template_until_the_commit_date_is_known() -> None:
    tag = render_tag("{sourceref}-{commit_date:%Y%m%d}", TemplateValues("feat/{x}", SHA))
    assert tag == "feat/{{x}}-{commit_date:%Y%m%d}"
    finished = Template.parse(tag).render(
        TemplateValues("", SHA, commit_date=datetime(2026, 12, 1, tzinfo=UTC))
    )
    assert finished == "feat/{x}-20261201"


def test_commit_date_tag_is_rendered_at_once_when_the_date_is_known() -> None:
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    tag = render_tag("{sourceref}-{commit_date:%Y%m%d}", values(commit_date=moment))
    assert tag == "main-20261201"


def test_a_date_tag_is_sanitised_like_any_other() -> None:
    tag = render_tag("{sourceref}-{date:%Y%m%d}", TemplateValues("feature/x", SHA, now=NOW))
    assert tag == "feature-x-20261201"


def test_deferred_is_true_only_for_commit_date() -> None:
    assert Template.parse("{commit_date:%Y}").deferred
    assert not Template.parse("{date:%Y}-{sha}").deferred
