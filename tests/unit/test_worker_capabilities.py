"""What a worker offers: its daemon's platforms by default, what it is told otherwise, and a
platform it cannot run refused at start."""

from __future__ import annotations

import docker
import pytest

from worker.capabilities import CapabilityError, default_platforms, worker_capabilities


class Daemon:
    """The one call the worker makes at start: ``docker info``."""

    def __init__(self, arch: str = "x86_64", os_type: str = "linux") -> None:
        self.arch = arch
        self.os_type = os_type

    def __call__(self, _timeout: float, _credentials: object) -> Daemon:
        return self

    def info(self) -> dict[str, str]:
        return {"OSType": self.os_type, "Architecture": self.arch, "ID": "X"}

    def close(self) -> None:
        pass


def binfmt(tmp_path, *entries: str):
    for name in entries:
        (tmp_path / name).write_text("enabled\ninterpreter /usr/libexec/qemu-binfmt/x\n")
    return tmp_path


def test_by_default_the_daemons_platform_its_relatives_and_what_it_emulates(tmp_path):
    found = worker_capabilities(Daemon(), None, binfmt_dir=binfmt(tmp_path, "qemu-aarch64"))
    assert found.platforms == ("linux/amd64", "linux/386", "linux/arm64")
    assert found.labels == ()
    arm = worker_capabilities(Daemon("aarch64"), None, binfmt_dir=tmp_path)
    assert arm.platforms == ("linux/arm64", "linux/arm")


def test_a_daemon_elsewhere_offers_its_own_platforms_only(tmp_path):
    found = default_platforms(
        "linux/amd64", local=False, binfmt_dir=binfmt(tmp_path, "qemu-aarch64")
    )
    assert found == ["linux/amd64", "linux/386"]


def test_platforms_asked_for_replace_the_defaults_and_labels_are_added(tmp_path):
    found = worker_capabilities(
        Daemon(),
        "unix:///var/run/docker.sock",
        platforms=("Linux/ARM64", "linux/amd64"),
        labels=("Big-Memory", "gpu", "gpu"),
        binfmt_dir=binfmt(tmp_path, "qemu-aarch64"),
    )
    assert found.platforms == ("linux/arm64", "linux/amd64")
    assert found.labels == ("big-memory", "gpu")
    assert found.offers == ("linux/arm64", "linux/amd64", "big-memory", "gpu")


@pytest.mark.parametrize(
    ("platforms", "labels", "message"),
    [
        (
            ("linux/arm64",),
            (),
            "--platform linux/arm64: Platform linux/arm64 cannot be built on this amd64 worker:"
            " its emulator qemu-aarch64 is not registered",
        ),
        (("windows/amd64",), (), "--platform windows/amd64: this worker's daemon runs linux"),
        (("linux/sparc64",), (), "no emulator for sparc64 is known"),
        (("amd64",), (), "--platform: platform 'amd64' must be os/architecture"),
        ((), ("big memory",), "--label: label 'big memory' must be lowercase letters"),
    ],
)
def test_what_the_worker_cannot_offer_is_refused_with_a_sentence(
    tmp_path, platforms, labels, message
):
    with pytest.raises(CapabilityError) as error:
        worker_capabilities(Daemon(), None, platforms=platforms, labels=labels, binfmt_dir=tmp_path)
    assert message in str(error.value)


def test_a_silent_daemon_leaves_this_machines_platform(tmp_path):
    def gone(_timeout: float, _credentials: object) -> object:
        raise docker.errors.DockerException("Error while fetching server API version")

    found = worker_capabilities(gone, None, binfmt_dir=tmp_path)
    assert len(found.platforms) >= 1 and found.platforms[0].startswith("linux/")
