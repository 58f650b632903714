"""What this worker offers (core.capabilities): the platforms its Docker daemon builds and the
labels it was started with, settled once when the worker starts.

``autobuild worker --platform P`` (repeatable) names the platforms; without it they are the
daemon's own (``docker info``'s OSType and Architecture, ``x86_64`` -> ``amd64``) with those it
also runs natively (386 on amd64) and those it can emulate (a QEMU ``binfmt_misc`` entry,
:mod:`worker.emulation`; only checked for a daemon on this machine). A ``--platform`` the daemon
cannot run is refused with the reason. ``--label L`` (repeatable) adds labels, such as
``big-memory``, that ``runs_on:`` asks for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import docker
import requests

from buildrules.builder import check_platform
from buildrules.runson import check_label
from core.capabilities import Capabilities, daemon_platform
from worker.docker_client import DockerFactory
from worker.emulation import BINFMT_DIR, NATIVE_ALSO, QEMU_ENTRY, emulator_problem, native_arch
from worker.errors import DaemonError

INFO_TIMEOUT_SECONDS = 10.0

logger = logging.getLogger(__name__)


class CapabilityError(ValueError):
    """A ``--platform`` or ``--label`` the worker cannot offer (the message says why)."""


def worker_capabilities(
    factory: DockerFactory,
    docker_host: str | None,
    *,
    platforms: Sequence[str] = (),
    labels: Sequence[str] = (),
    binfmt_dir: Path = BINFMT_DIR,
) -> Capabilities:
    """This worker's capabilities, or CapabilityError for an option it cannot offer."""
    checked_labels = tuple(dict.fromkeys(_checked(check_label, "--label", v) for v in labels))
    native = _native_platform(factory)
    local = not docker_host or docker_host.startswith("unix://")
    if platforms:
        offered = [_checked(check_platform, "--platform", value) for value in platforms]
        for platform in offered:
            _check_runnable(platform, native, local, binfmt_dir)
    else:
        offered = default_platforms(native, local, binfmt_dir)
    return Capabilities(platforms=tuple(dict.fromkeys(offered)), labels=checked_labels)


def default_platforms(native: str, local: bool, binfmt_dir: Path = BINFMT_DIR) -> list[str]:
    """The daemon's own platform, those it runs natively too, and (a daemon on this machine)
    those it can emulate."""
    os_name, _, arch = native.partition("/")
    found = [native, *(f"{os_name}/{also}" for also in NATIVE_ALSO.get(arch, ()))]
    if local and os_name == "linux":
        for other in QEMU_ENTRY:
            if emulator_problem(f"linux/{other}", arch, binfmt_dir) is None:
                found.append(f"linux/{other}")
    return list(dict.fromkeys(found))


def _check_runnable(platform: str, native: str, local: bool, binfmt_dir: Path) -> None:
    os_name, _, arch = native.partition("/")
    if platform.split("/")[0] != os_name:
        raise CapabilityError(
            f"--platform {platform}: this worker's daemon runs {os_name} images ({native})"
        )
    if not local:
        if platform.split("/")[1] != arch:
            logger.warning(
                "--platform %s: the daemon is on another machine; its emulators are not checked",
                platform,
            )
        return
    problem = emulator_problem(platform, arch, binfmt_dir)
    if problem is not None:
        raise CapabilityError(f"--platform {platform}: {problem}")


def _native_platform(factory: DockerFactory) -> str:
    try:
        api = factory(INFO_TIMEOUT_SECONDS, {})
        try:
            info = api.info()
        finally:
            api.close()
        return daemon_platform(info.get("OSType"), info.get("Architecture"))
    except (DaemonError, docker.errors.DockerException, requests.RequestException) as error:
        logger.warning("the Docker daemon did not say its platform (%s); assuming this one", error)
        return f"linux/{native_arch()}"


def _checked(check: Callable[[str], str], option: str, value: str) -> str:
    try:
        return check(value)
    except ValueError as exc:
        raise CapabilityError(f"{option}: {exc}") from exc
