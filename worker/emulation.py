"""Can this worker's daemon run ``RUN`` steps of a platform? Asked before any work is done.

The daemon's own architecture runs natively (amd64 also runs 386). Any other architecture needs
QEMU registered with the kernel's ``binfmt_misc`` (``qemu-user-static``; ``make setup`` registers
it): the entry ``/proc/sys/fs/binfmt_misc/qemu-<arch>`` must exist and be enabled. The check reads
this machine's ``/proc``, so it is only meaningful for a daemon on this machine; for a remote
daemon (``DOCKER_HOST`` not a unix socket) it is skipped and a missing emulator shows up as the
``RUN`` step failing with "exec format error".
"""

from __future__ import annotations

import os
from pathlib import Path

from worker.errors import UserBuildError

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
# uname -m -> the OCI architecture name
MACHINE_ARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "i686": "386",
}
# OCI architecture -> QEMU's binfmt entry (as qemu-user-static names it)
QEMU_ENTRY = {
    "amd64": "qemu-x86_64",
    "arm64": "qemu-aarch64",
    "arm": "qemu-arm",
    "386": "qemu-i386",
    "ppc64le": "qemu-ppc64le",
    "s390x": "qemu-s390x",
    "riscv64": "qemu-riscv64",
    "mips64le": "qemu-mips64el",
    "loong64": "qemu-loongarch64",
}
NATIVE_ALSO = {"amd64": ("386",), "arm64": ("arm",)}


def native_arch() -> str:
    machine = os.uname().machine
    return MACHINE_ARCH.get(machine, machine)


def emulator_problem(platform: str, native: str, binfmt_dir: Path = BINFMT_DIR) -> str | None:
    """Why ``platform`` cannot run here (a sentence), or None when it can."""
    os_name, _, rest = platform.partition("/")
    arch = rest.split("/")[0]
    if os_name != "linux":
        return f"Platform {platform} cannot be built: this worker's daemon runs Linux images only"
    if arch == native or arch in NATIVE_ALSO.get(native, ()):
        return None
    entry = QEMU_ENTRY.get(arch)
    if entry is None:
        return (
            f"Platform {platform} cannot be built on this {native} worker:"
            f" no emulator for {arch} is known"
        )
    path = binfmt_dir / entry
    try:
        enabled = path.read_text().splitlines()[0].strip() == "enabled"
    except (OSError, IndexError):
        enabled = False
    if not enabled:
        return (
            f"Platform {platform} cannot be built on this {native} worker: its emulator {entry}"
            " is not registered (install qemu-user-static and run scripts/binfmt.sh)"
        )
    return None


def check_platforms(
    platforms: tuple[str, ...], docker_host: str | None, binfmt_dir: Path = BINFMT_DIR
) -> None:
    """Raise :class:`UserBuildError` for the first platform this worker cannot build (a daemon
    elsewhere, ``DOCKER_HOST`` not a unix socket, is not checked)."""
    if docker_host and not docker_host.startswith("unix://"):
        return
    native = native_arch()
    for platform in platforms:
        problem = emulator_problem(platform, native, binfmt_dir)
        if problem is not None:
            raise UserBuildError(problem)
