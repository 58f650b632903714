"""The rq worker class of ``autobuild worker``, and what it does when Redis goes away under it.

rq's loop rides out a Redis that is down while it waits for a job, but not one that goes away
while a build runs: watching the work horse, rq writes the job's heartbeat, the write fails, and
the loop ends (the process used to exit, taking ``make run`` down with it). :class:`BuildWorker`
notices that case, stops the build's process (nothing can record what it does while Redis is
down, and its job's state is lost with rq's loop), and the worker command then waits for Redis,
queues that build again (:func:`requeue_interrupted`: "Attempt 2 of 3 after: ...", or ``error``
once its attempts are spent) and starts a fresh rq loop, in the same process.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import redis
from rq import Worker

from core.capabilities import Capabilities
from core.needsqueues import queues_for
from core.workerid import WorkerIdentity
from core.workers import record_heartbeat

logger = logging.getLogger(__name__)

INTERRUPTED_REASON = (
    "The worker lost its connection to Redis during the build and stopped it (Redis restarted"
    " or unreachable)."
)
REDIS_WAIT_SECONDS = 1.0
# How long an idle worker waits for a job before it looks again at which needs queues exist: a
# build queued with needs no build had before is taken within this time (core.needsqueues).
LISTEN_REFRESH_SECONDS = 3


@dataclass(frozen=True)
class InterruptedBuild:
    build_id: str
    attempt: int | None


class BuildWorker(Worker):
    """rq's forking worker that remembers why its loop ended: a stop asked for by a signal, or
    the build it stopped because Redis went away while it watched it.

    Given its ``capabilities``, it takes builds from the needs queues it can serve as well as
    from the build queue (its one queue at start): each time it is about to wait for a job (rq
    heartbeats then) it reads which needs queues exist (:func:`core.needsqueues.queues_for`),
    and it waits at most :data:`LISTEN_REFRESH_SECONDS` before it looks again."""

    def __init__(
        self,
        *args: Any,
        identity: WorkerIdentity | None = None,
        capabilities: Capabilities | None = None,
        **kwargs: Any,
    ) -> None:
        self.identity = identity
        self.capabilities = capabilities
        self.current_build: str | None = None
        super().__init__(*args, **kwargs)
        self.build_queue_name = self.queues[0].name
        self.stop_requested = threading.Event()
        self.interrupted: InterruptedBuild | None = None

    @property
    def dequeue_timeout(self) -> int:
        if self.capabilities is None:
            return int(super().dequeue_timeout)
        return min(int(super().dequeue_timeout), LISTEN_REFRESH_SECONDS)

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """rq's heartbeat, and ours beside it (:mod:`core.workers`: host, daemon, what it
        offers, build); between builds, the queues to listen to are read again."""
        super().heartbeat(timeout, pipeline)
        if self.identity is not None:
            record_heartbeat(
                self.connection,
                self.name,
                self.identity,
                ttl_seconds=timeout or self.worker_ttl + 60,
                current_build=self.current_build,
                builds_done=self.successful_job_count + self.failed_job_count,
                capabilities=self.capabilities,
            )
        if self.current_build is None and pipeline is None:
            self.listen_to_needs_queues()

    def listen_to_needs_queues(self) -> None:
        if self.capabilities is None:
            return
        queues = queues_for(self.connection, self.build_queue_name, self.capabilities)
        if [q.name for q in queues] != self.queue_names():
            self.queues = queues
            self._ordered_queues = queues[:]

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested.set()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def execute_job(self, job: Any, queue: Any) -> None:
        build = _build_of(job)
        self.current_build = build.build_id if build else None
        try:
            self.heartbeat()  # the workers page shows the build at once
            super().execute_job(job, queue)
        except redis.RedisError:
            self.interrupted = _build_of(job)
            if self.horse_pid:
                logger.warning(
                    "Redis unreachable while watching a build; stopping its process (%s)",
                    self.interrupted.build_id if self.interrupted else job.id,
                )
                with contextlib.suppress(OSError):
                    self.kill_horse()  # its whole process group: git, the Docker streams
                    self.wait_for_horse()
            raise
        finally:
            self.current_build = None


def _build_of(job: Any) -> InterruptedBuild | None:
    try:
        attempt = int(job.args[1]) if len(job.args) > 1 else None
        return InterruptedBuild(str(job.args[0]), attempt)
    except Exception:  # not a build job: nothing of ours to queue again
        return None


def wait_for_redis(
    connection: redis.Redis, stop: Callable[[], bool], every: float = REDIS_WAIT_SECONDS
) -> bool:
    """Ping until Redis answers (True) or ``stop()`` is True (False)."""
    warned = False
    while not stop():
        try:
            connection.ping()
            if warned:
                logger.warning("Redis answers again; the worker carries on")
            return True
        except redis.RedisError as error:
            if not warned:
                logger.warning("Redis unreachable (%s); waiting for it to come back", error)
                warned = True
        time.sleep(every)
    return False


def requeue_interrupted(context: Any, interrupted: InterruptedBuild) -> None:
    """Queue again (or end ``error``) the build this worker stopped, and free the concurrency
    slot its dead job still holds."""
    from core.queue import release_slot
    from worker.jobs import record_lost_build

    record = context.store.get(interrupted.build_id)
    if record is None:
        return
    if record_lost_build(context, interrupted.build_id, INTERRUPTED_REASON, interrupted.attempt):
        release_slot(context.queue(), record, interrupted.attempt or record.attempt)
