"""Builds that must go back to the queue, and the housekeeping every worker does for them.

- :func:`requeue_or_end` is the one way a build is tried again: after an infrastructure failure
  (daemon, registry or git host unreachable), when its worker was lost, or when the worker was
  stopped under it. While ``attempt <= repository.retries`` the same record goes back to
  ``queued`` with ``attempt + 1`` (a log line says "Attempt 2 of 3 after: <reason>"), else it ends
  ``error``. Failed user builds never come here.
- A retry with a backoff waits in ``retry_schedule_key(queue)`` (a sorted set scored by when it is
  due) and :func:`enqueue_due_retries` (every worker, every second) hands it to rq then, as a new
  job ``build-<id>-<attempt>``. rq's own scheduler is not used: it runs in one elected worker,
  takes minutes to fail over, and burst workers ignore it.
- :func:`recover_lost_builds`: a running build whose heartbeat key is gone (its worker stopped
  beating: killed, crashed, cut off) for longer than the grace after its start is queued again or
  ends ``error`` ("worker lost"), and the concurrency slot its dead job held is freed at once.
- :func:`find_orphans`: queued builds whose current job is missing or has ended without running
  them (the window between two Redis writes, a flushed queue), or was taken off the queue by a
  worker that lost Redis before it started it (the job waits in rq's intermediate queue, where
  rq itself gives it up only after minutes); the maintenance loop queues them again once seen
  twice.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rq import Queue
from rq.job import Job, JobStatus

from buildrules.model import Repository
from core.build import RUNNING_STATUSES, BuildRecord, BuildStatus, utcnow
from core.logs import BuildLog
from core.queue import build_queue, enqueue_for, job_id_for, queue_for, release_slot
from core.store import BuildStore, StaleTransitionError, heartbeat_key, retry_schedule_key

logger = logging.getLogger(__name__)

LOST_WORKER_REASON = (
    "The worker running this build was lost: it stopped sending heartbeats (killed, crashed or"
    " cut off from Redis)."
)
ENDED_JOB_STATUSES = frozenset(
    status.value
    for status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)
)

RepositoryIndex = Mapping[tuple[str, str], Repository]


def index_repositories(repositories: Iterable[Repository]) -> dict[tuple[str, str], Repository]:
    return {repository.key: repository for repository in repositories}


def repository_of(index: RepositoryIndex, record: BuildRecord) -> Repository | None:
    return index.get((record.provider, record.repository.lower()))


@dataclass(frozen=True)
class Requeued:
    record: BuildRecord  # as it is now
    requeued: bool  # True: queued again; False: ended


def _seconds(value: float) -> str:
    return f"{value:g} second" + ("" if value == 1 else "s")


def requeue_or_end(
    store: BuildStore,
    queue: Queue,
    repository: Repository | None,
    record: BuildRecord,
    reason: str,
    *,
    expect: Collection[BuildStatus] = RUNNING_STATUSES,
    delay: float = 0.0,
    log: BuildLog | None = None,
) -> Requeued | None:
    """Queue attempt ``record.attempt + 1`` of the build (after ``delay`` seconds) while the
    repository allows that many, else end it ``error`` with ``reason``. None when the build had
    meanwhile left ``expect`` or attempt ``record.attempt`` (it is someone else's story now)."""
    log = log or BuildLog(store.redis, record.id)
    if repository is not None and record.attempt <= repository.retries:
        try:
            requeued = store.transition(
                record.id,
                BuildStatus.QUEUED,
                expect=expect,
                expect_attempt=record.attempt,
                attempt=record.attempt + 1,
                started_at=None,
                error=None,
                digest=None,
                image_id=None,
                skipped_tags=(),
            )
        except StaleTransitionError:
            return None
        later = f" Trying again in {_seconds(delay)}." if delay > 0 else ""
        log.append(f"Attempt {requeued.attempt} of {repository.retries + 1} after: {reason}{later}")
        if delay > 0:
            schedule_retry(store, queue.name, requeued.id, time.time() + delay)
        else:
            enqueue_for(queue, requeued, repository)
        return Requeued(requeued, requeued=True)
    # The line goes first: a reader following the log stops once the status is terminal.
    log.append(f"Build error: {reason}")
    try:
        ended = store.transition(
            record.id, BuildStatus.ERROR, expect=expect, expect_attempt=record.attempt, error=reason
        )
    except StaleTransitionError:
        return None
    return Requeued(ended, requeued=False)


# -- retries waiting out their backoff ----------------------------------------------------------


def schedule_retry(store: BuildStore, queue_name: str, build_id: str, due: float) -> None:
    store.redis.zadd(retry_schedule_key(queue_name), {build_id: due})


def next_retry_due(store: BuildStore, queue_name: str) -> float | None:
    """When the first retry waiting for ``queue_name`` is due (epoch seconds), or None."""
    first: Any = store.redis.zrange(retry_schedule_key(queue_name), 0, 0, withscores=True)
    return float(first[0][1]) if first else None


def enqueue_due_retries(
    store: BuildStore, queue: Queue, repositories: RepositoryIndex, now: float | None = None
) -> list[BuildRecord]:
    """Hand every retry that is due to rq. Each is taken off the schedule by exactly one worker
    (``ZREM`` answers 1 to one of them)."""
    key = retry_schedule_key(queue.name)
    due: Any = store.redis.zrangebyscore(key, "-inf", time.time() if now is None else now)
    enqueued = []
    for raw in due:
        build_id = raw.decode()
        if not store.redis.zrem(key, build_id):
            continue  # another worker took it
        record = store.get(build_id)
        if record is None or record.status is not BuildStatus.QUEUED:
            continue  # canceled or superseded while it waited
        repository = repository_of(repositories, record)
        if repository is None:
            _end_unconfigured(store, record)
            continue
        enqueue_for(queue, record, repository)
        enqueued.append(record)
    return enqueued


def _end_unconfigured(store: BuildStore, record: BuildRecord) -> None:
    reason = f"Repository {record.provider}/{record.repository} is no longer configured."
    BuildLog(store.redis, record.id).append(f"Build error: {reason}")
    with contextlib.suppress(StaleTransitionError):
        store.transition(record.id, BuildStatus.ERROR, expect={BuildStatus.QUEUED}, error=reason)


# -- lost workers -------------------------------------------------------------------------------


def find_lost_builds(store: BuildStore, grace_seconds: float) -> list[BuildRecord]:
    """Running builds without a heartbeat, started more than ``grace_seconds`` ago."""
    lost = []
    now = utcnow()
    grace = timedelta(seconds=grace_seconds)
    for record in store.active():
        if not record.status.running:
            continue
        started = record.started_at or record.created_at
        if now - started < grace:
            continue
        if not store.redis.exists(heartbeat_key(record.id)):
            lost.append(record)
    return lost


def recover_lost_builds(
    store: BuildStore, queue: Queue, repositories: RepositoryIndex, grace_seconds: float
) -> list[Requeued]:
    """Queue lost builds again while they have attempts left; otherwise end them ``error``."""
    recovered = []
    for record in find_lost_builds(store, grace_seconds):
        # The dead job still holds its concurrency slot: free it, or the build (and every other
        # build of the repository) would wait for rq to notice, minutes later.
        result = requeue_or_end(
            store, queue, repository_of(repositories, record), record, LOST_WORKER_REASON
        )
        if result is None:
            continue
        release_slot(queue, record, record.attempt)
        logger.warning(
            "build %s: worker lost during attempt %d; %s",
            record.id,
            record.attempt,
            f"queued again as attempt {result.record.attempt}" if result.requeued else "ended",
        )
        recovered.append(result)
    return recovered


# -- queued builds without a job ----------------------------------------------------------------


def find_orphans(
    store: BuildStore, queue_name: str, repositories: RepositoryIndex
) -> list[BuildRecord]:
    """Queued builds of these repositories whose current job is missing or has ended, and that
    are not waiting out a retry's backoff."""
    waiting: Any = store.redis.zrange(retry_schedule_key(queue_name), 0, -1)
    scheduled = {raw.decode() for raw in waiting}
    base = build_queue(store.redis, queue_name)
    taken: dict[str, set[str]] = {}  # per queue (the build queue, a needs queue)
    orphans = []
    for record in store.queued():
        if record.id in scheduled or repository_of(repositories, record) is None:
            continue
        queue = queue_for(base, record)
        if queue.name not in taken:
            taken[queue.name] = _taken_not_started(queue)
        job_id = job_id_for(record)
        raw: Any = store.redis.hget(Job.key_for(job_id), "status")
        if raw is None or raw.decode() in ENDED_JOB_STATUSES or job_id in taken[queue.name]:
            orphans.append(record)
    return orphans


def _taken_not_started(queue: Queue) -> set[str]:
    """Job ids a worker moved off the queue (rq's intermediate queue) and has not started."""
    taken = queue.intermediate_queue.get_job_ids()
    return (
        {job_id for job_id in taken if job_id not in queue.started_job_registry} if taken else set()
    )


def requeue_orphans(
    store: BuildStore,
    queue: Queue,
    repositories: RepositoryIndex,
    suspects: Collection[str],
) -> tuple[list[BuildRecord], set[str]]:
    """Queue the orphans that were already ``suspects`` (seen last time: not a build whose job
    is being written right now); returns them and this pass's new suspects."""
    requeued, new_suspects = [], set()
    for record in find_orphans(store, queue.name, repositories):
        repository = repository_of(repositories, record)
        if record.id not in suspects or repository is None:
            new_suspects.add(record.id)
            continue
        logger.warning("build %s: queued without a job; queueing it again", record.id)
        # rq no longer gives it up later (it was taken off the queue of the build's needs)
        queue_for(queue, record).intermediate_queue.remove(job_id_for(record))
        enqueue_for(queue, record, repository)
        # A job taken and never started holds its repository's slot: free it, and let the
        # oldest waiting build (this one, in the order of its queue time) have it.
        release_slot(queue, record, record.attempt)
        requeued.append(record)
    return requeued, new_suspects
