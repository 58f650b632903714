"""The worker process: an rq worker that runs builds, supervised until a signal ends it.

The configuration is loaded once, at start (a broken one stops the worker with its problems), and
installed as the worker context before rq forks a work horse per build, so every build shares it.
The forking ``Worker`` is used (not ``SimpleWorker``): each build runs in its own process, which
sends heartbeats while it works and whose git and Docker leftovers die with it. Beside rq's loop,
a maintenance thread (:mod:`worker.maintenance`) hands due retries to rq and recovers builds
whose worker was lost; every worker runs one. When Redis goes away (restarted, unreachable), the
process stays: it waits for Redis, queues again the build it had to stop
(:mod:`worker.rq_worker`), and starts a fresh rq loop; only a signal ends it.
``autobuild worker`` (cli/worker.py) only parses its arguments and calls :func:`run_worker`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from dataclasses import replace
from typing import Any

from redis import Redis, RedisError
from rq.serializers import JSONSerializer

from buildrules.model import Config
from core.logfmt import configure_logging
from core.queue import build_queue
from core.redis_url import without_password
from core.settings import Settings
from core.workers import forget_worker
from worker import jobs
from worker.capabilities import CapabilityError, worker_capabilities
from worker.context import WorkerContext
from worker.identity import worker_identity
from worker.maintenance import Maintenance
from worker.redis_connection import worker_redis
from worker.rq_worker import BuildWorker, requeue_interrupted, wait_for_redis

# How often rq's own housekeeping runs (its default is ten minutes): it moves jobs whose worker
# vanished out of the started registry and frees concurrency slots that leaked. Builds themselves
# are recovered by worker.maintenance, on its own interval.
RQ_MAINTENANCE_INTERVAL_SECONDS = 60
RESTART_PAUSE_SECONDS = 1.0  # between an rq loop that ended unasked and the next one

logger = logging.getLogger("autobuild.worker")


def run_worker(
    settings: Settings,
    config: Config,
    *,
    burst: bool,
    log_level: str,
    platforms: tuple[str, ...] = (),
    labels: tuple[str, ...] = (),
) -> int:
    """Run the worker until a signal ends it (``burst``: until the queue and the retries are
    worked off); the process's exit status. ``platforms`` (default: the daemon's) and
    ``labels`` are what it offers (worker.capabilities); one it cannot offer stops it (2)."""
    connection = worker_redis(settings)
    try:
        connection.ping()
    except RedisError as error:
        where = without_password(settings.redis_url)
        print(f"autobuild worker: Redis unreachable at {where}: {error}", file=sys.stderr)
        return 1
    context = WorkerContext.create(settings, config, worker_redis(settings))
    try:
        capabilities = worker_capabilities(
            context.docker, settings.docker_host, platforms=platforms, labels=labels
        )
    except CapabilityError as error:
        print(f"autobuild worker: {error}", file=sys.stderr)
        return 2
    context = replace(context, identity=worker_identity(context.docker), capabilities=capabilities)
    jobs.set_context(context)
    # key=value log lines (rq's too), with the build id in a build's lines and secrets masked
    configure_logging(context.masker, log_level)
    maintenance = Maintenance(settings, config, worker_redis(settings))
    maintenance.start()
    try:
        supervise(context, connection, maintenance, burst=burst, log_level=log_level)
    finally:
        maintenance.stop()
    return 0


def horse_killed_handler(context: WorkerContext) -> Any:
    """rq's hook for a work horse that died without recording an end (OOM, SIGKILL): the build
    is queued again while it has attempts left, else ended ``error``."""

    def horse_killed(job: Any, _pid: int, status: int, _rusage: Any) -> None:
        try:
            build_id = str(job.args[0])
            attempt = int(job.args[1]) if len(job.args) > 1 else None
        except Exception:  # a job we cannot read is not ours to record
            return
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"status {status}"
        jobs.record_lost_build(
            context,
            build_id,
            f"The worker process running this build died unexpectedly ({how}).",
            attempt,
        )

    return horse_killed


def supervise(
    context: WorkerContext,
    connection: Redis,
    maintenance: Maintenance,
    *,
    burst: bool,
    log_level: str,
) -> None:
    """rq loops, one after the other, until one is asked to stop (or, in burst mode, until
    nothing is left to do)."""
    settings = context.settings
    while True:
        worker = BuildWorker(
            [build_queue(connection, settings.queue_name)],
            connection=connection,
            serializer=JSONSerializer,
            work_horse_killed_handler=horse_killed_handler(context),
            maintenance_interval=RQ_MAINTENANCE_INTERVAL_SECONDS,
            identity=context.identity,
            capabilities=context.capabilities,
        )
        lost_redis = False
        try:
            worker.work(burst=burst, logging_level=log_level)
        except RedisError as error:  # rq's loop ended on it, and its teardown failed too
            lost_redis = True
            logger.warning("the rq loop ended: Redis unreachable (%s)", error)
        with contextlib.suppress(RedisError):  # this rq loop's worker has ended: unlisted
            forget_worker(connection, worker.name)
        if worker.stop_requested.is_set():  # a signal, or a drain (rq's shutdown command)
            return
        if lost_redis or worker.interrupted is not None or not burst:
            # Not asked to stop: Redis went away (or rq's loop failed). Wait for Redis, queue
            # again the build that was stopped, and start a fresh loop in this process.
            logger.warning("the rq loop ended unasked; starting a new one once Redis answers")
            time.sleep(RESTART_PAUSE_SECONDS)
            if not wait_for_redis(connection, worker.stop_requested.is_set):
                return
            if worker.interrupted is not None:
                try:
                    requeue_interrupted(context, worker.interrupted)
                except RedisError as error:  # gone again: the lost-build check will do it
                    logger.warning("could not queue the stopped build again: %s", error)
            continue
        # A burst worker also works off the retries still waiting out their backoff: they
        # are queued builds too.
        wait = maintenance.seconds_to_next_retry()
        if wait is None:
            return
        time.sleep(wait)
        maintenance.enqueue_due_retries()
