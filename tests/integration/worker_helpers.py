"""Helpers for the worker's integration tests: a worker context on the real services, build
records in the store, and the registry's own answer for a tag."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import redis

from buildrules.model import BuildRule, Config, RegistryAuth, Repository
from core.build import BuildRecord, new_build_id
from core.events import RefType
from core.logs import read_log
from core.settings import Settings
from core.store import BuildStore
from tests.integration.services import manifest_digest
from worker.context import WorkerContext

PROVIDER = "github"


def unique_image(registry: str, prefix: str = "worker") -> str:
    """A registry repository no other test uses: ``<registry>/autobuild-test/<prefix>-<uuid>``."""
    return f"{registry}/autobuild-test/{prefix}-{uuid.uuid4().hex[:12]}"


def split_image(image: str) -> tuple[str, str]:
    host, _, path = image.partition("/")
    return host, path


def make_repository(
    clone_url: str,
    image: str,
    name: str | None = None,
    timeout_seconds: int = 600,
    *,
    retries: int = 0,
    **options: Any,
) -> Repository:
    """A repository building master as ``latest``. ``retries`` is 0 here (one attempt, so a
    test sees how an attempt ends) unless a test asks for automatic retries."""
    return Repository(
        provider=PROVIDER,
        name=name or f"octo/{uuid.uuid4().hex[:8]}",
        clone_url=clone_url,
        image=image,
        build_rules=(
            BuildRule(source_type=RefType.BRANCH, source="master", docker_tags=("latest",)),
        ),
        timeout_seconds=timeout_seconds,
        retries=retries,
        **options,
    )


def make_settings(tmp_path: Path, redis_url: str, **environ: str) -> Settings:
    """Settings as a worker would read them, plus ``environ`` (secrets, DOCKER_HOST)."""
    passed = ("PATH", "HOME", "TMPDIR", "DOCKER_HOST")
    env = {
        **{k: v for k, v in os.environ.items() if k in passed},
        "REDIS_URL": redis_url,
        "AUTOBUILD_WORKDIR": str(tmp_path / "work"),
        "AUTOBUILD_QUEUE": f"test-worker-{uuid.uuid4().hex[:8]}",
        **environ,
    }
    return Settings.from_env(env)


def make_context(
    tmp_path: Path,
    redis_url: str,
    connection: redis.Redis,
    repositories: Sequence[Repository],
    registries: Sequence[RegistryAuth] = (),
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> WorkerContext:
    settings = make_settings(tmp_path, redis_url, **dict(environ or {}))
    config = Config(repositories=tuple(repositories), registries=tuple(registries))
    return WorkerContext.create(settings, config, connection, **options)


def create_record(
    store: BuildStore,
    repository: Repository,
    commit: str,
    tags: Sequence[str] = ("latest",),
    *,
    source_type: RefType = RefType.BRANCH,
    source_name: str = "master",
    dockerfile: str = "Dockerfile",
    context: str = "/",
    build_args: Sequence[tuple[str, str]] = (),
    needs: Sequence[str] = (),
) -> BuildRecord:
    """A queued build record of ``commit``, saved in the store (as the web side would)."""
    record = BuildRecord(
        id=new_build_id(),
        provider=repository.provider,
        repository=repository.name,
        source_type=source_type,
        source_name=source_name,
        commit=commit,
        image=repository.image,
        docker_tags=tuple(tags),
        dockerfile=dockerfile,
        context=context,
        build_args=tuple(build_args),
        needs=tuple(needs),
    )
    store.create([record])
    return record


def log_text(connection: redis.Redis, build_id: str) -> str:
    return "\n".join(line.text for line in read_log(connection, build_id))


def phase_markers(connection: redis.Redis, build_id: str) -> list[str]:
    """The phases of the marker lines, in order."""
    return [line.phase or "" for line in read_log(connection, build_id) if line.marker]


def registry_digest(
    image: str, tag: str, username: str | None = None, password: str | None = None
) -> str | None:
    """The registry's own ``Docker-Content-Digest`` for ``image:tag`` (None: not there)."""
    host, path = split_image(image)
    return manifest_digest(host, path, tag, username, password)
