"""Image references: the registry host and the path after it, Docker's way, in one place."""

from __future__ import annotations

import pytest

from buildrules.model import Repository
from core.registry_address import image_path, registry_host_of


@pytest.mark.parametrize(
    ("image", "host", "path"),
    [
        ("127.0.0.1:5000/octo/app", "127.0.0.1:5000", "octo/app"),
        ("registry.example.com/team/app", "registry.example.com", "team/app"),
        ("localhost/app", "localhost", "app"),
        ("octo/app", "docker.io", "octo/app"),  # no dot or colon: a Docker Hub namespace
        ("app", "docker.io", "app"),
        ("docker.io/library/app", "docker.io", "library/app"),
    ],
)
def test_an_image_splits_into_registry_host_and_path(image, host, path):
    assert (registry_host_of(image), image_path(image)) == (host, path)


def test_a_repository_reads_its_image_the_same_way():
    repository = Repository(
        provider="github",
        name="octo/app",
        clone_url="https://x.invalid/a.git",
        image="r.io:5/a/b",
        build_rules=(),
    )
    assert (repository.registry_host, repository.image_path) == ("r.io:5", "a/b")
