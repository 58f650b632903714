"""app/images.py without services: links to the Dockerfile on the git host."""

from __future__ import annotations

import pytest

from app.images import dockerfile_url

COMMIT = "c" * 40


@pytest.mark.parametrize(
    ("provider", "clone_url", "expected"),
    [
        ("github", "https://github.com/o/r.git", f"https://github.com/o/r/blob/{COMMIT}/d/Dockerfile"),
        ("gitlab", "https://gitlab.com/g/r.git", f"https://gitlab.com/g/r/-/blob/{COMMIT}/d/Dockerfile"),
        ("bitbucket", "https://bitbucket.org/o/r.git", f"https://bitbucket.org/o/r/src/{COMMIT}/d/Dockerfile"),
        ("gitea", "https://git.example/o/r.git", f"https://git.example/o/r/src/commit/{COMMIT}/d/Dockerfile"),
        ("github", "https://user:token@github.com/o/r.git", f"https://github.com/o/r/blob/{COMMIT}/d/Dockerfile"),
        ("git", "https://git.example/o/r.git", None),
        ("github", "git@github.com:o/r.git", None),
    ],
)  # fmt: skip
def test_the_dockerfile_link_points_at_the_commit_on_the_host(provider, clone_url, expected):
    assert dockerfile_url(provider, clone_url, COMMIT, "/d", "Dockerfile") == expected
