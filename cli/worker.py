"""``autobuild worker [--burst]``: an rq worker that runs builds.

The configuration is loaded once, at start (a broken one stops the worker with its problems), and
installed as the worker context before rq forks a work horse per build, so every build shares it.
The forking ``Worker`` is used (not ``SimpleWorker``): each build runs in its own process, which
sends heartbeats while it works and whose git and Docker leftovers die with it. Beside rq's loop,
a maintenance thread (:mod:`worker.maintenance`) hands due retries to rq and recovers builds
whose worker was lost; every worker runs one. When Redis goes away (restarted, unreachable), the
process stays: it waits for Redis, queues again the build it had to stop
(:mod:`worker.rq_worker`), and starts a fresh rq loop; only a signal ends it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Any

from redis import Redis, RedisError
from rq.serializers import JSONSerializer

from cli.config_errors import load_or_exit
from core.logfmt import configure_logging
from core.queue import build_queue
from core.settings import Settings, SettingsError

# How often rq's own housekeeping runs (its default is ten minutes): it moves jobs whose worker
# vanished out of the started registry and frees concurrency slots that leaked. Builds themselves
# are recovered by worker.maintenance, on its own interval.
RQ_MAINTENANCE_INTERVAL_SECONDS = 60
RESTART_PAUSE_SECONDS = 1.0  # between an rq loop that ended unasked and the next one

logger = logging.getLogger("autobuild.worker")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "worker", help="run a build worker (rq, on the build queue)"
    )
    parser.add_argument(
        "--burst", action="store_true", help="work off the queued builds, then exit"
    )
    parser.add_argument("--log-level", default="INFO", help="rq's logging level (default INFO)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from worker import jobs  # the worker package (git, Docker) only where it is needed
    from worker.maintenance import Maintenance
    from worker.rq_worker import BuildWorker, requeue_interrupted, wait_for_redis

    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"autobuild worker: {error}", file=sys.stderr)
        return 1
    config = load_or_exit(settings)
    connection = Redis.from_url(settings.redis_url)
    try:
        connection.ping()
    except RedisError as error:
        print(
            f"autobuild worker: Redis unreachable at {settings.redis_url}: {error}", file=sys.stderr
        )
        return 1

    context = jobs.WorkerContext.create(settings, config, Redis.from_url(settings.redis_url))
    jobs.set_context(context)
    # key=value log lines (rq's too), with the build id in a build's lines and secrets masked
    configure_logging(context.masker, args.log_level)

    def horse_killed(job: Any, _pid: int, status: int, _rusage: Any) -> None:
        """The build's process died without recording an end (OOM, SIGKILL): queue the build
        again while it has attempts left, else end it ``error``."""
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

    maintenance = Maintenance(settings, config, Redis.from_url(settings.redis_url))
    maintenance.start()
    try:
        while True:
            worker = BuildWorker(
                [build_queue(connection, settings.queue_name)],
                connection=connection,
                serializer=JSONSerializer,
                work_horse_killed_handler=horse_killed,
                maintenance_interval=RQ_MAINTENANCE_INTERVAL_SECONDS,
            )
            lost_redis = False
            try:
                worker.work(burst=args.burst, logging_level=args.log_level)
            except RedisError as error:  # rq's loop ended on it, and its teardown failed too
                lost_redis = True
                logger.warning("the rq loop ended: Redis unreachable (%s)", error)
            if worker.stop_requested.is_set():
                break
            if lost_redis or worker.interrupted is not None or not args.burst:
                # Not asked to stop: Redis went away (or rq's loop failed). Wait for Redis, queue
                # again the build that was stopped, and start a fresh loop in this process.
                logger.warning("the rq loop ended unasked; starting a new one once Redis answers")
                time.sleep(RESTART_PAUSE_SECONDS)
                if not wait_for_redis(connection, worker.stop_requested.is_set):
                    break
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
                break
            time.sleep(wait)
            maintenance.enqueue_due_retries()
    finally:
        maintenance.stop()
    return 0
