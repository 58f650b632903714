"""pull: true without a daemon: who pulls, what the BuildKit query says, digests left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.basepull import build_pulls, registry_digest
from worker.buildkit.request import BuildKitOptions, build_params
from worker.docker_build import BuildRequest

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("builder", "platforms", "pull", "expected"),
    [
        ("buildkit", (), True, True),  # BuildKit resolves FROM at the registry itself
        ("buildkit", ("linux/amd64",), True, True),
        ("legacy", (), True, False),  # the pull phase pulled it; the build uses exactly that
        ("legacy", ("linux/amd64", "linux/arm64"), True, True),  # one variant per tag locally
        ("buildkit", (), False, False),
        ("legacy", ("linux/arm64",), False, False),
    ],
)
def test_which_builds_ask_the_daemon_to_pull(builder, platforms, pull, expected):
    assert build_pulls(builder, platforms, pull) is expected


def test_the_buildkit_query_carries_pull_only_when_asked(tmp_path: Path):
    base = BuildRequest(context_dir=tmp_path, dockerfile="Dockerfile", image="r/a", tags=("t",))
    assert "pull" not in build_params(base, BuildKitOptions())
    pulled = BuildRequest(
        context_dir=tmp_path, dockerfile="Dockerfile", image="r/a", tags=("t",), pull=True
    )
    assert build_params(pulled, BuildKitOptions())["pull"] == "1"


def test_a_from_by_digest_needs_no_registry_to_name_its_digest():
    def no_credentials(host: str) -> None:
        raise AssertionError(f"asked for {host}")

    assert registry_digest(f"127.0.0.1:1/base@{DIGEST}", no_credentials) == (DIGEST, None)
