"""Containment of builds: the limits a repository asks for, the context size, the prune decision."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from buildrules.loader import load_text
from buildrules.model import BuildRule, Repository
from core.events import RefType
from core.settings import Settings, SettingsError
from worker.containment import (
    BuildLimits,
    ContextTooLargeError,
    check_context_size,
    context_size,
    explain_limits,
    human_size,
    limits_for,
    prune_if_needed,
)
from worker.docker_client import WorkerAPIClient
from worker.errors import DockerBuildError, UserBuildError


def repository(**changes) -> Repository:
    base = Repository(
        provider="github",
        name="octo/app",
        clone_url="https://git.example.invalid/octo/app.git",
        image="127.0.0.1:5000/octo/app",
        build_rules=(BuildRule(source_type=RefType.BRANCH, source="main", docker_tags=("x",)),),
    )
    return Repository(**{**base.__dict__, **changes})


def test_default_network_and_no_limits_leave_the_daemon_defaults():
    limits = limits_for(repository())
    assert limits == BuildLimits(None, {}, 0)
    assert limits.build_kwargs() == {"container_limits": {}}


def test_network_none_memory_and_cpus_become_build_arguments():
    limits = limits_for(repository(network="none", memory="512m", cpus=1.5), 2048)
    assert limits.build_kwargs() == {
        "network_mode": "none",
        "container_limits": {
            "memory": 512 * 1024 * 1024,
            "memswap": 512 * 1024 * 1024,
            "cpuperiod": 100_000,
            "cpuquota": 150_000,
        },
    }
    assert limits.max_context_bytes == 2048


def test_the_host_network_is_never_used():
    # The loader only allows default and none; anything else stays the daemon's default.
    assert limits_for(repository(network="host")).network_mode is None


def test_the_loader_reads_the_limits_and_refuses_others():
    text = """
repositories:
  - provider: github
    name: octo/app
    clone_url: https://git.example.invalid/octo/app.git
    image: 127.0.0.1:5000/octo/app
    network: none
    memory: 1g
    cpus: 2
    build_rules:
      - source_type: branch
        source: main
        docker_tag: latest
"""
    (loaded,) = load_text(text).repositories
    assert limits_for(loaded).build_kwargs()["container_limits"]["memory"] == 1 << 30
    with pytest.raises(ValueError, match="network must be one of default, none"):
        load_text(text.replace("network: none", "network: host"))


def test_human_sizes():
    assert human_size(10) == "10 bytes"
    assert human_size(2 * 1024**3) == "2 GiB"
    assert human_size(3.1 * 1024**3) == "3.1 GiB"
    assert human_size(1536) == "1.5 KiB"


def test_the_context_size_counts_what_docker_would_send(tmp_path: Path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.bin").write_bytes(b"x" * 1000)
    (tmp_path / "ignored").mkdir()
    (tmp_path / "ignored" / "big.bin").write_bytes(b"x" * 100_000)
    (tmp_path / ".dockerignore").write_text("# comment\nignored\n")
    (tmp_path / "link").symlink_to("/etc/passwd")
    size = context_size(tmp_path, "Dockerfile")
    expected = 13 + 1000 + len("# comment\nignored\n") + len("/etc/passwd")
    assert size == expected


def test_a_context_over_the_limit_is_a_failed_build_naming_both_sizes(tmp_path: Path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "big.bin").write_bytes(b"x" * (3 * 1024 * 1024 + 200_000))
    with pytest.raises(ContextTooLargeError) as raised:
        check_context_size(tmp_path, "Dockerfile", 2 * 1024 * 1024)
    assert isinstance(raised.value, UserBuildError)  # -> failed
    assert raised.value.message.startswith("The build context is 3.2 MiB; the limit is 2 MiB")
    assert check_context_size(tmp_path, "Dockerfile", 0) > 0  # 0: no limit


def test_settings_read_the_containment_variables():
    settings = Settings.from_env(
        {
            "AUTOBUILD_MAX_CONTEXT_BYTES": "1000",
            "AUTOBUILD_PRUNE_THRESHOLD_PERCENT": "90",
            "AUTOBUILD_PRUNE_MIN_AGE": "60",
        }
    )
    assert settings.max_context_bytes == 1000
    assert settings.prune_threshold_percent == 90
    assert settings.prune_min_age_seconds == 60
    defaults = Settings.from_env({})
    assert defaults.max_context_bytes == 2 * 1024**3 and defaults.prune_threshold_percent == 80
    with pytest.raises(SettingsError, match="percentage"):
        Settings.from_env({"AUTOBUILD_PRUNE_THRESHOLD_PERCENT": "120"})


class FakeDocker:
    def __init__(self, root: str):
        self.root = root
        self.pruned: list[tuple[str, object]] = []

    def info(self):
        return {"DockerRootDir": self.root}

    def prune_images(self, filters=None):
        self.pruned.append(("images", filters))
        return {"SpaceReclaimed": 100}

    def prune_builds(self, filters=None):
        self.pruned.append(("builds", filters))
        return {"SpaceReclaimed": 20}


def test_prune_happens_only_at_or_above_the_threshold(tmp_path: Path):
    api = FakeDocker(str(tmp_path))
    assert not prune_if_needed(api, 100, 600).pruned  # a disk is never 100 % used here
    assert api.pruned == []
    result = prune_if_needed(api, 1, 600)
    assert result.pruned and result.reclaimed_bytes == 120
    assert api.pruned == [
        ("images", {"dangling": True, "until": "600s"}),
        ("builds", {"until": "600s"}),
    ]
    assert prune_if_needed(api, 0, 600) is None  # 0: never


def test_an_invisible_data_directory_skips_pruning():
    assert prune_if_needed(FakeDocker("/nonexistent/docker"), 1, 0) is None


def test_the_worker_client_passes_cpu_quota_to_the_build_endpoint(tmp_path: Path, monkeypatch):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    sent = {}

    def fake_post(session, url, **kwargs):  # what requests would send, without a daemon
        sent["url"], sent["params"] = url, kwargs.get("params")
        return requests.Response()

    monkeypatch.setattr(requests.Session, "post", fake_post)
    monkeypatch.setattr(WorkerAPIClient, "_stream_helper", lambda self, response, decode: None)
    client = WorkerAPIClient(base_url="http://127.0.0.1:1", version="1.41")
    client.build(
        path=str(tmp_path),
        container_limits={"memory": 64 << 20, "cpuperiod": 100_000, "cpuquota": 50_000},
    )
    assert sent["url"].endswith("/build")
    assert sent["params"]["cpuquota"] == 50_000
    assert sent["params"]["cpuperiod"] == 100_000
    assert sent["params"]["memory"] == 64 << 20
    assert client._extra_build_params == {}  # nothing left over for the next call


def test_a_step_killed_under_a_memory_limit_is_explained():
    limits = limits_for(repository(memory="64m"))
    killed = "Step 3/3 failed: The command '/bin/sh -c x' returned a non-zero code: 137"
    with pytest.raises(DockerBuildError) as raised, explain_limits(limits):
        raise DockerBuildError(killed)
    assert raised.value.message == (
        f"{killed} (the step was killed: the repository's memory limit is 64 MiB)."
    )
    with pytest.raises(DockerBuildError) as other, explain_limits(limits):
        raise DockerBuildError("Step 1/1 failed: returned a non-zero code: 1")
    assert "memory limit" not in other.value.message
    with pytest.raises(DockerBuildError) as unlimited, explain_limits(limits_for(repository())):
        raise DockerBuildError(killed)
    assert "memory limit" not in unlimited.value.message
