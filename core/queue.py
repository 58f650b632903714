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

Everything here is rq's public API. A job is queued on the caller's transaction
(``pipeline``) when it has one: a webhook's dispatch is then one write round trip. rq's
``Queue.enqueue`` takes no pipeline for a rate-limited job (since every repository has a limit,
``max_concurrent_builds`` defaulting to 1, that is every webhook build), so on a pipeline the job
is written by rq's public pieces in the order rq 3.0's own rate-limited enqueue uses them
(:func:`_enqueue_rate_limited`). That order is rq's to change: setup.cfg pins rq to 3.0.x, and
tests/integration/test_dispatch_transaction.py compares what both write. Measured on the ingest
benchmark: rq's ``enqueue`` after the transaction took the webhook from 2 to 6 round trips and
the ingest ratio from 0.245 to 0.150.
"""

from __future__ import annotations

from typing import Any

import redis
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.rate_limit import RateLimit, RateLimitRegistry
from rq.serializers import JSONSerializer

from buildrules.model import Repository
from core.build import BuildRecord
from core.capabilities import needs_key, needs_text, queue_name_for
from core.store import concurrency_key

RUN_BUILD = "worker.jobs.run_build"  # by name: the web process never imports the worker
JOB_TIMEOUT_GRACE_SECONDS = 5 * 60  # the worker ends the build itself; rq's limit is a backstop
RESULT_TTL_SECONDS = 24 * 3600


def build_queue(connection: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


def queue_for(queue: Queue, record: BuildRecord) -> Queue:
    """The queue a build goes to: the build queue ``queue`` itself, or, for a build that needs
    platforms or labels, the queue of those needs (core.capabilities)."""
    if not record.needs:
        return queue
    return build_queue(queue.connection, queue_name_for(queue.name, record.needs))


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
    order of their queue time.

    With ``pipeline`` (a transaction already in ``multi()`` mode) every write is queued on it
    and happens when the caller executes it: the job returned then says ``rate_limited`` (or
    ``queued``) as written, whatever the promotion at execution does.

    ``queue`` is the build queue; a build with needs goes to their queue (:func:`queue_for`),
    whose needs are listed for the workers, and it keeps the repository's one concurrency key:
    rq promotes a waiting job into the job's own queue."""
    arguments = _job_arguments(record, timeout_seconds)
    target = queue_for(queue, record)
    if record.needs:
        writer = pipeline if pipeline is not None else queue.connection
        writer.sadd(needs_key(queue.name), needs_text(record.needs))
    if max_concurrent <= 0:
        return target.enqueue_call(RUN_BUILD, **arguments, pipeline=pipeline)
    key = concurrency_key(queue.name, record.provider, record.repository)
    rate_limit = RateLimit(key, max_concurrent)
    if pipeline is not None:
        return _enqueue_rate_limited(target, record, arguments, rate_limit, pipeline)
    job = target.enqueue_call(RUN_BUILD, **arguments, rate_limit=rate_limit)
    # rq orders waiting jobs by the whole second they arrived in (ties by job id); ours wait in
    # order of the build's queue time. Only a job still waiting is moved (xx).
    waiting = RateLimitRegistry(key, queue.connection).rate_limited_key
    queue.connection.zadd(waiting, {job.id: record.created_at.timestamp()}, xx=True)
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
    queue: Queue,
    record: BuildRecord,
    arguments: dict[str, Any],
    rate_limit: RateLimit,
    pipe: Any,
) -> Job:
    """Queue on ``pipe`` what rq 3.0's rate-limited ``Queue.enqueue`` writes, with its public
    calls: the queue's name in ``rq:queues``, the limit registered, the job saved as
    ``rate_limited`` and added to the waiting set (scored by the build's queue time), then rq's
    promotion of the oldest waiting jobs into free slots."""
    job = queue.create_job(
        RUN_BUILD, status=JobStatus.RATE_LIMITED, rate_limit=rate_limit, **arguments
    )
    job.origin = queue.name
    registry = RateLimitRegistry(rate_limit.key, queue.connection)
    pipe.sadd(queue.redis_queues_keys, queue.key)
    registry.register(rate_limit.concurrency, pipe)
    job.save(pipeline=pipe)
    job.cleanup(ttl=job.ttl, pipeline=pipe)
    registry.add_to_rate_limited(job.id, pipe, timestamp=record.created_at.timestamp())
    registry.acquire_and_enqueue(rate_limit.concurrency, pipeline=pipe)
    return job


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


def withdraw(queue: Queue, record: BuildRecord) -> bool:
    """Take the job of the record's current attempt off its queue (or out of the waiting line)
    and free its concurrency slot, if it is still waiting for a worker: a canceled build waiting
    for a worker no one runs must not hold its repository's slot. rq's own ``Job.cancel`` does
    it, whatever queue the job is on. True if the job was withdrawn."""
    try:
        job = Job.fetch(job_id_for(record), connection=queue.connection, serializer=JSONSerializer)
    except NoSuchJobError:
        return False
    if job.get_status(refresh=False) not in (JobStatus.QUEUED, JobStatus.RATE_LIMITED):
        return False
    try:
        job.cancel()
    except InvalidJobOperation:  # canceled meanwhile
        return False
    return True
