"""Untrusted builds, contained: per-repository network and resource limits for the ``RUN``
containers of a build, a maximum build context size, and pruning of the Docker data directory.

- ``network: none`` builds with ``network_mode="none"``: ``RUN`` steps get a loopback interface
  and nothing else. ``default`` leaves the daemon's default (a bridge, or nothing with a daemon
  started ``--bridge=none``). The host network is never used.
- ``memory`` becomes ``memory`` and ``memswap`` (the same value: no swap on top), so a step that
  needs more is killed by the kernel and the build ends ``failed``.
- ``cpus`` becomes a hard CFS quota (``cpuperiod``/``cpuquota``; the worker's Docker client passes
  these, which the Docker SDK's ``container_limits`` does not).
- The context (the files ``docker build`` would send, ``.dockerignore`` applied as the SDK applies
  it) is measured before anything is sent: above ``AUTOBUILD_MAX_CONTEXT_BYTES`` the build fails
  with a sentence saying both sizes.
- After each build the worker measures the file system of the daemon's ``DockerRootDir``; at or
  above ``AUTOBUILD_PRUNE_THRESHOLD_PERCENT`` it prunes dangling images and unused build cache
  older than ``AUTOBUILD_PRUNE_MIN_AGE`` seconds (younger ones may belong to a build running now).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import redis
import requests
from docker.utils.build import exclude_paths

from buildrules.model import Repository
from buildrules.values import memory_bytes
from core.metrics import record_docker_disk, record_prune
from worker.errors import DockerBuildError, UserBuildError

logger = logging.getLogger(__name__)

CPU_PERIOD_MICROSECONDS = 100_000  # the CFS period Docker uses for --cpus


class ContextTooLargeError(UserBuildError):
    """The build context is larger than the configured limit (the build ends ``failed``)."""


@dataclass(frozen=True)
class BuildLimits:
    """What the ``RUN`` containers of one build may use."""

    network_mode: str | None = None  # None: the daemon's default
    container_limits: Mapping[str, int] = field(default_factory=dict)
    max_context_bytes: int = 0  # 0: no limit

    def build_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``APIClient.build``."""
        kwargs: dict[str, Any] = {"container_limits": dict(self.container_limits)}
        if self.network_mode is not None:
            kwargs["network_mode"] = self.network_mode
        return kwargs


def limits_for(repository: Repository, max_context_bytes: int = 0) -> BuildLimits:
    """The limits the repository's configuration asks for."""
    limits: dict[str, int] = {}
    if repository.memory:
        size = memory_bytes(repository.memory)
        limits["memory"] = size
        limits["memswap"] = size  # memory + swap: no swap beyond the limit
    if repository.cpus:
        limits["cpuperiod"] = CPU_PERIOD_MICROSECONDS
        limits["cpuquota"] = max(int(repository.cpus * CPU_PERIOD_MICROSECONDS), 1000)
    network = "none" if repository.network == "none" else None
    return BuildLimits(network, limits, max_context_bytes)


@contextlib.contextmanager
def explain_limits(limits: BuildLimits) -> Iterator[None]:
    """A step killed (exit code 137) under a memory limit most likely hit it: say so."""
    try:
        yield
    except DockerBuildError as exc:
        memory = limits.container_limits.get("memory")
        if memory and exc.message.rstrip(".").endswith("non-zero code: 137"):
            raise DockerBuildError(
                f"{exc.message.rstrip('.')} (the step was killed: the repository's memory limit"
                f" is {human_size(memory)})"
            ) from exc
        raise


# --- the build context -------------------------------------------------------------------------


def human_size(size: float) -> str:
    """``3.1 GiB``, ``512 MiB``, ``10 bytes``: binary units, one decimal when not whole."""
    units = ("bytes", "KiB", "MiB", "GiB", "TiB")
    value = float(size)
    unit = units[0]
    for unit in units:
        if value < 1024 or unit == units[-1]:
            break
        value /= 1024
    if unit == "bytes":
        return f"{int(value)} bytes"
    text = f"{value:.1f}"
    return f"{text[:-2] if text.endswith('.0') else text} {unit}"


def dockerignore_patterns(directory: Path) -> list[str]:
    """The ``.dockerignore`` patterns as the Docker SDK reads them."""
    path = directory / ".dockerignore"
    if not path.is_file():
        return []
    lines = path.read_text(errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def context_size(directory: Path, dockerfile: str) -> int:
    """Bytes of the files ``docker build`` would send from ``directory`` (``.dockerignore``
    applied as the SDK applies it; links counted as links, directories as nothing)."""
    total = 0
    for relative in exclude_paths(str(directory), dockerignore_patterns(directory), dockerfile):
        try:
            info = os.lstat(directory / relative)
        except OSError:
            continue
        if not os.path.isdir(directory / relative) or os.path.islink(directory / relative):
            total += info.st_size
    return total


def check_context_size(directory: Path, dockerfile: str, limit: int) -> int:
    """The context's size; :class:`ContextTooLargeError` above ``limit`` (0: no limit)."""
    size = context_size(directory, dockerfile)
    if limit and size > limit:
        raise ContextTooLargeError(
            f"The build context is {human_size(size)}; the limit is {human_size(limit)}"
            " (add a .dockerignore, or raise AUTOBUILD_MAX_CONTEXT_BYTES)"
        )
    return size


# --- pruning -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PruneResult:
    used_percent: float
    pruned: bool
    reclaimed_bytes: int = 0


def docker_disk_usage(api: Any) -> tuple[int, int] | None:
    """(used, total) bytes of the file system holding the daemon's data directory, or None when
    that directory is not visible from this worker (a remote daemon)."""
    root = api.info().get("DockerRootDir")
    if not root or not os.path.isdir(root):
        return None
    usage = shutil.disk_usage(root)
    return usage.used, usage.total


def prune_docker(api: Any, min_age_seconds: int) -> int:
    """Remove dangling images and unused build cache older than ``min_age_seconds``; returns the
    bytes reclaimed."""
    age = {"until": f"{min_age_seconds}s"} if min_age_seconds > 0 else {}
    images = api.prune_images(filters={"dangling": True, **age}) or {}
    reclaimed = int(images.get("SpaceReclaimed") or 0)
    try:
        cache = api.prune_builds(filters=age or None) or {}
        reclaimed += int(cache.get("SpaceReclaimed") or 0)
    except docker.errors.APIError as exc:  # an old daemon without build cache pruning
        logger.info("build cache not pruned: %s", exc)
    return reclaimed


def prune_if_needed(
    api: Any, threshold_percent: float, min_age_seconds: int, connection: redis.Redis | None = None
) -> PruneResult | None:
    """Measure the Docker data directory and prune when it is at or above ``threshold_percent``
    (0: never). Never raises: housekeeping must not fail a build; returns None when it could not
    measure."""
    if threshold_percent <= 0:
        return None
    try:
        usage = docker_disk_usage(api)
        if usage is None:
            return None
        used, total = usage
        percent = used * 100.0 / total if total else 0.0
        if connection is not None:
            record_docker_disk(connection, used, total, time.time())
        if percent < threshold_percent:
            return PruneResult(percent, pruned=False)
        reclaimed = prune_docker(api, min_age_seconds)
        if connection is not None:
            record_prune(connection, reclaimed)
        logger.info(
            "pruned dangling images and build cache",
            extra={
                "event": "docker_prune",
                "used_percent": round(percent, 1),
                "threshold_percent": threshold_percent,
                "reclaimed_bytes": reclaimed,
            },
        )
        return PruneResult(percent, pruned=True, reclaimed_bytes=reclaimed)
    except (docker.errors.DockerException, requests.RequestException, OSError, redis.RedisError):
        logger.warning("Docker housekeeping skipped", exc_info=True)
        return None


def housekeeping(docker_factory: Any, settings: Any, connection: redis.Redis | None) -> None:
    """After a build: measure the Docker data directory and prune if it is too full. Never
    raises (a daemon that is down was already reported by the build)."""
    if settings.prune_threshold_percent <= 0:
        return
    try:
        api = docker_factory(30.0, {})
    except Exception:  # housekeeping must never fail a build
        logger.warning("Docker housekeeping skipped: no Docker client", exc_info=True)
        return
    try:
        prune_if_needed(
            api, settings.prune_threshold_percent, settings.prune_min_age_seconds, connection
        )
    finally:
        api.close()
