"""The ``keep:`` key: what loads, what is refused with FILE:LINE, and which tags it keeps."""

from __future__ import annotations

import pytest

from buildrules.loader import load_text
from buildrules.model import KeepPolicy
from tests.unit.test_loader import config_with, problems_of


def test_keep_loads_last_and_tag_patterns():
    config = load_text(config_with("keep: {last: 20, tags: ['/^v.*/', stable]}\n"))
    assert config.repositories[0].keep == KeepPolicy(last=20, tags=("/^v.*/", "stable"))


def test_a_repository_without_keep_keeps_everything():
    assert load_text(config_with()).repositories[0].keep is None


@pytest.mark.parametrize(
    ("keep", "message"),
    [
        ("keep: {last: -1}", "keep.last must be at least 0"),
        ("keep: {last: many}", "keep.last must be a whole number"),
        ("keep: {tags: ['/[/']}", "keep.tags entry /[/ is not a valid regex"),
        ("keep: {tags: v1}", "keep.tags must be a list"),
        ("keep: {newest: 3}", "unknown key 'newest' in keep"),
        ("keep: {}", "keep needs 'last', 'tags' or both"),
        ("keep: 20", "keep must be a mapping"),
    ],
)
def test_a_bad_keep_names_file_line_and_problem(keep, message):
    problems = problems_of(config_with(keep + "\n"))
    assert len(problems) == 1, problems
    assert problems[0].line == 7
    assert message in problems[0].message


def test_keep_patterns_are_names_or_full_match_regexes():
    policy = KeepPolicy(last=1, tags=("/^v.*/", "stable"))
    assert policy.matches("v1.2")
    assert policy.matches("stable")
    assert not policy.matches("stable-2")
    assert not policy.matches("latest")
    assert not KeepPolicy(tags=("/v1/",)).matches("v10")
