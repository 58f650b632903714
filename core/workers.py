"""Every worker on the build queue, as the workers page, ``GET /api/v1/workers`` and
``autobuild workers`` show them.

rq's own worker entries (its public :class:`rq.Worker` API) say which workers are alive, what
they are doing and how many jobs they ended. Beside each, our worker keeps a small hash of its
own (:func:`record_heartbeat`, written with every rq heartbeat): its host and Docker daemon, what
it offers (platforms and labels, core.capabilities), the build it runs, and its last heartbeat
with the time-to-live that heartbeat promised. rq drops a worker's entry once its heartbeats
stop; ours stays a day longer, so a worker gone quiet is shown as ``lost`` (with what it was
running) instead of silently disappearing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from rq import Worker
from rq.command import send_shutdown_command
from rq.worker import BaseWorker

from core.capabilities import Capabilities, needs_from_text, needs_text
from core.progress import iso_time
from core.queue import build_queue
from core.workerid import WorkerIdentity

WORKERS_KEY = "autobuild:workers"  # sorted set: worker name -> last heartbeat (epoch seconds)
KEEP_LOST_SECONDS = 24 * 3600  # a lost worker is listed this long after its last heartbeat


def worker_key(name: str) -> str:
    return f"autobuild:worker:{name}"


@dataclass(frozen=True)
class WorkerView:
    """One worker: ``state`` is rq's (``idle``, ``busy``, ...) or ``lost`` when its last
    heartbeat is older than the time-to-live that heartbeat gave it."""

    name: str
    host: str
    daemon: str | None
    state: str
    current_build: str | None
    builds_done: int
    last_heartbeat: datetime | None
    ttl_seconds: int
    capabilities: Capabilities = field(default_factory=Capabilities)  # what it offers

    @property
    def lost(self) -> bool:
        return self.state == "lost"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "daemon": self.daemon,
            "state": self.state,
            "lost": self.lost,
            "current_build": self.current_build,
            "builds_done": self.builds_done,
            "last_heartbeat": iso_time(self.last_heartbeat),
            "ttl_seconds": self.ttl_seconds,
            "platforms": list(self.capabilities.platforms),
            "labels": list(self.capabilities.labels),
        }


def record_heartbeat(
    connection: redis.Redis,
    name: str,
    identity: WorkerIdentity,
    *,
    ttl_seconds: int,
    current_build: str | None,
    builds_done: int,
    capabilities: Capabilities | None = None,
    now: datetime | None = None,
) -> None:
    """Our side of a worker's heartbeat (called by the worker beside rq's own)."""
    offered = capabilities or Capabilities()
    now = now or datetime.now(UTC)
    key = worker_key(name)
    pipe = connection.pipeline()
    pipe.hset(
        key,
        mapping={
            "host": identity.host,
            "daemon": identity.daemon or "",
            "current_build": current_build or "",
            "builds_done": builds_done,
            "last_heartbeat": now.timestamp(),
            "ttl": ttl_seconds,
            "platforms": needs_text(offered.platforms),
            "labels": needs_text(offered.labels),
        },
    )
    pipe.expire(key, ttl_seconds + KEEP_LOST_SECONDS)
    pipe.zadd(WORKERS_KEY, {name: now.timestamp()})
    pipe.execute()


def forget_worker(connection: redis.Redis, name: str) -> None:
    """A worker that ended cleanly (a drain, a stop) is no longer listed."""
    pipe = connection.pipeline()
    pipe.delete(worker_key(name))
    pipe.zrem(WORKERS_KEY, name)
    pipe.execute()


def list_workers(
    connection: redis.Redis, queue_name: str, now: datetime | None = None
) -> list[WorkerView]:
    """Every worker on the queue, alive or lost, by host then name."""
    now = now or datetime.now(UTC)
    connection.zremrangebyscore(WORKERS_KEY, "-inf", now.timestamp() - KEEP_LOST_SECONDS)
    queue = build_queue(connection, queue_name)
    alive = {worker.name: worker for worker in Worker.all(queue=queue)}
    names = {_text(name) for name in connection.zrange(WORKERS_KEY, 0, -1)} | set(alive)
    views = [_view(connection, name, alive.get(name), now) for name in names]
    return sorted(views, key=lambda view: (view.host, view.name))


def _view(
    connection: redis.Redis, name: str, worker: BaseWorker | None, now: datetime
) -> WorkerView:
    ours = {_text(k): _text(v) for k, v in connection.hgetall(worker_key(name)).items()}
    ttl = int(float(ours.get("ttl") or 0)) or (worker.worker_ttl + 60 if worker else 0)
    ours_beat = float(ours["last_heartbeat"]) if ours.get("last_heartbeat") else None
    heartbeat = worker.last_heartbeat if worker else None
    if heartbeat is None and ours_beat is not None:
        heartbeat = datetime.fromtimestamp(ours_beat, UTC)
    if heartbeat is not None and heartbeat.tzinfo is None:
        heartbeat = heartbeat.replace(tzinfo=UTC)
    stale = heartbeat is None or (now - heartbeat).total_seconds() > ttl
    lost = worker is None or stale
    if worker is not None:
        builds_done = worker.successful_job_count + worker.failed_job_count
    else:
        builds_done = int(ours.get("builds_done") or 0)
    return WorkerView(
        name=name,
        host=(worker.hostname if worker else None) or ours.get("host") or "",
        daemon=ours.get("daemon") or None,
        state="lost" if lost else str(worker.get_state() if worker else "lost"),
        current_build=ours.get("current_build") or None,
        builds_done=builds_done,
        last_heartbeat=heartbeat,
        ttl_seconds=ttl,
        capabilities=Capabilities(
            platforms=needs_from_text(ours.get("platforms") or ""),
            labels=needs_from_text(ours.get("labels") or ""),
        ),
    )


def live_capabilities(workers: list[WorkerView]) -> list[Capabilities]:
    """What each worker that is not lost offers."""
    return [worker.capabilities for worker in workers if not worker.lost]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def drain(
    connection: redis.Redis, queue_name: str, *, host: str, names: tuple[str, ...]
) -> list[str]:
    """Ask the live workers named (or, with no names, every one on ``host``) to finish their
    current build, take no new one and exit: rq's shutdown command, which the worker takes as a
    warm stop. The names of the workers asked."""
    queue = build_queue(connection, queue_name)
    chosen = [
        worker.name
        for worker in Worker.all(queue=queue)
        if (worker.name in names if names else worker.hostname == host)
    ]
    for name in chosen:
        send_shutdown_command(connection, name)
    return chosen


def still_running(connection: redis.Redis, queue_name: str, names: list[str]) -> list[str]:
    """Which of ``names`` rq still lists as alive on the queue."""
    queue = build_queue(connection, queue_name)
    alive = {worker.name for worker in Worker.all(queue=queue)}
    return [name for name in names if name in alive]
