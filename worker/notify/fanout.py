"""Turning pending builds into rq jobs on the notify queue: one live job per build and target.

Builds whose status changed are in :data:`core.notifications.PENDING`. For each, every target
gets a ``deliver`` job unless one is already waiting (queued, or scheduled for its next try: it
will send what came meanwhile too). The build leaves the pending set only if no event came while
its jobs were queued (a compare-and-delete on the event count).
"""

from __future__ import annotations

import uuid
from typing import Any

from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from core.notifications import KEEP_SECONDS, PENDING, WAKE, jobs_key, outbox_key
from core.store import BuildStore
from worker.notify.deliver import DELIVER, LOCK_SECONDS, NotifyContext
from worker.notify.targets import targets_for

WAITING = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)
RESULT_TTL_SECONDS = 3600
FAILURE_TTL_SECONDS = 7 * 24 * 3600
# Deletes a pending build only if its event count is still the one read. KEYS[1]: PENDING.
_CLEAR_IF_SAME = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
    return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


def notify_queue(context: NotifyContext) -> Queue:
    return Queue(
        context.settings.notify_queue_name, connection=context.redis, serializer=JSONSerializer
    )


def retry_policy(backoff: tuple[float, ...]) -> Retry | None:
    intervals = [max(round(seconds), 0) for seconds in backoff]
    return Retry(max=len(intervals), interval=intervals) if intervals else None


def fan_out(context: NotifyContext, queue: Queue) -> int:
    """Queue the jobs of every pending build; returns how many builds were pending."""
    pending: Any = context.redis.hgetall(PENDING)
    for raw_id, count in pending.items():
        build_id = raw_id.decode()
        _enqueue_build(context, queue, build_id)
        context.redis.eval(_CLEAR_IF_SAME, 1, PENDING, build_id, count)
    return len(pending)


def _waiting(context: NotifyContext, job_id: bytes | None) -> bool:
    if not job_id:
        return False
    try:
        job = Job.fetch(job_id.decode(), connection=context.redis, serializer=JSONSerializer)
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) in WAITING


def _enqueue_build(context: NotifyContext, queue: Queue, build_id: str) -> None:
    record = BuildStore(context.redis).get(build_id)
    repository = record and context.config.find_repository(record.provider, record.repository)
    targets = targets_for(context.config, repository) if repository else []
    if not targets:  # nobody to tell (or no longer configured): the outbox need not wait
        context.redis.delete(outbox_key(build_id))
        return
    key = jobs_key(build_id)
    current: Any = context.redis.hgetall(key)
    for target in targets:
        if _waiting(context, current.get(target.key.encode())):
            continue
        job = queue.enqueue_call(
            DELIVER,
            args=(build_id, target.key),
            job_id=f"notify-{build_id}-{target.key}-{uuid.uuid4().hex[:8]}",
            timeout=LOCK_SECONDS,
            retry=retry_policy(context.settings.notify_backoff_seconds),
            result_ttl=RESULT_TTL_SECONDS,
            failure_ttl=FAILURE_TTL_SECONDS,
            description=f"notify {target.label} of build {build_id}",
        )
        context.redis.hset(key, target.key, job.id)
        context.redis.expire(key, KEEP_SECONDS)


def wait_and_fan_out(context: NotifyContext, queue: Queue, timeout: float) -> int:
    """Block until a status change wakes us (or ``timeout`` passes), then fan out."""
    context.redis.blpop([WAKE], timeout=timeout)
    return fan_out(context, queue)
