"""Submodule URLs: resolved against the superproject's URL as git does, checked like clone URLs."""

from __future__ import annotations

import pytest

from worker.errors import ContextError
from worker.submodules import checked_url, resolve_url

SHA = "a" * 40


@pytest.mark.parametrize(
    ("base", "url", "resolved"),
    [
        ("https://git.example/org/app.git", "../lib.git", "https://git.example/org/lib.git"),
        ("https://git.example/org/app.git/", "../lib.git", "https://git.example/org/lib.git"),
        ("https://git.example/org/app", "../../other/lib", "https://git.example/other/lib"),
        ("https://git.example/org/app", "./lib", "https://git.example/org/app/lib"),
        ("git@git.example:org/app.git", "../lib.git", "git@git.example:org/lib.git"),
        ("ssh://git@git.example:2222/org/app", "../lib", "ssh://git@git.example:2222/org/lib"),
        ("file:///srv/git/app", "../lib", "file:///srv/git/lib"),
        (
            "https://git.example/org/app.git",
            "https://other.example/x.git",
            "https://other.example/x.git",
        ),
    ],
)
def test_relative_urls_resolve_against_the_superprojects_url(base, url, resolved):
    assert resolve_url(base, url) == resolved


def test_a_relative_url_cannot_climb_above_the_host():
    with pytest.raises(ValueError, match=r"climbs above git\.example"):
        resolve_url("https://git.example/app.git", "../../x.git")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ext::sh -c touch% /tmp/pwned", "its URL must not contain whitespace"),
        ("ext::touch%pwned", "its URL must not use a git remote helper"),
        ("-oProxyCommand=x", "its URL must not start with '-'"),
        ("https://user:hunter2@git.example/x", "its URL must not contain credentials"),
        ("https://git.example/x?token=hunter2", "its URL must not have a query string"),
        ("ftp://git.example/x", "its URL scheme 'ftp' is not allowed"),
    ],
)
def test_a_refused_url_is_one_sentence_without_the_url(url, reason):
    with pytest.raises(ContextError) as caught:
        checked_url("https://git.example/app.git", url, "lib/x", SHA)
    message = str(caught.value)
    assert message.startswith("Submodule lib/x (in commit aaaaaaa) is refused: ")
    assert reason in message
    assert "hunter2" not in message


def test_a_local_url_is_refused_unless_the_repository_itself_is_local():
    with pytest.raises(ContextError, match="names a repository on the worker"):
        checked_url("https://git.example/app.git", "file:///var/lib/autobuild/mirrors/x", "m", SHA)
    with pytest.raises(ContextError, match="names a repository on the worker"):
        checked_url("git@git.example:app.git", "FILE:///srv/x", "m", SHA)
    assert checked_url("file:///srv/git/app", "../lib", "m", SHA) == "file:///srv/git/lib"
    assert checked_url("file:///srv/git/app", "https://h/x.git", "m", SHA) == "https://h/x.git"
