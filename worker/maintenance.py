"""The housekeeping thread of every worker process (``autobuild worker``).

Every second it hands the retries that are due to rq; every ``recovery_interval_seconds`` it
queues again (or ends ``error``) the builds whose worker was lost, and the queued builds that
lost their job, and it deletes a batch of the ended builds older than
``AUTOBUILD_BUILD_RETENTION_DAYS`` with their logs; every ``schedule_tick_seconds`` it fires
the rules' schedules that are due
(core/schedules.py: the workers are where builds run, they all hold the configuration and a
Redis connection of their own, and a web process may be many short-lived gunicorn workers); once
per ``AUTOBUILD_BASE_CHECK_INTERVAL`` across all workers (a claim in Redis) it rebuilds the rules
whose base image changed (:mod:`worker.basecheck`). Every worker runs it, so there is no single
process whose death stops recovery, schedules or base checks, and every change it makes is a
compare-and-set (or a ``ZREM`` or ``SET NX`` only one worker wins), so several workers doing it
at once is harmless.

It runs in the rq worker's main process, beside rq's own loop, on a Redis connection of its own;
rq forks a work horse per build from the main thread, which never shares that connection.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

from buildrules.model import Config
from core.build_index import prune_expired
from core.masking import masker_for
from core.queue import build_queue
from core.recovery import (
    enqueue_due_retries,
    index_repositories,
    next_retry_due,
    recover_lost_builds,
    requeue_orphans,
)
from core.schedules import Scheduler
from core.settings import Settings
from core.store import BuildStore, log_key
from worker.basecheck import BaseCheck

logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0


class Maintenance:
    def __init__(
        self,
        settings: Settings,
        config: Config,
        connection: redis.Redis,
        *,
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        self.settings = settings
        self.store = BuildStore(connection)
        self.queue = build_queue(connection, settings.queue_name)
        self.repositories = index_repositories(config.repositories)
        self.tick_seconds = min(tick_seconds, settings.recovery_interval_seconds)
        self.base_check = BaseCheck(settings, config, connection)
        self._suspects: set[str] = set()
        self._next_recovery = 0.0
        self.scheduler = Scheduler(
            settings, config, connection, self.queue, masker_for(settings, config)
        )
        self._next_schedule = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="autobuild-maintenance", daemon=True
        )

    def enqueue_due_retries(self) -> None:
        enqueue_due_retries(self.store, self.queue, self.repositories)

    def run_once(self) -> None:
        """One round: due retries always; schedules, lost builds and orphans when their
        interval is up; the base image check when this worker wins its interval's claim."""
        self.enqueue_due_retries()
        self.base_check.run_if_due()
        now = time.monotonic()
        if self.scheduler.rules and now >= self._next_schedule:
            self._next_schedule = now + self.settings.schedule_tick_seconds
            self.scheduler.tick()
        if now < self._next_recovery:
            return
        self._next_recovery = now + self.settings.recovery_interval_seconds
        recover_lost_builds(
            self.store,
            self.queue,
            self.repositories,
            self.settings.lost_worker_grace_seconds,
        )
        _, self._suspects = requeue_orphans(
            self.store, self.queue, self.repositories, self._suspects
        )
        self.expire_old_builds()

    def expire_old_builds(self) -> int:
        """Delete a batch of ended builds past AUTOBUILD_BUILD_RETENTION_DAYS (0: keep all)."""
        days = self.settings.build_retention_days
        if not days:
            return 0
        return prune_expired(self.store.redis, time.time() - days * 86400, log_key(""))

    def seconds_to_next_retry(self) -> float | None:
        """How long until the next retry waiting for this worker's queue is due (0 if it is
        due), or None when none waits."""
        due = next_retry_due(self.store, self.queue.name)
        return None if due is None else max(0.0, due - time.time())

    def _loop(self) -> None:
        while not self._done.is_set():
            try:
                self.run_once()
            except redis.RedisError as error:
                logger.warning("maintenance: Redis unreachable: %s", error)
            except Exception:
                logger.exception("maintenance: a round failed")
            self._done.wait(self.tick_seconds)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
