"""Whether a platform can run on this worker, decided before any work."""

from __future__ import annotations

import pytest

from worker.emulation import check_platforms, emulator_problem
from worker.errors import UserBuildError


def binfmt(tmp_path, **entries: str):
    for name, state in entries.items():
        (tmp_path / name).write_text(f"{state}\ninterpreter /usr/libexec/qemu-binfmt/x\n")
    return tmp_path


def test_the_native_architecture_and_its_relatives_need_no_emulator(tmp_path):
    assert emulator_problem("linux/amd64", "amd64", tmp_path) is None
    assert emulator_problem("linux/386", "amd64", tmp_path) is None
    assert emulator_problem("linux/arm/v7", "arm64", tmp_path) is None


def test_a_foreign_platform_needs_its_qemu_entry_registered_and_enabled(tmp_path):
    problem = emulator_problem("linux/arm64", "amd64", tmp_path)
    assert problem == (
        "Platform linux/arm64 cannot be built on this amd64 worker: its emulator qemu-aarch64"
        " is not registered (install qemu-user-static and run scripts/binfmt.sh)"
    )
    assert emulator_problem(
        "linux/arm64", "amd64", binfmt(tmp_path, **{"qemu-aarch64": "disabled"})
    )
    assert (
        emulator_problem("linux/arm64", "amd64", binfmt(tmp_path, **{"qemu-aarch64": "enabled"}))
        is None
    )


def test_other_operating_systems_and_unknown_architectures_are_refused(tmp_path):
    assert "Linux images only" in (emulator_problem("windows/amd64", "amd64", tmp_path) or "")
    assert "no emulator for sparc64" in (emulator_problem("linux/sparc64", "amd64", tmp_path) or "")


def test_check_platforms_raises_for_the_first_platform_it_cannot_run(tmp_path):
    with pytest.raises(UserBuildError, match="linux/s390x"):
        check_platforms(("linux/s390x", "linux/arm64"), None, tmp_path)


def test_a_remote_daemon_is_not_checked_against_this_machine(tmp_path):
    check_platforms(("linux/s390x",), "tcp://10.0.0.5:2376", tmp_path)
