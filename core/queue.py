"""The rq queue that carries build ids from the web process to the workers."""

from __future__ import annotations

import redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from core.build import BuildRecord

RUN_BUILD = "worker.jobs.run_build"  # by name: the web process never imports the worker
JOB_TIMEOUT_GRACE_SECONDS = 5 * 60  # the worker ends the build itself; rq's limit is a backstop
RESULT_TTL_SECONDS = 24 * 3600


def build_queue(connection: redis.Redis, name: str) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


def job_id_for(record: BuildRecord) -> str:
    return f"build-{record.id}-{record.attempt}"


def enqueue_build(queue: Queue, record: BuildRecord, timeout_seconds: int) -> Job:
    return queue.enqueue(
        RUN_BUILD,
        record.id,
        job_id=job_id_for(record),
        job_timeout=timeout_seconds + JOB_TIMEOUT_GRACE_SECONDS,
        result_ttl=RESULT_TTL_SECONDS,
        failure_ttl=RESULT_TTL_SECONDS,
        description=f"build {record.id} of {record.repository} {record.source_name}",
    )
