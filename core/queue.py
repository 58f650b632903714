"""The rq queue that carries build ids from the web process to the workers.

One job per build attempt: ``build-<id>-<attempt>``, whose arguments are the build id and the
attempt. A build queued again (a retry, or its worker was lost) gets a new job, so rq never runs
the old one a second time, and a job whose attempt is no longer the build's is ignored by the
worker.

``max_concurrent_builds`` is rq's own rate limit (rq >= 3.0) on a per-repository key: a job over
the limit is not in the queue at all but waits in ``rq:rl:<key>:rate_limited``, and rq promotes
the oldest waiting job when a running one ends. So builds of one repository wait in order without
holding a worker, while other repositories' builds go ahead. Waiting jobs are ordered by the
build's queue time (``created_at``), so a retried build keeps its place.
"""

from __future__ import annotations

import redis
from rq import Queue
from rq.job import Job
from rq.rate_limit import RateLimit, RateLimitRegistry
from rq.serializers import JSONSerializer

from buildrules.model import Repository
from core.build import BuildRecord
from core.store import concurrency_key

RUN_BUILD = "worker.jobs.run_build"  # by name: the web process never imports the worker
JOB_TIMEOUT_GRACE_SECONDS = 5 * 60  # the worker ends the build itself; rq's limit is a backstop
RESULT_TTL_SECONDS = 24 * 3600


def build_queue(connection: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


def job_id_for(record: BuildRecord, attempt: int | None = None) -> str:
    return f"build-{record.id}-{record.attempt if attempt is None else attempt}"


def enqueue_build(
    queue: Queue, record: BuildRecord, timeout_seconds: int, *, max_concurrent: int = 0
) -> Job:
    """Queue the record's current attempt. With ``max_concurrent`` (> 0) at most that many
    builds of the repository are queued-for-a-worker or running at once; the rest wait, in
    order."""
    rate_limit = None
    if max_concurrent > 0:
        key = concurrency_key(queue.name, record.provider, record.repository)
        rate_limit = RateLimit(key, max_concurrent)
    job = queue.enqueue(
        RUN_BUILD,
        record.id,
        record.attempt,
        job_id=job_id_for(record),
        job_timeout=timeout_seconds + JOB_TIMEOUT_GRACE_SECONDS,
        result_ttl=RESULT_TTL_SECONDS,
        failure_ttl=RESULT_TTL_SECONDS,
        description=f"build {record.id} of {record.repository} {record.source_name}",
        rate_limit=rate_limit,
    )
    if rate_limit is not None:
        # rq scores waiting jobs by the whole second they arrived in (ties go by job id):
        # order them by the build's own queue time instead, if the job is still waiting.
        waiting = RateLimitRegistry(rate_limit.key, queue.connection).rate_limited_key
        queue.connection.zadd(waiting, {job.id: record.created_at.timestamp()}, xx=True)
    return job


def enqueue_for(queue: Queue, record: BuildRecord, repository: Repository) -> Job:
    """Queue the record with its repository's timeout and concurrency limit."""
    return enqueue_build(
        queue,
        record,
        repository.timeout_seconds,
        max_concurrent=repository.max_concurrent_builds,
    )


def release_slot(queue: Queue, record: BuildRecord, attempt: int) -> None:
    """Free the concurrency slot that attempt ``attempt`` of the build holds (its worker is gone)
    and let the oldest waiting build of the repository go. rq's own maintenance would free it
    too, but only once the lost job's heartbeat has long expired."""
    key = concurrency_key(queue.name, record.provider, record.repository)
    RateLimitRegistry(key, queue.connection).release_and_enqueue(job_id_for(record, attempt))
