"""Indexes that let a build-list filter read only what it shows, and the expiry of old builds.

Filters used to walk every record (``?repository=<unknown>``, a rare ``status=``: 1.3 s at
60,000 builds). Now:

- a repository name (any provider) is looked up in ``builds:repo-providers:<name>``, the providers
  that have builds of that name; an unknown name reads one key and answers nothing;
- an ended status has its own index ``builds:status:<status>`` (a build's terminal status never
  changes, so a build is added once and never moved); a running or waiting status filters the
  active builds, which are few;
- two filters together intersect their indexes in Redis (a short-lived key).

Builds older than ``AUTOBUILD_BUILD_RETENTION_DAYS`` (ended ones only) are deleted with their
logs and index entries by :func:`prune_expired` (the workers' maintenance thread calls it).
Builds recorded before these indexes existed are indexed once (:func:`ensure_indexed`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from typing import Any

import redis

from core.build import BuildRecord, BuildStatus

PREFIX = "autobuild:"
ALL_BUILDS = PREFIX + "builds"
ACTIVE_BUILDS = PREFIX + "builds:active"
INDEX_MARKER = PREFIX + "builds:status-index"  # set once older builds are indexed
TEMPORARY_SECONDS = 10  # a filter's intersection lives this long
PRUNE_BATCH = 500


def status_index_key(status: BuildStatus) -> str:
    return f"{PREFIX}builds:status:{status.value}"


def repository_providers_key(repository: str) -> str:
    return f"{PREFIX}builds:repo-providers:{repository.lower()}"


def repository_index_key(provider: str, repository: str) -> str:
    return f"{PREFIX}builds:repo:{provider}:{repository.lower()}"


def index_new(pipe: Any, record: BuildRecord) -> None:
    """Queue the index writes of a new build (besides the store's own)."""
    pipe.sadd(repository_providers_key(record.repository), record.provider)
    index_status(pipe, record)


def index_status(pipe: Any, record: BuildRecord) -> None:
    """Queue the index write of a build that reached ``record.status`` (ended ones only)."""
    if record.status.terminal:
        pipe.zadd(status_index_key(record.status), {record.id: record.created_at.timestamp()})


def filter_index(
    connection: redis.Redis,
    provider: str | None,
    repository: str | None,
    statuses: Collection[BuildStatus] | None,
) -> str | None:
    """The sorted set holding (at least) the builds that pass the filters, newest scoring
    highest; None when nothing can pass (an unknown repository)."""
    keys: list[str] = []
    if repository:
        providers = _providers(connection, repository)
        if provider:
            providers = [provider] if provider in providers else []
        if not providers:
            return None
        keys.append(_union(connection, [repository_index_key(p, repository) for p in providers]))
    if statuses:
        if all(status.terminal for status in statuses):
            keys.append(_union(connection, [status_index_key(s) for s in statuses]))
        elif not any(status.terminal for status in statuses):
            keys.append(ACTIVE_BUILDS)
    if not keys:
        return ALL_BUILDS
    if len(keys) == 1:
        return keys[0]
    target = _temporary()
    pipe = connection.pipeline(transaction=False)
    pipe.zinterstore(target, keys, aggregate="MAX")
    pipe.expire(target, TEMPORARY_SECONDS)
    pipe.execute()
    return target


def _providers(connection: redis.Redis, repository: str) -> list[str]:
    members: Any = connection.smembers(repository_providers_key(repository))
    return sorted(m.decode() for m in members)


def _union(connection: redis.Redis, keys: list[str]) -> str:
    if len(keys) == 1:
        return keys[0]
    target = _temporary()
    pipe = connection.pipeline(transaction=False)
    pipe.zunionstore(target, keys, aggregate="MAX")
    pipe.expire(target, TEMPORARY_SECONDS)
    pipe.execute()
    return target


def _temporary() -> str:
    return f"{PREFIX}builds:filter:{uuid.uuid4().hex}"


def ensure_indexed(connection: redis.Redis, records: Iterable[BuildRecord]) -> None:
    """Index ``records`` (every build, read by the caller) and set the marker: once."""
    pipe = connection.pipeline(transaction=False)
    for record in records:
        index_new(pipe, record)
    pipe.set(INDEX_MARKER, "1")
    pipe.execute()


def prune_expired(connection: redis.Redis, before: float, log_key_prefix: str) -> int:
    """Delete the ended builds created before ``before`` (epoch seconds), with their logs and
    index entries, a batch at a time; how many were deleted."""
    ids: Any = connection.zrangebyscore(ALL_BUILDS, "-inf", f"({before}", start=0, num=PRUNE_BATCH)
    if not ids:
        return 0
    raws = connection.mget([f"{PREFIX}build:{i.decode()}" for i in ids])
    pipe = connection.pipeline(transaction=False)
    deleted = 0
    for build_id, raw in zip((i.decode() for i in ids), raws, strict=True):
        if raw is None:
            pipe.zrem(ALL_BUILDS, build_id)
            continue
        record = BuildRecord.loads(raw)
        if not record.status.terminal:
            continue  # still running or waiting: recovery's business, not retention's
        pipe.delete(f"{PREFIX}build:{build_id}", log_key_prefix + build_id)
        pipe.zrem(ALL_BUILDS, build_id)
        pipe.zrem(repository_index_key(record.provider, record.repository), build_id)
        pipe.zrem(status_index_key(record.status), build_id)
        deleted += 1
    pipe.execute()
    return deleted
