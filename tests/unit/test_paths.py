"""Path filters: the glob language and which pushes a filter lets through."""

from __future__ import annotations

import time
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildrules.model import PathFilter
from buildrules.paths import GlobError, compile_glob, evaluate, matches_any


def matches(pattern: str, path: str) -> bool:
    return matches_any([pattern], path)


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("README.md", "README.md"),
        ("*.md", "README.md"),
        ("docs/*.md", "docs/a.md"),
        ("**/*.md", "README.md"),
        ("**/*.md", "a/b/c/README.md"),
        ("docs/**", "docs/a"),
        ("docs/**", "docs/a/b/c.txt"),
        ("docs/", "docs/a/b/c.txt"),
        ("a/**/b", "a/b"),
        ("a/**/b", "a/x/y/b"),
        ("**", "anything/at/all"),
        ("src/?.py", "src/a.py"),
        ("src/[abc].py", "src/b.py"),
        ("src/[a-c].py", "src/b.py"),
        ("src/[!abc].py", "src/d.py"),
        ("src/[^abc].py", "src/d.py"),
        ("/services/api/**", "services/api/main.go"),
        ("./services/api/**", "services/api/main.go"),
        ("a**b/c", "axxb/c"),
        ("\\*.md", "*.md"),
        ("*", ".hidden"),
    ],
)
def test_glob_matches(pattern: str, path: str) -> None:
    assert matches(pattern, path)


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("*.md", "docs/README.md"),
        ("docs/*.md", "docs/a/b.md"),
        ("docs/**", "docs"),
        ("docs/**", "documentation/a"),
        ("a/**/b", "a/xb"),
        ("src/?.py", "src/ab.py"),
        ("src/?", "src//"),
        ("src/[abc].py", "src/d.py"),
        ("src/[!abc].py", "src/a.py"),
        ("src/[!a]x", "src//x"),
        ("a**b/c", "ax/yb/c"),
        ("\\*.md", "a.md"),
        ("README.md", "readme.md"),
        ("lib/", "lib"),
    ],
)
def test_glob_does_not_match(pattern: str, path: str) -> None:
    assert not matches(pattern, path)


def test_star_does_not_cross_directories_but_double_star_does() -> None:
    assert not matches("src/*", "src/a/b.py")
    assert matches("src/**", "src/a/b.py")


def test_changed_paths_with_a_leading_slash_or_dot_slash_still_match() -> None:
    assert matches("src/*.py", "/src/a.py")
    assert matches("src/*.py", "./src/a.py")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("", "empty"),
        ("src/[ab", "unclosed"),
        ("a//b", "'//'"),
        ("a\\", "lone backslash"),
        ("[z-a]", "not a valid glob"),
    ],
)
def test_malformed_globs_are_refused(pattern: str, expected: str) -> None:
    with pytest.raises(GlobError) as raised:
        compile_glob(pattern)
    assert expected in str(raised.value)


# -- evaluate ---------------------------------------------------------------------------------


def test_no_filter_always_builds() -> None:
    assert evaluate(PathFilter(), ()).build
    assert evaluate(PathFilter(), ("x",)).build


def test_unknown_changes_always_build() -> None:
    decision = evaluate(PathFilter(include=("src/",)), None)
    assert decision.build and "not known" in decision.reason


def test_a_change_matching_include_builds() -> None:
    decision = evaluate(PathFilter(include=("src/",)), ("README.md", "src/a.py"))
    assert decision.build and "src/a.py" in decision.reason


def test_no_change_matching_include_does_not_build() -> None:
    decision = evaluate(PathFilter(include=("src/",)), ("README.md", "docs/x"))
    assert not decision.build and decision.reason == "no changed file matches paths.include"


def test_changes_that_are_all_ignored_do_not_build() -> None:
    decision = evaluate(PathFilter(ignore=("**/*.md", "docs/")), ("README.md", "docs/a.txt"))
    assert not decision.build and decision.reason == "changes only touch ignored paths"


def test_ignore_only_filter_builds_when_something_else_changed() -> None:
    assert evaluate(PathFilter(ignore=("**/*.md",)), ("README.md", "main.go")).build


def test_ignore_wins_over_include() -> None:
    paths = PathFilter(include=("src/",), ignore=("src/**/*.md",))
    assert not evaluate(paths, ("src/notes.md",)).build
    assert evaluate(paths, ("src/notes.md", "src/a.py")).build


def test_known_empty_change_list_does_not_build_a_filtered_rule() -> None:
    decision = evaluate(PathFilter(include=("src/",)), ())
    assert not decision.build and decision.reason == "the push changes no files"


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab/*?[]!^-\\.{}() ")), max_size=20), st.text(max_size=20)
)
def test_any_pattern_either_compiles_or_is_a_glob_error(pattern: str, path: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            compiled = compile_glob(pattern)
        except GlobError:
            return
        compiled.fullmatch(path)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("[!-a]", "b", True),
        ("[!-a]", "-", False),
        ("[-a]", "-", True),
        ("[a-]", "-", True),
        ("[a--b]", "-", True),
        ("[]]", "]", True),
        ("x[!a]", "x/", False),
    ],
)
def test_dashes_and_brackets_in_sets_mean_themselves_outside_ranges(
    pattern: str, path: str, expected: bool
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert matches(pattern, path) is expected


def test_path_globs_match_hostile_file_names_in_linear_time() -> None:
    """``*a*a*a*a*a*a*a*b`` against 2000 ``a``s backtracks for ever in Python's ``re``; path
    filters run with RE2."""
    started = time.monotonic()
    assert not matches_any(["*a*a*a*a*a*a*a*b"], "a" * 2000)
    assert not matches_any(["**/**/**/**/x"], "a/" * 500)
    assert time.monotonic() - started < 1.0
    assert matches_any(["*a*a*b"], "xaab") and matches_any(["[!-~]x"], " x")
    assert matches_any(["a[+-0]b"], "a,b") and not matches_any(["a[+-0]b"], "a/b")
