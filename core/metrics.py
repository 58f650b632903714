"""Counters and histograms kept in Redis, so every process (gunicorn workers, rq work horses) adds
to the same numbers and ``/metrics`` can read them from any web process.

What is recorded where:

- every status change of a build, in the same Redis transaction as the change itself
  (:func:`record_transition`, called by :meth:`core.store.BuildStore.transition`): builds that
  ended, by status; how long a build waited in the queue (when a worker picks it up) and how long
  it ran (when it ends), as histograms;
- webhook deliveries by provider and outcome (:func:`count_webhook`, by the web process);
- the Docker data directory's disk use and the prunes the workers did (:func:`record_docker_disk`,
  :func:`record_prune`).

Every key is named here; they all start with ``autobuild:metrics:``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from core.build import BuildRecord, BuildStatus

PREFIX = "autobuild:metrics:"
BUILDS_FINISHED = PREFIX + "builds_finished"  # hash: status -> count
BUILD_DURATION = PREFIX + "build_duration"  # hash: "<status>|<bucket>", "<status>|sum", "|count"
QUEUE_DURATION = PREFIX + "queue_duration"  # hash: "<bucket>", "sum", "count"
WEBHOOKS = PREFIX + "webhooks"  # hash: "<provider>|<outcome>" -> count
DOCKER = PREFIX + "docker"  # hash: used_bytes, total_bytes, measured_at, prunes, reclaimed_bytes

# Upper bounds (seconds) of the histogram buckets; +Inf is implied.
BUILD_BUCKETS: tuple[float, ...] = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
QUEUE_BUCKETS: tuple[float, ...] = (0.5, 1, 5, 15, 30, 60, 300, 600, 1800, 3600)

# Webhook outcomes, from the answer's status code (see webhook_outcome).
WEBHOOK_OUTCOMES = {
    202: "queued",
    200: "ignored",
    400: "malformed",
    401: "unauthorized",
    404: "not_configured",
    413: "too_large",
    429: "queue_full",
}


def bucket_index(value: float, buckets: Sequence[float]) -> int:
    """The index of the first bucket whose bound holds ``value``; ``len(buckets)`` for +Inf."""
    for index, bound in enumerate(buckets):
        if value <= bound:
            return index
    return len(buckets)


def _observe(pipe: Any, key: str, label: str, value: float, buckets: Sequence[float]) -> None:
    prefix = f"{label}|" if label else ""
    pipe.hincrby(key, f"{prefix}{bucket_index(value, buckets)}", 1)
    pipe.hincrbyfloat(key, f"{prefix}sum", value)
    pipe.hincrby(key, f"{prefix}count", 1)


def record_transition(pipe: Any, before: BuildRecord, after: BuildRecord) -> None:
    """Queue the metric updates for one status change on ``pipe`` (a transaction that also writes
    the change, so each change is counted exactly once)."""
    first_pickup = before.status is BuildStatus.QUEUED and before.started_at is None
    if first_pickup and after.status.running and after.started_at:
        waited = (after.started_at - before.created_at).total_seconds()
        _observe(pipe, QUEUE_DURATION, "", max(waited, 0.0), QUEUE_BUCKETS)
    if not after.status.terminal:
        return
    pipe.hincrby(BUILDS_FINISHED, after.status.value, 1)
    ran = before.status.running and after.started_at and after.finished_at
    if ran and after.started_at and after.finished_at:
        seconds = (after.finished_at - after.started_at).total_seconds()
        _observe(pipe, BUILD_DURATION, after.status.value, max(seconds, 0.0), BUILD_BUCKETS)


def webhook_outcome(status_code: int) -> str:
    if status_code in WEBHOOK_OUTCOMES:
        return WEBHOOK_OUTCOMES[status_code]
    return "unavailable" if status_code == 503 else ("error" if status_code >= 500 else "other")


def count_webhook(connection: Any, provider: str, outcome: str, amount: int = 1) -> None:
    """Count a delivery (on a connection or a pipeline)."""
    connection.hincrby(WEBHOOKS, f"{provider}|{outcome}", amount)


def record_docker_disk(
    connection: redis.Redis, used_bytes: int, total_bytes: int, at: float
) -> None:
    connection.hset(
        DOCKER, mapping={"used_bytes": used_bytes, "total_bytes": total_bytes, "measured_at": at}
    )


def record_prune(connection: redis.Redis, reclaimed_bytes: int) -> None:
    pipe = connection.pipeline(transaction=False)
    pipe.hincrby(DOCKER, "prunes", 1)
    pipe.hincrby(DOCKER, "reclaimed_bytes", max(int(reclaimed_bytes), 0))
    pipe.execute()


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Histogram:
    """Non-cumulative bucket counts (the last one is +Inf), their sum and count."""

    buckets: tuple[float, ...]
    counts: tuple[int, ...]
    total: float
    count: int


def _decode(raw: Mapping[Any, Any]) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): (
            v.decode() if isinstance(v, bytes) else str(v)
        )
        for k, v in raw.items()
    }


def _histogram(fields: Mapping[str, str], prefix: str, buckets: tuple[float, ...]) -> Histogram:
    counts = tuple(int(fields.get(f"{prefix}{i}", 0)) for i in range(len(buckets) + 1))
    return Histogram(
        buckets,
        counts,
        float(fields.get(f"{prefix}sum", 0.0)),
        int(fields.get(f"{prefix}count", 0)),
    )


@dataclass(frozen=True)
class Snapshot:
    """Everything recorded, as read in one round trip."""

    builds_finished: dict[str, int]
    build_durations: dict[str, Histogram]  # by terminal status
    queue_duration: Histogram
    webhooks: dict[tuple[str, str], int]  # (provider, outcome) -> count
    docker: dict[str, float]


def read_snapshot(connection: redis.Redis) -> Snapshot:
    pipe = connection.pipeline(transaction=False)
    for key in (BUILDS_FINISHED, BUILD_DURATION, QUEUE_DURATION, WEBHOOKS, DOCKER):
        pipe.hgetall(key)
    finished, durations, queue, webhooks, docker = (_decode(raw) for raw in pipe.execute())
    statuses = sorted({name.split("|", 1)[0] for name in durations})
    webhook_counts: dict[tuple[str, str], int] = {}
    for name, value in webhooks.items():
        provider, _, outcome = name.partition("|")
        webhook_counts[(provider, outcome)] = int(value)
    return Snapshot(
        builds_finished={status: int(value) for status, value in finished.items()},
        build_durations={s: _histogram(durations, f"{s}|", BUILD_BUCKETS) for s in statuses},
        queue_duration=_histogram(queue, "", QUEUE_BUCKETS),
        webhooks=webhook_counts,
        docker={name: float(value) for name, value in docker.items()},
    )
