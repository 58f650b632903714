"""Tag sanitising: every rendered tag is a valid Docker tag, whatever the ref name."""

from __future__ import annotations

import re
import shutil
import string
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildrules.loader import load_text
from buildrules.matcher import plans_for_ref
from buildrules.tags import fallback_tag, is_valid_tag, sanitize_tag
from core.events import RefType

DOCKER_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
SHA = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
FALLBACK = fallback_tag(SHA)

try:  # docker 7.x validates "name:tag" in docker.utils.build.match_tag before a build
    from docker.utils import match_tag as docker_match_tag
except ImportError:  # pragma: no cover - the SDK is a dependency, but keep the test standalone
    docker_match_tag = None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("feature/login", "feature-login"),
        ("refs/heads/my/branch", "refs-heads-my-branch"),
        ("v1.2.3", "v1.2.3"),
        ("Fix_Bug-12", "Fix_Bug-12"),
        ("a//b~~c", "a-b-c"),
        ("-leading", "leading"),
        ("..dots", "dots"),
        ("/.-x", "x"),
        ("#12 ümlaut", "12-mlaut"),
        ("trailing.", "trailing."),
    ],
)
def test_invalid_runs_become_one_dash_and_leading_dots_and_dashes_go(
    raw: str, expected: str
) -> None:
    assert sanitize_tag(raw, fallback=FALLBACK) == expected


@pytest.mark.parametrize("raw", ["", "///", "-.-", "ü"])
def test_nothing_left_falls_back_to_the_short_sha(raw: str) -> None:
    assert sanitize_tag(raw, fallback=FALLBACK) == "sha-0a1b2c3"


def test_fallback_tag_is_a_valid_tag_even_for_odd_commits() -> None:
    assert fallback_tag(SHA) == "sha-0a1b2c3"
    assert is_valid_tag(fallback_tag(""))


def test_tag_of_exactly_128_characters_is_kept() -> None:
    raw = "a" * 128
    assert sanitize_tag(raw, fallback=FALLBACK) == raw


def test_long_tags_are_cut_to_128_with_a_hash_suffix_that_keeps_refs_distinct() -> None:
    first = sanitize_tag("feature/" + "x" * 200 + "/one", fallback=FALLBACK)
    second = sanitize_tag("feature/" + "x" * 200 + "/two", fallback=FALLBACK)
    assert len(first) == len(second) == 128
    assert first != second
    assert first[:119] == second[:119] == ("feature-" + "x" * 200)[:119]
    assert re.fullmatch(r"-[0-9a-f]{8}", first[119:])


def test_is_valid_tag_follows_the_docker_rules() -> None:
    assert is_valid_tag("latest") and is_valid_tag("_x") and is_valid_tag("1.2.3-rc.1")
    assert not is_valid_tag("") and not is_valid_tag(".x") and not is_valid_tag("-x")
    assert not is_valid_tag("a/b") and not is_valid_tag("a" * 129)


# -- property: any git-valid ref name gives valid tags ----------------------------------------

_FORBIDDEN = set(" ~^:?*[\\") | {chr(c) for c in range(32)} | {"\x7f"}
_component_chars = st.characters(codec="utf-8", blacklist_characters="".join(_FORBIDDEN | {"/"}))
_component = st.text(_component_chars, min_size=1, max_size=40).filter(
    lambda c: not c.startswith(".") and not c.endswith(".lock")
)


def _is_git_valid(name: str) -> bool:
    """git check-ref-format --branch rules (plus: a branch cannot start with '-')."""
    return not (
        ".." in name
        or "@{" in name
        or name.endswith(".")
        or name == "@"
        or name.startswith("-")
        or "//" in name
        or name.startswith("/")
        or name.endswith("/")
    )


git_ref_names = st.lists(_component, min_size=1, max_size=5).map("/".join).filter(_is_git_valid)
ascii_ref_names = (
    st.lists(
        st.text(string.ascii_letters + string.digits + "-_.#+@!", min_size=1, max_size=30).filter(
            lambda c: not c.startswith(".") and not c.endswith(".lock")
        ),
        min_size=1,
        max_size=4,
    )
    .map("/".join)
    .filter(_is_git_valid)
)

PROPERTY_CONFIG = r"""
repositories:
  - provider: git
    name: demo
    clone_url: file:///srv/demo.git
    image: 127.0.0.1:5000/demo
    build_rules:
      - source_type: branch
        source: /^(.*)$/
        docker_tag: ['{sourceref}', 'branch-{\1}', '{\1}-{short_sha}', 'latest']
      - source_type: tag
        source: /^(?P<name>.+?)(\.[0-9]+)?$/
        docker_tag: ['{name}{\2}', '{sourceref}', '_{sourceref}']
"""
REPOSITORY = load_text(PROPERTY_CONFIG).repositories[0]


def _assert_valid(tags: tuple[str, ...]) -> None:
    assert tags
    for tag in tags:
        assert DOCKER_TAG_RE.match(tag), tag
        if docker_match_tag is not None:
            assert docker_match_tag(f"{REPOSITORY.image}:{tag}"), tag


@settings(max_examples=400, deadline=None)
@given(git_ref_names)
def test_every_rendered_tag_is_valid_for_any_git_valid_branch_name(ref_name: str) -> None:
    (plan,) = plans_for_ref(REPOSITORY, RefType.BRANCH, ref_name, SHA)
    _assert_valid(plan.docker_tags)


@settings(max_examples=300, deadline=None)
@given(st.one_of(git_ref_names, ascii_ref_names))
def test_every_rendered_tag_is_valid_for_any_git_valid_tag_name(ref_name: str) -> None:
    (plan,) = plans_for_ref(REPOSITORY, RefType.TAG, ref_name, SHA)
    _assert_valid(plan.docker_tags)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_sanitize_gives_a_valid_tag_for_any_text(text: str) -> None:
    assert DOCKER_TAG_RE.match(sanitize_tag(text, fallback=FALLBACK))


@settings(max_examples=200, deadline=None)
@given(st.text(string.ascii_letters + string.digits + "_.-", min_size=1, max_size=128))
def test_valid_tags_that_start_well_are_left_unchanged(tag: str) -> None:
    if is_valid_tag(tag):
        assert sanitize_tag(tag, fallback=FALLBACK) == tag


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@settings(max_examples=60, deadline=None)
@given(git_ref_names)
def test_generated_ref_names_are_ones_git_accepts(ref_name: str) -> None:
    result = subprocess.run(
        ["git", "check-ref-format", "--branch", ref_name], capture_output=True, check=False
    )
    assert result.returncode == 0, ref_name
