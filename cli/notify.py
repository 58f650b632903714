"""``autobuild notify``: the notify process. Sends commit statuses, webhooks and chat messages
from its own rq queue (``<AUTOBUILD_QUEUE>-notify``), so notifications never wait behind builds
and a slow or dead receiver never slows a build down.

Two loops in one process: a thread that wakes on every status change and turns pending builds
into jobs (:mod:`worker.notify.fanout`), and rq's ``SimpleWorker`` with its scheduler (for the
retries' backoff) that runs them. Run one or more; they share the work through Redis.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from types import FrameType
from typing import Any

from redis import RedisError
from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker

from cli.config_errors import load_or_exit
from core.logfmt import configure_logging
from core.settings import Settings, SettingsError

WAKE_TIMEOUT_SECONDS = 5.0  # also a sweep: a pending build is looked at this often at worst
logger = logging.getLogger("autobuild.notify")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "notify", help="send commit statuses, webhooks and chat messages (rq, notify queue)"
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from worker.notify.deliver import NotifyContext, set_context
    from worker.notify.fanout import notify_queue, wait_and_fan_out
    from worker.redis_connection import worker_redis
    from worker.rq_worker import wait_for_redis

    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"autobuild notify: {error}", file=sys.stderr)
        return 1
    config = load_or_exit(settings)
    connection = worker_redis(settings)
    try:
        connection.ping()
    except RedisError as error:
        print(f"autobuild notify: Redis unreachable: {error}", file=sys.stderr)
        return 1
    context = NotifyContext.create(settings, config, connection)
    set_context(context)
    configure_logging(context.masker, args.log_level)
    stop = threading.Event()
    fan_out_context = NotifyContext.create(settings, config, worker_redis(settings))
    queue = notify_queue(fan_out_context)
    wake_timeout = min(WAKE_TIMEOUT_SECONDS, settings.redis_timeout_seconds / 2)  # BLPOP < read

    def fan_out_loop() -> None:
        while not stop.is_set():
            try:
                wait_and_fan_out(fan_out_context, queue, wake_timeout)
            except RedisError as error:
                logger.warning("notify fan-out: Redis unreachable (%s)", type(error).__name__)
                stop.wait(1.0)

    thread = threading.Thread(target=fan_out_loop, name="notify-fan-out", daemon=True)
    thread.start()
    try:
        while True:
            worker = NotifyWorker(
                [notify_queue(context)], connection=connection, serializer=JSONSerializer
            )
            try:
                worker.work(with_scheduler=True, logging_level=args.log_level)
            except RedisError as error:
                logger.warning("the rq loop ended: Redis unreachable (%s)", type(error).__name__)
            if worker.stop_requested.is_set():
                break
            # Not asked to stop: Redis went away under rq's loop. Start a new one once it is back.
            if not wait_for_redis(connection, worker.stop_requested.is_set):
                break
    finally:
        stop.set()
    return 0


class NotifyWorker(SimpleWorker):
    """rq's in-process worker (a notification is a few HTTP requests: no fork per job) that
    remembers whether its loop ended because a signal asked it to."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stop_requested = threading.Event()

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop_requested.set()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]
