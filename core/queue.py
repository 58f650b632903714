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

from typing import Any

import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.rate_limit import ACQUIRE_AND_ENQUEUE_SCRIPT, RateLimit, RateLimitRegistry
from rq.serializers import JSONSerializer
from rq.utils import as_text, current_timestamp, now, utcformat

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
    queue: Queue,
    record: BuildRecord,
    timeout_seconds: int,
    *,
    max_concurrent: int = 0,
    pipeline: Any = None,
) -> Job:
    """Queue the record's current attempt. With ``max_concurrent`` (> 0) at most that many
    builds of the repository are queued-for-a-worker or running at once; the rest wait, in
    order.

    With ``pipeline`` (a transaction already in ``multi()`` mode) every write is queued on it and
    happens when the caller executes it, with the caller's own writes: the job returned then
    says ``rate_limited`` (or ``queued``) as written, whatever the promotion at execution does."""
    if max_concurrent <= 0:
        return queue.enqueue_call(
            RUN_BUILD, **_job_arguments(record, timeout_seconds), pipeline=pipeline
        )
    key = concurrency_key(queue.name, record.provider, record.repository)
    rate_limit = RateLimit(key, max_concurrent)
    job = queue.create_job(
        RUN_BUILD,
        status=JobStatus.RATE_LIMITED,
        rate_limit=rate_limit,
        **_job_arguments(record, timeout_seconds),
    )
    own = pipeline is None
    pipe = queue.connection.pipeline(transaction=True) if own else pipeline
    enqueued_at = now()
    promoted_at = _enqueue_rate_limited(queue, job, rate_limit, record, pipe, enqueued_at)
    if own:
        promoted = pipe.execute()[promoted_at]
        if job.id in {as_text(job_id) for job_id in promoted}:
            job._status = JobStatus.QUEUED  # as rq does: the script wrote it
            job.enqueued_at = enqueued_at
    return job


def _job_arguments(record: BuildRecord, timeout_seconds: int) -> dict[str, Any]:
    return {
        "args": (record.id, record.attempt),
        "job_id": job_id_for(record),
        "timeout": timeout_seconds + JOB_TIMEOUT_GRACE_SECONDS,
        "result_ttl": RESULT_TTL_SECONDS,
        "failure_ttl": RESULT_TTL_SECONDS,
        "description": f"build {record.id} of {record.repository} {record.source_name}",
    }


def _enqueue_rate_limited(
    queue: Queue, job: Job, rate_limit: RateLimit, record: BuildRecord, pipe: Any, enqueued_at: Any
) -> int:
    """Queue on ``pipe`` the writes of rq 3.0's ``Queue.enqueue`` for a rate-limited job
    (``enqueue_job`` + ``_enqueue_rate_limited_job``, which refuse a caller's pipeline): the
    queue's name in ``rq:queues``, the limit's registration, the job saved as ``rate_limited``
    and added to the waiting set, then rq's own script that fills free slots, oldest first.
    The script runs as EVAL, not EVALSHA: a pipeline would first ask ``SCRIPT EXISTS`` (another
    round trip), and EVAL never meets a flushed script cache. Returns the script's index in the
    pipeline (its reply is the promoted job ids).

    rq scores waiting jobs by the whole second they arrived in (ties go by job id): they are
    ordered by the build's own queue time instead, if the job is still waiting, so a retried
    build keeps its place."""
    job.origin = queue.name
    job.redis_server_version = queue.get_redis_server_version()  # read once per queue
    registry = RateLimitRegistry(rate_limit.key, queue.connection)
    pipe.sadd(queue.redis_queues_keys, queue.key)
    registry.register(rate_limit.concurrency, pipe)
    job.save(pipeline=pipe)
    job.cleanup(ttl=job.ttl, pipeline=pipe)
    registry.add_to_rate_limited(job.id, pipe)
    promoted_at = len(pipe)
    pipe.eval(
        ACQUIRE_AND_ENQUEUE_SCRIPT,
        2,
        registry.allowed_key,
        registry.rate_limited_key,
        rate_limit.concurrency,
        current_timestamp(),
        utcformat(enqueued_at),
        Queue.redis_queue_namespace_prefix,
        Job.redis_job_namespace_prefix,
    )
    pipe.zadd(registry.rate_limited_key, {job.id: record.created_at.timestamp()}, xx=True)
    return promoted_at


def enqueue_for(
    queue: Queue, record: BuildRecord, repository: Repository, pipeline: Any = None
) -> Job:
    """Queue the record with its repository's timeout and concurrency limit (on ``pipeline``,
    when given: see :func:`enqueue_build`)."""
    return enqueue_build(
        queue,
        record,
        repository.timeout_seconds,
        max_concurrent=repository.max_concurrent_builds,
        pipeline=pipeline,
    )


def release_slot(queue: Queue, record: BuildRecord, attempt: int) -> None:
    """Free the concurrency slot that attempt ``attempt`` of the build holds (its worker is gone)
    and let the oldest waiting build of the repository go. rq's own maintenance would free it
    too, but only once the lost job's heartbeat has long expired."""
    key = concurrency_key(queue.name, record.provider, record.repository)
    RateLimitRegistry(key, queue.connection).release_and_enqueue(job_id_for(record, attempt))
